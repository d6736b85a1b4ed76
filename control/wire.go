package control

import (
	"encoding/binary"
	"net"
)

// wire holds the bytes read from the socket that nobody consumed yet. The
// clear-text line reader and the TLS record reader both take from it, so no
// byte is lost when the connection switches between clear text and TLS.
type wire struct {
	conn net.Conn
	buf  []byte
}

// readChunk is how much the wire asks the socket for at a time.
const readChunk = 4096

// fill reads once from the socket and appends what came to buf.
func (w *wire) fill() error {
	if cap(w.buf)-len(w.buf) < readChunk {
		grown := make([]byte, len(w.buf), len(w.buf)+readChunk)
		copy(grown, w.buf)
		w.buf = grown
	}
	n, err := w.conn.Read(w.buf[len(w.buf):cap(w.buf)])
	w.buf = w.buf[:len(w.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

// take removes and returns the first n buffered bytes.
func (w *wire) take(p []byte, n int) int {
	copy(p, w.buf[:n])
	w.buf = w.buf[n:]
	return n
}

// recordHeaderLen is the size of a TLS record header: type, version, length.
const recordHeaderLen = 5

// recordReader sits between the wire and tls.Server and never hands the TLS
// layer more than the rest of the current TLS record. crypto/tls reads ahead
// when it can; without this limit it could swallow clear-text bytes that
// follow the client's close_notify after CCC.
type recordReader struct {
	w         *wire
	remaining int // bytes of the current record not yet handed out
}

// Read hands out at most the rest of the current record.
func (r *recordReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.remaining == 0 {
		for len(r.w.buf) < recordHeaderLen {
			if err := r.w.fill(); err != nil {
				return 0, err
			}
		}
		r.remaining = recordHeaderLen + int(binary.BigEndian.Uint16(r.w.buf[3:5]))
	}
	if len(r.w.buf) == 0 {
		if err := r.w.fill(); err != nil {
			return 0, err
		}
	}
	n := min(len(p), r.remaining, len(r.w.buf))
	r.remaining -= n
	return r.w.take(p, n), nil
}

// recordConn is the net.Conn given to tls.Server: reads go through the
// record reader, everything else goes to the socket.
type recordConn struct {
	net.Conn
	records *recordReader
}

func (c *recordConn) Read(p []byte) (int, error) { return c.records.Read(p) }
