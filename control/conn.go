package control

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// MaxLineLength is the longest command line accepted, terminator included.
// It matches the read buffer of ftpserverlib, which would otherwise drop the
// client without a word.
const MaxLineLength = 4096

// Feature lines of the lib's FEAT reply.
const (
	featPROT = " PROT\r\n"
	featCCC  = " CCC\r\n"
	featEPSV = " EPSV\r\n"
)

// recordTypeHandshake starts a TLS ClientHello; no FTP command does.
const recordTypeHandshake = 0x16

// maxBadLines is how many malformed lines in a row a client may send before
// it is disconnected.
const maxBadLines = 5

// Errors returned by Read when the conn drops a client; the lib then ends the
// session.
var (
	ErrLineTooLong = errors.New("command line too long")
	ErrTLSOnClear  = errors.New("TLS handshake received on the explicit FTPS port")
	ErrTooManyJunk = errors.New("too many malformed command lines")
	ErrHandshake   = errors.New("TLS handshake failed")
)

// State describes the protection of one control connection.
type State struct {
	// TLS is true while the control channel is protected by TLS.
	TLS bool
	// Implicit is true for a connection that started in TLS (implicit FTPS).
	Implicit bool
	// Cleared is true once the control channel was protected and then
	// returned to clear text (CCC).
	Cleared bool
	// Version and CipherSuite are those of the control-channel handshake.
	Version     uint16
	CipherSuite uint16
	// PeerCertificates are the client's certificates, if it sent any.
	PeerCertificates []*x509.Certificate
}

// Protected reports whether the control channel was protected by TLS at
// some point (it still is, or it was cleared by CCC after login).
func (s State) Protected() bool { return s.TLS || s.Cleared }

// VersionName returns the TLS version as text ("TLS 1.3"), or "" without TLS.
func (s State) VersionName() string {
	if s.Version == 0 {
		return ""
	}
	return tls.VersionName(s.Version)
}

// CipherSuiteName returns the cipher suite as text, or "" without TLS.
func (s State) CipherSuiteName() string {
	if s.CipherSuite == 0 {
		return ""
	}
	return tls.CipherSuiteName(s.CipherSuite)
}

// Conn is one control connection. The lib reads commands from it and writes
// replies to it; Conn answers AUTH itself and keeps TLS below the lib. Read
// is meant for one goroutine (the lib's command loop); Write, Close and
// State are safe for concurrent use.
type Conn struct {
	raw      net.Conn
	w        *wire
	opts     *Options
	logPtr   atomic.Pointer[zap.Logger]
	key      string
	id       uint64   // set by the registry
	dataKeys []string // data endpoints bound to this conn, guarded by the registry

	// Read side, used only by the goroutine that calls Read.
	plain    []byte // decrypted bytes not yet handed out
	pending  []byte // rest of the line being handed to the lib
	badLines int
	lateTLS  *tls.Conn // cleared by CCC before the client's close_notify came: it may still come
	// turnaround holds the client's recent reaction times (see cccWait).
	turnaround [turnarounds]time.Duration
	nextTurn   int
	lastReply  atomic.Int64 // unix nanoseconds of the last reply written

	dataProtected atomic.Bool // the client asked for PROT P

	// passiveIdle is true from the 227/229 reply until a transfer command:
	// the passive listener is idle and a new PASV/EPSV may close it first.
	passiveIdle atomic.Bool

	loggedIn  atomic.Bool
	user      atomic.Pointer[string] // set at login
	loginDone chan struct{}          // closed once the first login attempt ended, or at close
	loginOnce sync.Once
	ticket    atomic.Bool // a session ticket was issued on the control channel

	acceptedByAddress atomic.Bool // logged once, see NoteAcceptedByAddress

	writeMu     sync.Mutex               // orders replies and the switches between clear and TLS
	firstClear  bool                     // guarded by writeMu; no clear reply written since CCC
	dataRefused *DataRefusal             // guarded by writeMu; see NoteDataRefused
	tlsConn     atomic.Pointer[tls.Conn] // nil while the channel is clear

	stateMu sync.Mutex
	state   State

	handshakeLogged atomic.Bool
	closeOnce       sync.Once
	closeErr        error
}

// newConn registers a Conn for raw within the caps of opts; when a cap is
// reached it returns nil and the cap's name.
func newConn(raw net.Conn, opts *Options) (*Conn, string) {
	c := &Conn{
		raw:       raw,
		w:         &wire{conn: raw},
		opts:      opts,
		key:       connKey(raw.LocalAddr(), raw.RemoteAddr()),
		loginDone: make(chan struct{}),
	}
	if reason := opts.Registry.add(c, opts.MaxConns, opts.MaxPerIP); reason != "" {
		return nil, reason
	}
	c.logPtr.Store(opts.Logger.With(zap.String("remote", raw.RemoteAddr().String())))
	if opts.Implicit { // after add: the TLS config may depend on the id
		c.tlsConn.Store(c.newTLSServer())
		c.state.Implicit = true
	}
	return c, ""
}

func (c *Conn) newTLSServer() *tls.Conn {
	cfg := c.opts.TLSConfig
	if c.opts.TLSConfigFor != nil {
		cfg = c.opts.TLSConfigFor(c.id)
	}
	return tls.Server(&recordConn{Conn: c.raw, records: &recordReader{w: c.w}}, cfg)
}

// ID returns the connection's id, unique within its Registry.
func (c *Conn) ID() uint64 { return c.id }

// State returns the connection's current protection.
func (c *Conn) State() State {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state
}

// Read hands the lib at most one command line per call, after the conn has
// handled the commands it owns (AUTH, and PBSZ/PROT on a channel that was
// never protected).
func (c *Conn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		line, err := c.readLine()
		if err != nil {
			return 0, err
		}
		handled, err := c.intercept(line)
		if err != nil {
			return 0, err
		}
		if !handled {
			c.pending = line
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// readLine returns the next line, terminator included.
func (c *Conn) readLine() ([]byte, error) {
	for {
		src := &c.w.buf
		if c.tlsConn.Load() != nil || len(c.plain) > 0 {
			src = &c.plain
		}
		if src == &c.w.buf && c.lateTLS != nil {
			more, err := c.skipLateAlert()
			if err == nil && more {
				err = c.w.fill()
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if src == &c.w.buf && len(*src) > 0 && (*src)[0] == recordTypeHandshake {
			return nil, c.drop(0, "", ErrTLSOnClear)
		}
		i := bytes.IndexByte(*src, '\n')
		if i >= 0 && i < MaxLineLength {
			line := bytes.Clone((*src)[:i+1])
			*src = (*src)[i+1:]
			c.noteCommand()
			return line, nil
		}
		if i >= 0 || len(*src) >= MaxLineLength {
			return nil, c.drop(500, "Command line too long.", ErrLineTooLong)
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes from the socket, through TLS when it is on.
func (c *Conn) fill() error {
	t := c.tlsConn.Load()
	if t == nil {
		return c.w.fill()
	}
	if err := c.handshake(t); err != nil {
		return err
	}
	var buf [readChunk]byte
	n, err := t.Read(buf[:])
	c.plain = append(c.plain, buf[:n]...)
	if n > 0 {
		return nil
	}
	return err
}

// intercept handles the commands the conn owns and reports whether it did.
func (c *Conn) intercept(line []byte) (bool, error) {
	if !validLine(line) {
		c.badLines++
		if c.badLines >= maxBadLines {
			return true, c.drop(421, "Too many malformed commands, closing control connection.", ErrTooManyJunk)
		}
		c.log().Warn("malformed command line", zap.Int("bytes", len(line)))
		return true, c.reply(500, "Malformed command line (control characters).")
	}
	c.badLines = 0
	verb, param := splitCommand(line)
	switch verb {
	case "AUTH":
		return true, c.handleAUTH(param)
	case "CCC":
		return true, c.handleCCC()
	case "PBSZ", "PROT":
		if !c.State().Protected() {
			return true, c.reply(503, verb+" needs a TLS control channel: send AUTH TLS first.")
		}
		if verb == "PROT" {
			c.dataProtected.Store(strings.EqualFold(param, "P"))
		}
	case "PORT", "EPRT":
		c.watchCommand(verb, param)
	case "EPSV":
		if c.opts.DisableEPSV {
			return true, c.reply(502, "EPSV is disabled on this server (passive.epsv = false): use PASV.")
		}
		c.releaseIdlePassive()
	case "PASV":
		c.releaseIdlePassive()
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		if c.opts.RequireDataTLS && c.loggedIn.Load() && !c.dataProtected.Load() {
			c.log().Warn("clear data connection refused", zap.String("command", verb))
			return true, c.reply(521, "Data connections must be protected by TLS: send PBSZ 0 and PROT P first.")
		}
		c.passiveIdle.Store(false) // the transfer uses (and the lib then closes) the listener
	}
	return false, nil
}

func (c *Conn) handleAUTH(param string) error {
	if c.tlsConn.Load() != nil {
		return c.reply(503, "The control channel is already protected by TLS.")
	}
	c.lateTLS = nil // a new negotiation after CCC starts afresh
	switch strings.ToUpper(param) {
	case "TLS", "TLS-C", "SSL":
	default:
		return c.reply(504, fmt.Sprintf("AUTH %q is not supported; use AUTH TLS.", param))
	}
	if err := c.switchToTLS(); err != nil {
		return err
	}
	return c.handshake(c.tlsConn.Load())
}

// switchToTLS answers 234 and makes TLS the channel's protection, under the
// write lock so that no reply is split across the switch. Bytes the client
// sent after AUTH stay in the wire and feed the handshake.
func (c *Conn) switchToTLS() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.raw.Write([]byte("234 AUTH TLS accepted, start negotiation.\r\n")); err != nil {
		return fmt.Errorf("reply to AUTH: %w", err)
	}
	c.tlsConn.Store(c.newTLSServer())
	return nil
}

// handshake runs the server handshake once, bounded in time, and records
// the result in the state.
func (c *Conn) handshake(t *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.handshakeTimeout())
	defer cancel()
	if err := t.HandshakeContext(ctx); err != nil {
		if !c.handshakeLogged.Swap(true) {
			c.opts.events().HandshakeFailed()
			c.log().Warn("control TLS handshake failed", zap.Error(err))
		}
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if !c.state.TLS {
		cs := t.ConnectionState()
		c.state.TLS, c.state.Cleared = true, false
		c.state.Version = cs.Version
		c.state.CipherSuite = cs.CipherSuite
		c.state.PeerCertificates = cs.PeerCertificates
		c.log().Debug("control channel protected",
			zap.String("tls_version", tls.VersionName(cs.Version)),
			zap.String("cipher", tls.CipherSuiteName(cs.CipherSuite)))
	}
	return nil
}

// Write sends a reply from the lib on the current channel.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeLocked(p)
}

func (c *Conn) writeLocked(p []byte) (int, error) {
	out := c.rewrite(p)
	t := c.tlsConn.Load()
	if t == nil {
		if err := c.alignForInspector(out); err != nil {
			return 0, err
		}
		if _, err := c.raw.Write(out); err != nil {
			return 0, err
		}
		c.lastReply.Store(time.Now().UnixNano())
		return len(p), nil
	}
	if err := c.handshake(t); err != nil {
		return 0, err
	}
	if _, err := t.Write(out); err != nil {
		return 0, err
	}
	c.lastReply.Store(time.Now().UnixNano())
	return len(p), nil // the lib's bufio.Writer counts what it gave
}

// rewrite watches a reply of the lib and returns what to send instead:
// FEAT gains CCC beside PROT, the lib's 421 "no port" becomes a 425 busy
// reply, and the error reply after a refused data handshake says why.
func (c *Conn) rewrite(p []byte) []byte {
	c.watchReply(p)
	switch {
	case c.opts.AllowCCC && string(p) == featPROT:
		return []byte(featPROT + featCCC)
	case c.opts.DisableEPSV && string(p) == featEPSV:
		return nil
	case bytes.HasPrefix(p, []byte("421 ")) && bytes.Contains(p, []byte(libNoPortText)):
		// The lib's 421 would tell the client the server is closing the
		// connection; it is only busy.
		return []byte(passiveBusyReply)
	case bytes.HasPrefix(p, []byte("421 ")) && bytes.Contains(p, []byte(libActiveOffText)):
		// Likewise for PORT/EPRT with active mode off: the session goes on.
		return []byte(activeOffReply)
	case c.dataRefused != nil && len(p) > 0 && (p[0] == '4' || p[0] == '5'):
		r := c.dataRefused
		c.dataRefused = nil
		fields := []zap.Field{zap.Error(r.Err), zap.ByteString("lib_reply", bytes.TrimSpace(p))}
		if r.Admit != "" {
			fields = append(fields, zap.String("admit_with", r.Admit))
		}
		c.log().Warn("data connection refused", fields...)
		if r.OtherAddress {
			return []byte(dataOtherAddressReply)
		}
		return []byte(dataRefusedReply)
	}
	return p
}

// libNoPortText ends the lib's reply when no passive port could be bound
// (ftpserverlib's ErrNoAvailableListeningPort).
const libNoPortText = "could not find any port to listen to"

// passiveBusyReply replaces that reply.
const passiveBusyReply = "425 No passive port is free: the server is busy, try again in a moment.\r\n"

// libActiveOffText ends the lib's 421 reply to PORT/EPRT when active mode
// is disabled ("PORT command is disabled").
const libActiveOffText = " command is disabled"

// activeOffReply replaces that reply.
const activeOffReply = "502 Active mode (PORT/EPRT) is disabled on this server: use PASV or EPSV.\r\n"

// dataRefusedReply replaces the lib's reply to a transfer whose data
// connection was refused because its TLS session was not resumed.
const dataRefusedReply = "425 Data connection refused: its TLS session was not resumed from this client's control connection (tls.require_session_reuse).\r\n"

// dataOtherAddressReply replaces it when the data connection came from
// another address than the control connection.
const dataOtherAddressReply = "425 Data connection refused: it came from another address than this control connection.\r\n"

// SetLogger replaces the conn's logger, e.g. with the session's logger
// once the user is known. It is safe for concurrent use.
func (c *Conn) SetLogger(l *zap.Logger) { c.logPtr.Store(l) }

func (c *Conn) log() *zap.Logger { return c.logPtr.Load() }

// reply writes one reply line of the conn's own.
func (c *Conn) reply(code int, text string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
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
		c.endLoginWait()
		c.opts.Registry.remove(c)
		if c.opts.Passive != nil {
			c.opts.Passive.ReleaseOwned(c.id) // the lib closed its transfer; this catches any other
		}
		if t := c.tlsConn.Load(); t != nil {
			c.closeErr = t.Close()
			return
		}
		c.closeErr = c.raw.Close()
	})
	return c.closeErr
}

// Reply sends one reply line of the caller's own, e.g. a 421 before the
// server closes the connection at shutdown. It is safe for concurrent use.
func (c *Conn) Reply(code int, text string) error { return c.reply(code, text) }

// LocalAddr returns the server's address of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the socket's deadlines (the lib's idle timeout).
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
