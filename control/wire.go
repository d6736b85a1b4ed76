package control

import (
	"encoding/binary"
	"net"
	"sync"
)

// wire holds the bytes read from the socket that nobody consumed yet. The
// clear-text line reader and the TLS record reader both take from it, so no
// byte is lost when the connection switches between clear text and TLS.
// While it holds nothing it holds no buffer either: it waits for the
// client's next bytes before it takes one from chunks, and gives the
// buffer back once they are consumed, so an idle session keeps none.
type wire struct {
	conn  net.Conn
	buf   []byte
	chunk *[]byte // the pooled array under buf, if it is one
}

// newWire returns the wire of conn; a connection from a load balancer
// starts with what the balancer sent after its PROXY header.
func newWire(conn net.Conn) *wire {
	if p, ok := conn.(*proxiedConn); ok {
		return &wire{conn: conn, buf: p.early}
	}
	return &wire{conn: conn}
}

// readChunk is how much the wire asks the socket for at a time.
const readChunk = 4096

// chunks are the wires' read buffers, readChunk bytes each.
var chunks = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// fill reads once from the socket and appends what came to buf.
func (w *wire) fill() error {
	if len(w.buf) == 0 {
		waitReadable(w.conn)
	}
	switch {
	case cap(w.buf) == 0:
		w.chunk = chunks.Get().(*[]byte)
		w.buf = (*w.chunk)[:0]
	case cap(w.buf)-len(w.buf) < readChunk:
		grown := make([]byte, len(w.buf), len(w.buf)+readChunk)
		copy(grown, w.buf)
		w.putChunk()
		w.buf = grown
	}
	n, err := w.conn.Read(w.buf[len(w.buf):cap(w.buf)])
	w.buf = w.buf[:len(w.buf)+n]
	if n > 0 {
		return nil
	}
	w.release()
	return err
}

// take removes and returns the first n buffered bytes.
func (w *wire) take(p []byte, n int) int {
	copy(p, w.buf[:n])
	w.buf = w.buf[n:]
	w.release()
	return n
}

// release gives the buffer back once every byte in it was consumed.
func (w *wire) release() {
	if len(w.buf) == 0 {
		w.putChunk()
		w.buf = nil
	}
}

// putChunk returns the pooled array to chunks; buf must not be used
// after unless it was replaced.
func (w *wire) putChunk() {
	if w.chunk != nil {
		chunks.Put(w.chunk)
		w.chunk = nil
	}
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
