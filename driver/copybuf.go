package driver

import (
	"errors"
	"io"
	"net"
	"sync"

	"ftpsd/connwrap"
)

// copyBufSize is the chunk of a transfer's copy between the file and the
// data connection, larger than io.Copy's 32 KiB: one file read or write
// and one socket write (see recordbatch) per 256 KiB.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// WriteTo copies the file to w (a download) in chunks of copyBufSize and
// then flushes w's connection, if it batches writes, so that a failure to
// send the last bytes fails the transfer; under a bandwidth limit it
// flushes after each chunk, which would otherwise wait in the connection's
// buffer for the next ones (seconds at a low rate). io.Copy, which the lib's
// transfer uses, prefers it to its own 32 KiB loop.
func (t *loggedTransfer) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var written int64
	for {
		n, rerr := t.Read(*bp)
		if n > 0 {
			m, werr := w.Write((*bp)[:n])
			written += int64(m)
			if werr == nil && t.limit != nil {
				werr = flushConn(w) // a limited chunk leaves now, not with the next ones
			}
			if werr != nil {
				return written, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			return written, flushConn(w)
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// ReadFrom copies r (an upload's data connection) to the file, filling a
// buffer of copyBufSize before each write to the file (TLS hands out one
// record of at most 16 KiB per read). io.Copy prefers it to its own loop.
func (t *loggedTransfer) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var written int64
	for {
		n, rerr := fill(r, *bp)
		if n > 0 {
			m, werr := t.Write((*bp)[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF { //nolint:errorlint // io.Copy's test: only a bare io.EOF is the end
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// fill reads from r until p is full or r fails (io.EOF at its end).
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// flushConn writes what w's connection holds back, if it batches writes
// (see recordbatch).
func flushConn(w io.Writer) error {
	c, ok := w.(interface{ NetConn() net.Conn })
	if !ok {
		return nil
	}
	if f, ok := connwrap.Below[interface{ Flush() error }](c.NetConn()); ok {
		return f.Flush()
	}
	return nil
}
