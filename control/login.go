package control

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ftpsd/refusal"
)

// loginState is the session's login: whether and as whom it logged in,
// and the login deadline before. It knows nothing of the socket; Conn
// applies its deadlines. It is safe for concurrent use: deadline is
// immutable once newConn returned, done is closed once, the rest is
// atomic.
type loginState struct {
	deadline    time.Time                 // zero: no login timeout
	libDeadline atomic.Pointer[time.Time] // the deadline the lib last asked for, applied once logged in
	in          atomic.Bool               // see SetLoggedIn
	user        atomic.Pointer[string]    // set at login
	done        chan struct{}             // closed once (doneOnce) when the first login attempt ended, or at close
	doneOnce    sync.Once
}

// loggedIn reports whether the session logged in.
func (l *loginState) loggedIn() bool { return l.in.Load() }

// until returns deadline t, brought forward to the login deadline while
// the connection has not logged in. Conn applies every deadline of its
// socket through it: every read and write of the connection, the TLS
// handshake included, so ends by then.
func (l *loginState) until(t time.Time) time.Time {
	if l.deadline.IsZero() || l.in.Load() {
		return t
	}
	if t.IsZero() || t.After(l.deadline) {
		return l.deadline
	}
	return t
}

// expired reports whether the login deadline passed without a login.
func (l *loginState) expired() bool {
	return !l.deadline.IsZero() && !l.in.Load() && !time.Now().Before(l.deadline)
}

// end tells whoever waits for the first login attempt that it ended.
func (l *loginState) end() { l.doneOnce.Do(func() { close(l.done) }) }

// startLoginTimeout sets the login deadline, and the socket's deadlines to
// it until the lib sets its own (the greeting is written before).
func (c *Conn) startLoginTimeout() {
	if c.opts.LoginTimeout <= 0 {
		return
	}
	c.login.deadline = time.Now().Add(c.opts.LoginTimeout)
	_ = c.raw.SetDeadline(c.login.deadline)
}

// endLoginTimeout gives the socket back the lib's deadline at login.
func (c *Conn) endLoginTimeout() {
	if c.login.deadline.IsZero() {
		return
	}
	var t time.Time
	if p := c.login.libDeadline.Load(); p != nil {
		t = *p
	}
	_ = c.raw.SetDeadline(t)
}

// graceAfterLogin gives a reply written past the login deadline (the
// answer to a PASS whose check outlasted it) a short deadline of its own.
// A write that fails on the deadline would break the TLS channel for good:
// the reply would be lost, and crypto/tls would number the close_notify
// after it wrongly. Called with out.mu held.
func (c *Conn) graceAfterLogin() {
	if c.login.expired() {
		_ = c.raw.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	}
}

// endLogin answers a connection past its login deadline with 421 (unless
// its TLS handshake never completed: the client could not read it) and
// returns ErrLoginTimeout.
func (c *Conn) endLogin() error {
	c.opts.events().LoginTimedOut()
	c.log().Debug("login timeout", zap.Duration("login_timeout", c.opts.LoginTimeout))
	if t := c.tlsConn.Load(); t == nil || t.ConnectionState().HandshakeComplete {
		_ = c.reply(421, fmt.Sprintf("No login within %s, closing control connection.", c.opts.LoginTimeout))
	}
	return ErrLoginTimeout
}

// ErrEvicted is returned by Read for a connection that had not logged in
// and was closed to make room for a newcomer from a quieter address (see
// Registry.add). Like ErrLoginTimeout, the lib takes it for io.EOF.
var ErrEvicted error = &droppedError{"closed before login to make room for another address (max_unauthenticated)"}

// evict ends a pending connection that gave its place to a newcomer: 421
// (unless its TLS handshake is under way: the client could not read it),
// one log line as often as the Gate lets its address's refusals be
// logged, and close. The registry no longer counts it.
func (c *Conn) evict() {
	<-c.ready
	c.opts.events().UnauthenticatedEvicted()
	client := c.Client()
	if log, count := c.opts.refusalLine(client); log {
		c.log().Warn("connection not logged in evicted", zap.Stringer("client", client),
			zap.String("reason", refusal.MaxUnauthenticated), zap.Int("refused", count))
	}
	if c.tlsConn.Load() == nil || c.State().TLS {
		_ = c.raw.SetWriteDeadline(time.Now().Add(refuseWriteTimeout)) // also ends a write of the lib stuck on this client
		_ = c.reply(421, "Too many connections waiting to log in (max_unauthenticated); your address has the most, so this one makes room for another. Try again later.")
	}
	_ = c.Close()
}
