package control

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Errors returned by Read when the conn drops a client; the lib then ends the
// session. The conn logged why, once (a failed handshake with its reason).
// Each wraps io.EOF and nothing else: the lib ends the session as if the
// client had left, without a line of its own (it logs any other read
// error at ERROR with a stack trace, and a network error's timeout as an
// idle session, with a 421 the client cannot read).
var (
	ErrLineTooLong  error = &droppedError{"command line too long"}
	ErrTLSOnClear   error = &droppedError{"TLS handshake received on the explicit FTPS port"}
	ErrTooManyJunk  error = &droppedError{"too many malformed command lines"}
	ErrHandshake    error = &droppedError{"TLS handshake failed"}
	ErrLoginTimeout error = &droppedError{"no login within the login timeout"} // Options.LoginTimeout
)

// droppedError is why the conn dropped a client.
type droppedError struct{ text string }

func (e *droppedError) Error() string { return e.text }

// Unwrap makes the error an io.EOF for the lib.
func (e *droppedError) Unwrap() error { return io.EOF }

// Conn is one control connection. The lib reads commands from it and writes
// replies to it; Conn answers AUTH itself and keeps TLS below the lib. Read
// is meant for one goroutine (the lib's command loop); Write, Close and
// State are safe for concurrent use.
//
// Each field says what guards it: immutable once newConn returned, atomic,
// a lock (see the lock order above Registry), or the read goroutine (the
// one that calls Read, which also runs the AUTH and CCC switches).
type Conn struct {
	// Immutable once newConn returned (id and key from Registry.add,
	// under Registry.mu, before the conn is handed out).
	raw  net.Conn
	opts *Options
	key  string // connKey of raw's addresses
	id   uint64 // unique within the Registry
	// ready is closed once newConn set the conn up: another accept may
	// pick it for eviction as soon as it is in the registry.
	ready chan struct{}

	reg registryPlace // guarded by Registry.mu

	in inbound // the read goroutine's (see inbound)

	// Atomic.
	logPtr          atomic.Pointer[zap.Logger]
	evicted         atomic.Bool // closed to make room for another address (see Registry.add)
	gone            atomic.Bool // a reply found the client gone (see Gone)
	handshakeLogged atomic.Bool // a failed handshake was logged
	// tlsConn is nil while the channel is clear; it changes only with
	// out.mu held (AUTH, CCC), or in newConn.
	tlsConn atomic.Pointer[tls.Conn]
	data    dataChannel // what the client asked of its data connections; atomic

	login loginState // safe for concurrent use (see loginState)

	out outbound // the write side, under out.mu

	stateMu sync.Mutex
	state   State // guarded by stateMu

	closeOnce sync.Once
	closeErr  error // written once in closeOnce

	// attached is what the layer above hangs off the connection (the
	// driver's session); atomic.
	attached atomic.Pointer[any]
}

// newConn registers a Conn for raw within the caps of opts; when a cap is
// reached it returns nil and the cap's name.
func newConn(raw net.Conn, opts *Options) (*Conn, string) {
	c := &Conn{
		raw:   raw,
		in:    inbound{w: newWire(raw)},
		opts:  opts,
		key:   connKey(raw.LocalAddr(), raw.RemoteAddr()),
		login: loginState{done: make(chan struct{})},
		ready: make(chan struct{}),
		state: State{Implicit: opts.Implicit}, // set before add publishes the conn
		out:   outbound{replies: replyFilter{opts: opts}},
	}
	victim, reason := opts.Registry.add(c, opts)
	if reason != "" {
		return nil, reason
	}
	if victim != nil {
		go victim.evict()
	}
	c.startLoginTimeout()
	c.logPtr.Store(opts.Logger.With(zap.String("remote", raw.RemoteAddr().String())))
	if opts.Implicit { // after add: the TLS config may depend on the id
		c.tlsConn.Store(c.newTLSServer())
	}
	close(c.ready)
	return c, ""
}

// ID returns the connection's id, unique within its Registry.
func (c *Conn) ID() uint64 { return c.id }

// Read hands the lib at most one command line per call, after the conn has
// handled the commands it owns (AUTH, and PBSZ/PROT on a channel that was
// never protected). Past the login deadline it ends the connection with
// ErrLoginTimeout, and an evicted connection with ErrEvicted.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.read(p)
	return n, c.readError(err)
}

// ReadLine is Read for the lib's command loop (ftpserver.ConnLineReader):
// it returns the next command line whole, in a slice of its own, so that
// the lib keeps no read buffer for a session waiting for its next command.
func (c *Conn) ReadLine() ([]byte, error) {
	if err := c.nextLine(); err != nil {
		return nil, c.readError(err)
	}
	line := c.in.pending
	c.in.pending = nil
	return line, nil
}

// readError is the error a read of the lib ends with: ErrEvicted for an
// evicted connection, ErrLoginTimeout past the login deadline, else err.
func (c *Conn) readError(err error) error {
	switch {
	case err == nil:
	case c.evicted.Load():
		return ErrEvicted
	case c.login.expired():
		return c.endLogin()
	}
	return err
}

func (c *Conn) read(p []byte) (int, error) {
	if err := c.nextLine(); err != nil {
		return 0, err
	}
	n := copy(p, c.in.pending)
	c.in.pending = c.in.pending[n:]
	return n, nil
}

// nextLine reads until a line for the lib is pending, unless one is.
func (c *Conn) nextLine() error {
	for len(c.in.pending) == 0 {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		fwd, err := c.intercept(line)
		if err != nil {
			return err
		}
		c.in.pending = fwd
	}
	return nil
}

// Write sends a reply from the lib on the current channel. A reply that
// cannot reach the client is dropped and reported written: on a channel
// whose TLS handshake failed (the conn logged the failure), to a client
// that has gone, and once a reply it did not read in time closed the
// connection (endUnread logged it). The lib's next Read ends the session quietly
// (ErrHandshake, or the socket's EOF or reset, which the lib logs at debug
// level); the lib would log the failed write as a warning of its own (a
// scanner that leaves right after its handshake on the implicit port left
// one for the greeting).
func (c *Conn) Write(p []byte) (int, error) {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if c.gone.Load() {
		return len(p), nil
	}
	n, err := c.writeLocked(p)
	if clientGone(err) || errors.Is(err, os.ErrDeadlineExceeded) {
		// Gone, or closed by endUnread: nothing more can reach it.
		c.gone.Store(true)
	}
	if errors.Is(err, ErrHandshake) || c.gone.Load() {
		return len(p), nil
	}
	return n, err
}

// Gone reports that a reply found the client gone, or closed the
// connection because the client read none before the deadline (see
// Write): what the
// lib still writes goes nowhere, so a long reply (STAT of a directory)
// may stop. It is safe for concurrent use.
func (c *Conn) Gone() bool { return c.gone.Load() }

// clientGone reports whether err is a write that found the client gone:
// it closed the connection (EPIPE) or reset it (ECONNRESET).
func clientGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// writeLocked watches a reply of the lib and sends it, or what it is
// rewritten to, on the current channel. Called with out.mu held.
func (c *Conn) writeLocked(p []byte) (int, error) {
	c.graceAfterLogin()
	n := len(p) // the lib's bufio.Writer counts what it gave
	p = c.localPassivePort(p)
	out := c.out.replies.filter(c.watchReply(p), c.log())
	if err := c.send(out); err != nil {
		c.endUnread(err)
		return 0, err
	}
	c.in.reactions.replied()
	return n, nil
}

// send writes out in clear text or through TLS, whichever protects the
// channel now. Called with out.mu held.
func (c *Conn) send(out []byte) error {
	t := c.tlsConn.Load()
	if t == nil {
		if err := c.alignForInspector(out); err != nil {
			return err
		}
		_, err := c.raw.Write(out)
		return err
	}
	if err := c.handshake(t); err != nil {
		return err
	}
	_, err := t.Write(out)
	return err
}

// endUnread closes the socket when a reply could not be written before its
// deadline (the lib's idle timeout): the client has read nothing for that
// long, so its session ends at once (the lib's next read fails) instead of
// going on with replies that can no longer be sent. Called with out.mu
// held.
func (c *Conn) endUnread(err error) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	c.log().Warn("closing control connection: the client read no reply before the deadline", zap.Error(err))
	_ = c.raw.Close()
}

// SetLogger replaces the conn's logger, e.g. with the session's logger
// once the user is known. It is safe for concurrent use.
func (c *Conn) SetLogger(l *zap.Logger) { c.logPtr.Store(l) }

func (c *Conn) log() *zap.Logger { return c.logPtr.Load() }

// reply writes one reply line of the conn's own.
func (c *Conn) reply(code int, text string) error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if _, err := c.writeLocked([]byte(fmt.Sprintf("%d %s\r\n", code, text))); err != nil {
		return fmt.Errorf("reply %d: %w", code, err)
	}
	return nil
}

// drop tells the client why (when code is not 0), logs, and returns cause
// so that the lib ends the session.
func (c *Conn) drop(code int, text string, cause error) error {
	c.log().Warn("dropping control connection", zap.Error(cause))
	if code != 0 {
		_ = c.reply(code, text) // the session ends either way
	}
	return cause
}

// Close closes the connection (sending close_notify when TLS is up and no
// write is stuck) and removes it from the registry. It is safe to call more
// than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.login.end()
		c.opts.Registry.remove(c)
		if c.opts.Passive != nil {
			c.opts.Passive.ReleaseOwned(c.id) // the lib closed its transfer; this catches any other
		}
		if t := c.tlsConn.Load(); t != nil {
			c.closeErr = t.Close()
			if errors.Is(c.closeErr, net.ErrClosed) && c.gone.Load() {
				c.closeErr = nil // endUnread closed it and said why
			}
			if clientGone(c.closeErr) {
				// The close_notify found the client gone (it closed right
				// after QUIT): the socket is closed all the same.
				c.log().Debug("close_notify not sent: the client has gone", zap.Error(c.closeErr))
				c.closeErr = nil
			}
			return
		}
		c.closeErr = c.raw.Close()
		if errors.Is(c.closeErr, net.ErrClosed) && c.gone.Load() {
			c.closeErr = nil
		}
	})
	return c.closeErr
}

// Attach hangs v off the connection: the driver keeps its session here,
// so that the Registry's open connections are also the open sessions.
func (c *Conn) Attach(v any) { c.attached.Store(&v) }

// Attached returns what Attach hung off the connection, or nil.
func (c *Conn) Attached() any {
	if p := c.attached.Load(); p != nil {
		return *p
	}
	return nil
}

// Reply sends one reply line of the caller's own, e.g. a 421 before the
// server closes the connection at shutdown. It is safe for concurrent use.
func (c *Conn) Reply(code int, text string) error { return c.reply(code, text) }

// LocalAddr returns the server's address of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the socket's deadlines (the lib's idle timeout); before
// login they come no later than the login deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.login.libDeadline.Store(&t)
	return c.raw.SetDeadline(c.login.until(t))
}

// SetReadDeadline sets the socket's read deadline, like SetDeadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(c.login.until(t)) }

// SetWriteDeadline sets the socket's write deadline, like SetDeadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(c.login.until(t)) }
