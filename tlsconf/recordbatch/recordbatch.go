// Package recordbatch gathers the TLS records that crypto/tls writes one
// by one (one write of at most 16 KiB and a few bytes each) into fewer,
// larger socket writes.
//
// Listener wraps a listener whose connections the caller hands to
// tls.Server. Their writes are held in a buffer of Size bytes and written
// out when the next one does not fit, and before anything that must not
// wait behind them:
//
//   - before every Read: a handshake flight is complete when crypto/tls
//     reads the peer's answer;
//   - before a deadline changes: each byte goes out under the deadline in
//     force when it was written (crypto/tls sets one around its
//     close_notify, so the data goes out before the alert, and the alert
//     before Close);
//   - on Flush, and on Close.
//
// A Write blocked on the socket holds the buffer; a deadline or a Close
// given meanwhile is meant to cut it short and goes straight to the
// socket (what is pending is then dropped with the connection).
package recordbatch

import (
	"errors"
	"net"
	"sync"
	"time"

	"ftpsd/connwrap"
)

// Size is the buffer of a connection: sixteen full TLS records.
const Size = 16 * (16<<10 + 256)

// Listener returns l whose connections batch their writes (see the
// package doc).
func Listener(l net.Listener) net.Listener {
	return connwrap.Listener(l, func(c net.Conn) net.Conn { return &Conn{Conn: c} })
}

// Conn is a connection of Listener. It is safe for concurrent use as far
// as net.Conn is.
type Conn struct {
	net.Conn

	mu  sync.Mutex
	buf []byte // pending writes, taken from pool when the first one comes
	err error  // the first failed socket write, returned from then on
}

var pool = sync.Pool{New: func() any { b := make([]byte, 0, Size); return &b }}

// NetConn returns the connection below (as *tls.Conn does).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Write holds p to be written with the next ones; it writes what is
// pending first when p does not fit, and p itself when it is larger than
// the buffer.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		c.buf = (*pool.Get().(*[]byte))[:0]
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > cap(c.buf) {
		return c.write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Flush writes what is pending.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *Conn) write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Read writes what is pending, then reads.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// SetDeadline writes what is pending under the old deadline, then sets
// the new one; during a blocked Write it sets it at once.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.beforeDeadline(func() error { return c.Conn.SetDeadline(t) })
}

// SetWriteDeadline is SetDeadline for writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.beforeDeadline(func() error { return c.Conn.SetWriteDeadline(t) })
}

func (c *Conn) beforeDeadline(set func() error) error {
	if !c.mu.TryLock() {
		return set() // a Write is blocked: the deadline is meant for it
	}
	err := c.flushLocked()
	c.mu.Unlock()
	return errors.Join(err, set())
}

// Close writes what is pending (unless a Write is blocked) and closes the
// connection.
func (c *Conn) Close() error {
	var err error
	if c.mu.TryLock() {
		err = c.flushLocked()
		if c.buf != nil {
			b := c.buf[:0]
			pool.Put(&b)
			c.buf = nil
		}
		c.err = net.ErrClosed
		c.mu.Unlock()
	}
	return errors.Join(err, c.Conn.Close())
}
