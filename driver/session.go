package driver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/hooks"
	"ftpsd/metrics"
	"ftpsd/xferlog"
)

// session is the driver's state of one control connection.
type session struct {
	logPtr  atomic.Pointer[zap.Logger] // carries session id, remote address and, after login, user
	metrics *metrics.Metrics
	xferlog *xferlog.File // nil: none (sessions of unit tests)
	cc      ftpserver.ClientContext
	conn    *control.Conn // the control connection, which the session hangs off; nil if it was gone already
	// running counts the transfers in progress of every session of the
	// server (Driver.transfers), which Shutdown waits for; nil in tests.
	running *atomic.Int64
	id      uint64      // the session's number in the logs (see newSession)
	events  hooks.Sink  // nil: no events
	rates   *rateLimits // the server's bandwidth limits; nil in tests

	mu      sync.Mutex
	account config.User // as it was when the session logged in
	// external is the policy of an account of an external source, fixed
	// at login ([defaults] applied then); nil for a [[users]] account.
	external *config.Policy
	source   string // the account source that admitted the session
	fs       home
	// transfers counts the file transfers open on fs. The lib notifies
	// ClientDisconnected before it closes the data connection and without
	// waiting for the transfer goroutine, so a transfer can still be
	// finishing (renaming or removing its upload) after the session closed:
	// fs is then closed by the last transfer instead.
	transfers int
	lastEnd   time.Time // when a transfer last ended
	closed    bool
	ending    bool // end was called
	// expiry closes the session when its account expires at expiresAt
	// (see armExpiry); nil when it never does.
	expiry    *time.Timer
	expiresAt time.Time
	// waitCtx ends when the session closes: rate-limited transfers wait
	// under it. Made at the first wait (see waitContext).
	waitCtx  context.Context
	stopWait context.CancelFunc
}

// newSession makes the session of cc on conn. Its number is the control
// connection's, unique across the listeners (each listener's lib counts its
// clients from 1), so that the session's lines and the texts that name it
// (a data connection's refusal) agree; the control connection logs with
// the session's fields from here on.
func newSession(cc ftpserver.ClientContext, conn *control.Conn, logger *zap.Logger, m *metrics.Metrics) *session {
	s := &session{metrics: m, cc: cc, conn: conn}
	if conn != nil {
		conn.Attach(s)
	}
	id := uint64(cc.ID())
	if conn != nil {
		id = conn.ID()
	}
	s.id = id
	s.logPtr.Store(logger.With(
		zap.Uint64("session", id),
		zap.String("remote", cc.RemoteAddr().String()),
	))
	if conn != nil {
		conn.SetLogger(s.log().Named("control"))
	}
	return s
}

// log returns the session's logger. It is safe for concurrent use: login
// replaces it while shutdown may be logging with it.
func (s *session) log() *zap.Logger { return s.logPtr.Load() }

// sessionOf returns the session of cc, making one if the lib skipped
// ClientConnected.
func (d *Driver) sessionOf(cc ftpserver.ClientContext) *session {
	if s, ok := cc.Extra().(*session); ok {
		return s
	}
	s := d.newSession(cc)
	cc.SetExtra(s)
	return s
}

// newSession makes the session of cc. Its control connection is found
// here, once, by the connection's addresses (the lib hands the driver no
// other link to it); the session then holds it.
func (d *Driver) newSession(cc ftpserver.ClientContext) *session {
	s := newSession(cc, d.registry.Lookup(cc.LocalAddr(), cc.RemoteAddr()), d.logger, d.metrics)
	s.running = &d.transfers
	s.events = d.events
	s.rates = d.rates
	s.xferlog = d.xferlog
	return s
}

// sessionList returns the sessions of the open control connections: each
// hangs off its conn (see newSession), so the Registry is the one list.
func (d *Driver) sessionList() []*session {
	conns := d.registry.Conns()
	list := make([]*session, 0, len(conns))
	for _, c := range conns {
		if s, ok := c.Attached().(*session); ok {
			list = append(list, s)
		}
	}
	return list
}

// controlState returns the protection of the session's control channel.
func (s *session) controlState() control.State {
	if s.conn == nil {
		return control.State{}
	}
	return s.conn.State()
}

// login records the account, the source that admitted it and, for an
// external source's, its policy; it happens on the command goroutine
// before any transfer goroutine of the session starts.
func (s *session) login(a admission, fs home) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logPtr.Store(s.log().With(zap.String("user", a.User.Name)))
	if s.fs != nil {
		_ = s.fs.close() // a second login replaces the first
	}
	s.account, s.source, s.external, s.fs = a.User, a.Source, a.external(), fs
}

// policyIn returns the policy of the account the session logged in with:
// an external account's as fixed at login, a [[users]] account's as users
// has it. ok is false before login.
func (s *session) policyIn(users *userBase) (p config.Policy, ok bool) {
	s.mu.Lock()
	account, external := s.account, s.external
	s.mu.Unlock()
	if external != nil {
		return *external, true
	}
	return users.policy(account.Name), account.Name != ""
}

// isExternal reports whether the session's account is of an external
// source.
func (s *session) isExternal() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.external != nil
}

// rateKey returns the key of the session's account among the bandwidth
// limits: its name, prefixed by its source's for an external account so
// that a [[users]] account of the same name is another.
func (s *session) rateKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rateKey(s.account.Name, s.source)
}

// loggedInAs returns the account the session logged in with, and false
// before login.
func (s *session) loggedInAs() (config.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account, s.account.Name != ""
}

// throttle returns the bandwidth limit of the session's transfers in
// direction, nil when its account has none (see ratelimit.go).
func (s *session) throttle(direction string) *throttle {
	if s.rates == nil {
		return nil
	}
	return s.rates.throttle(s.rateKey(), direction)
}

// waitContext returns the context a rate-limited transfer of the session
// waits under: it ends when the session closes.
func (s *session) waitContext() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitCtx == nil {
		s.waitCtx, s.stopWait = context.WithCancel(context.Background())
		if s.closed {
			s.stopWait()
		}
	}
	return s.waitCtx
}

// errSessionClosed refuses a transfer that starts after the session ended,
// and fails an upload that was still running when it ended.
var errSessionClosed = errors.New("session closed before the transfer completed")

// isClosed reports whether the control connection has ended.
func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// isEnding reports whether end was called: the session's 421 is sent or
// on its way, and its closing logged.
func (s *session) isEnding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ending
}

// beginTransfer keeps the session's filesystem open until the matching
// endTransfer, even if the session closes in between.
func (s *session) beginTransfer() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errSessionClosed
	}
	s.transfers++
	if s.running != nil {
		s.running.Add(1)
	}
	return nil
}

// endTransfer ends a transfer of beginTransfer; the last one to end after
// the session closed closes the filesystem.
func (s *session) endTransfer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers--
	if s.running != nil {
		s.running.Add(-1)
	}
	s.lastEnd = time.Now()
	if s.closed && s.transfers == 0 {
		s.closeFsLocked()
	}
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopExpiryLocked()
	if s.stopWait != nil {
		s.stopWait()
	}
	if s.transfers == 0 {
		s.closeFsLocked()
	}
	s.log().Debug("session closed", zap.Int("transfers_in_progress", s.transfers))
}

func (s *session) closeFsLocked() {
	if s.fs != nil {
		if err := s.fs.close(); err != nil {
			s.log().Warn("close home", zap.Error(err))
		}
		s.fs = nil
	}
}

// replyGrace is how long after its last transfer ended a session still
// counts as busy: the lib sends the transfer's final reply (226) only after
// the driver closed the file, and a session ended in between would answer
// 421 to a transfer that completed.
const replyGrace = 250 * time.Millisecond

// idle reports whether the session has no transfer in progress and none
// that ended within replyGrace.
func (s *session) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transfers == 0 && time.Since(s.lastEnd) >= replyGrace
}

func (s *session) transfersInProgress() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transfers
}

// end tells the client why with a 421 and closes the session, once. An
// idle session's control connection is closed and the lib ends the session
// on its own goroutine: the lib's Close, called from another goroutine,
// races with the lib ending the session by itself (after QUIT, or when
// the client closes). Only the lib can abort a transfer in progress,
// though, so a busy session (cut at shutdown) is closed by the lib's Close;
// the transfer fails and an upload keeps no partial file.
func (s *session) end(text string, d *Driver) {
	s.mu.Lock()
	ending := s.ending
	s.ending = true
	s.mu.Unlock()
	if ending {
		return
	}
	c := s.conn
	if c == nil || d.registry.ConnByID(c.ID()) != c {
		return // the connection is closed already: the lib is ending the session
	}
	_ = c.Reply(421, text) // the connection closes either way
	var err error
	if s.transfersInProgress() > 0 {
		err = s.cc.Close()
	} else {
		err = c.Close()
	}
	if err != nil {
		s.log().Debug("close session", zap.Error(err))
	}
}
