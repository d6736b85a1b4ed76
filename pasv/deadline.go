package pasv

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"ftpsd/connwrap"
)

// Errors of the deadlines of passive data connections (see WithDeadlines).
var (
	// ErrConnectTimeout: no data connection was ready (connected, and its
	// TLS handshake done when it needs one) within Deadlines.Connect of
	// the listener's creation.
	ErrConnectTimeout = errors.New("no data connection within the connect timeout")
	// ErrStalled: a data connection moved no byte for Deadlines.Stall.
	ErrStalled = errors.New("data connection stalled")
)

// Deadlines bound a passive listener and the data connections it accepts,
// so that a client that never connects, never completes its TLS handshake,
// never reads or never sends cannot hold a port for ever.
type Deadlines struct {
	// Connect bounds the time from the listener's creation (just before
	// the 227/229 reply) until an accepted connection is ready; then the
	// listener and its unready connections are closed, which releases the
	// port. Zero: no bound.
	Connect time.Duration
	// Stall bounds each read and write of an accepted connection: a
	// transfer that moves no byte for that long fails. Zero: no bound.
	Stall time.Duration
	// NeedsHandshake reports whether an accepted connection is ready only
	// once MarkReady is called for it (its TLS handshake is done); when it
	// is nil or false, the connection is ready when accepted.
	NeedsHandshake func(conn net.Conn) bool
	// Expired, if not nil, is called once per listener when a deadline
	// ends it or one of its connections, with the listener's port and
	// ErrConnectTimeout or ErrStalled.
	Expired func(port int, err error)
}

// WithDeadlines wraps a passive listener in d. The connections it accepts
// are wrapped too; MarkReady finds them by the net.Conn that TLS was
// given.
func WithDeadlines(l net.Listener, d Deadlines) net.Listener {
	dl := &deadlineListener{Listener: l, d: d}
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		dl.port = a.Port
	}
	if d.Connect > 0 {
		dl.timer = time.AfterFunc(d.Connect, dl.connectExpired)
	}
	return dl
}

// MarkReady records that conn, a connection accepted from a listener of
// WithDeadlines (or a wrapper of one that returns it from NetConn, as
// *tls.Conn does), completed its TLS handshake. Other connections are
// ignored. It is safe for concurrent use.
func MarkReady(conn net.Conn) {
	if c, ok := connwrap.Below[*deadlineConn](conn); ok {
		c.l.markReady(c)
	}
}

type deadlineListener struct {
	net.Listener
	d     Deadlines
	port  int
	timer *time.Timer

	mu       sync.Mutex
	unready  []*deadlineConn
	ready    bool // a connection is ready: the connect deadline is met
	expired  bool
	reported bool
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &deadlineConn{Conn: raw, l: l}
	if l.d.NeedsHandshake == nil || !l.d.NeedsHandshake(raw) {
		l.markReady(c)
		return c, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.expired {
		_ = raw.Close()
		return nil, net.ErrClosed
	}
	l.unready = append(l.unready, c)
	return c, nil
}

// Close stops the connect deadline and closes the listener.
func (l *deadlineListener) Close() error {
	if l.timer != nil {
		l.timer.Stop()
	}
	return l.Listener.Close()
}

func (l *deadlineListener) markReady(c *deadlineConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ready = true
	for i, u := range l.unready {
		if u == c {
			l.unready = append(l.unready[:i], l.unready[i+1:]...)
			break
		}
	}
}

// connectExpired closes the listener and its unready connections unless a
// connection is ready.
func (l *deadlineListener) connectExpired() {
	l.mu.Lock()
	if l.ready {
		l.mu.Unlock()
		return
	}
	l.expired = true
	unready := l.unready
	l.unready = nil
	l.mu.Unlock()
	l.report(ErrConnectTimeout) // first: the transfer fails as soon as its connection closes
	_ = l.Listener.Close()      // releases the port
	for _, c := range unready {
		_ = c.Conn.Close()
	}
}

// report calls Deadlines.Expired once.
func (l *deadlineListener) report(err error) {
	l.mu.Lock()
	done := l.reported
	l.reported = true
	l.mu.Unlock()
	if !done && l.d.Expired != nil {
		l.d.Expired(l.port, err)
	}
}

// deadlineConn sets the stall deadline before each read and write, within
// any deadline its user set (crypto/tls bounds its close_notify with one).
type deadlineConn struct {
	net.Conn
	l *deadlineListener

	mu            sync.Mutex
	userRead      time.Time
	userWrite     time.Time
	stallDeadline time.Time
}

// NetConn returns the connection below the deadlines (as *tls.Conn does).
func (c *deadlineConn) NetConn() net.Conn { return c.Conn }

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.arm(true)
	n, err := c.Conn.Read(p)
	return n, c.check(err)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.arm(false)
	n, err := c.Conn.Write(p)
	return n, c.check(err)
}

// arm sets the read or write deadline: the stall deadline from now, or the
// user's when that is earlier.
func (c *deadlineConn) arm(read bool) {
	stall := c.l.d.Stall
	if stall <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stallDeadline = time.Now().Add(stall)
	user, set := c.userWrite, c.Conn.SetWriteDeadline
	if read {
		user, set = c.userRead, c.Conn.SetReadDeadline
	}
	d := c.stallDeadline
	if !user.IsZero() && user.Before(d) {
		d = user
	}
	_ = set(d)
}

// check reports a timeout that the stall deadline caused.
func (c *deadlineConn) check(err error) error {
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		return err
	}
	c.mu.Lock()
	stalled := !c.stallDeadline.IsZero() && !time.Now().Before(c.stallDeadline)
	c.mu.Unlock()
	if !stalled {
		return err
	}
	c.l.report(ErrStalled)
	return fmt.Errorf("%w: %w", ErrStalled, err)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.userRead, c.userWrite = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.userRead = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.userWrite = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}
