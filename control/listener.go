package control

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ftpsd/ipaddr"
	"ftpsd/refusal"
)

// DefaultHandshakeTimeout bounds a control-channel TLS handshake when
// Options.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 15 * time.Second

// Options configures a Listener.
type Options struct {
	// TLSConfig is used for AUTH TLS and implicit TLS. Required.
	TLSConfig *tls.Config
	// TLSConfigFor, if set, returns the TLS config of the connection with
	// the given id instead of TLSConfig (to mark its session tickets).
	TLSConfigFor func(id uint64) *tls.Config
	// Implicit starts every connection in TLS (implicit FTPS, port 990).
	Implicit bool
	// HandshakeTimeout bounds each TLS handshake.
	HandshakeTimeout time.Duration
	// RequireDataTLS refuses, with 521, a transfer command of a logged-in
	// session that did not ask for PROT P.
	RequireDataTLS bool
	// AllowCCC lets a logged-in client clear the control channel (CCC).
	AllowCCC bool
	// DisableEPSV answers EPSV with 502 and leaves it out of FEAT, so that
	// clients fall back to PASV.
	DisableEPSV bool
	// HashAlgorithms, when set (HASH is on), are the algorithms the driver
	// computes, in FEAT's order: FEAT's HASH line lists those alone, and
	// the lib's other hash commands of other algorithms leave FEAT (see
	// rewriteHash).
	HashAlgorithms []string
	// CCCWait bounds the wait for the client's close_notify after CCC;
	// zero means DefaultCCCWait.
	CCCWait time.Duration
	// MaxConns and MaxPerIP cap the open connections, in all and per client
	// address, and MaxUnauthenticated and MaxUnauthenticatedPerIP those not
	// logged in yet; 0 means no cap. A connection over a cap is answered
	// 421 and closed, except that a newcomer over MaxUnauthenticated takes
	// the place of the oldest pending connection of a busier address when
	// there is one (see Registry.add), which is answered 421 and closed.
	MaxConns, MaxPerIP, MaxUnauthenticated, MaxUnauthenticatedPerIP int
	// Network, if set, returns the network a client address counts as for
	// the per-address caps and the eviction (an IPv6 prefix: see
	// guard.Network); without it each address counts alone.
	Network func(netip.Addr) netip.Prefix
	// LoginTimeout, when not zero, ends a connection that has not logged
	// in that long after it was accepted (see ErrLoginTimeout).
	LoginTimeout time.Duration
	// Gate, if set, refuses banned client addresses at accept and thins
	// out the log lines of refused connections; without it every refusal
	// is logged.
	Gate Gate
	// Events, if set, is told about refusals, failed handshakes and CCC.
	Events Events
	// Passive, if set, is told which passive port each session announced,
	// and closes the listener of a session that moves to another data
	// connection (see PassiveLeases).
	Passive PassiveLeases
	// AnnounceLocalPort, if set, reports whether a client (its address,
	// and whether it cleared the control channel) is told the server's own
	// side: under port translation its 227/229 then carry the local port
	// instead of the public one (see Conn.localPassivePort).
	AnnounceLocalPort func(client netip.Addr, cleared bool) bool
	// Proxy, if set, turns on the PROXY protocol: the client address of
	// every connection is read from its load balancer's header (see
	// ProxyOptions); RemoteAddr, the caps, the Gate and the logs use it.
	Proxy *ProxyOptions
	// Registry receives every accepted connection until it closes. Required.
	Registry *Registry
	// Logger receives the conn's log lines. Required.
	Logger *zap.Logger
}

func (o *Options) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (o *Options) cccWait() time.Duration {
	if o.CCCWait > 0 {
		return o.CCCWait
	}
	return DefaultCCCWait
}

// Listener wraps each accepted TCP connection in a Conn. Accept never
// blocks on a handshake, nor on a PROXY header. It is safe for concurrent
// use.
type Listener struct {
	net.Listener
	opts    Options
	headers *headerStage // nil unless opts.Proxy is set
	// refusalTLS is the TLS config of the 421 to a refused implicit-port
	// connection (no session tickets); tlsRefusals holds a token for each
	// such refusal under way.
	refusalTLS  *tls.Config
	tlsRefusals chan struct{}
}

// maxTLSRefusals is how many refusals of implicit-port connections may
// run their TLS handshake at once; beyond, a refused connection is closed
// without a reply, so that a flood costs no more handshakes at a time.
const maxTLSRefusals = 32

// NewListener wraps inner.
func NewListener(inner net.Listener, opts Options) *Listener {
	l := &Listener{Listener: inner, opts: opts}
	if opts.Proxy != nil {
		l.headers = newHeaderStage(inner, &l.opts)
	}
	if opts.Implicit {
		l.refusalTLS = opts.TLSConfig.Clone()
		l.refusalTLS.SessionTicketsDisabled = true
		l.tlsRefusals = make(chan struct{}, maxTLSRefusals)
	}
	return l
}

// Close closes the inner listener and, under the PROXY protocol, the
// connections whose header is still awaited, and waits for their readers.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.headers != nil {
		l.headers.close()
	}
	return err
}

// acceptRaw returns the next socket, under the PROXY protocol once its
// header is read.
func (l *Listener) acceptRaw() (net.Conn, error) {
	if l.headers != nil {
		return l.headers.accept()
	}
	return l.Listener.Accept()
}

// Gate screens client addresses at accept. Implementations must be safe
// for concurrent use.
type Gate interface {
	// Banned reports whether connections from addr are refused.
	Banned(addr netip.Addr) bool
	// Refused counts a refused connection from addr and reports whether
	// to log it now, with the number of refusals the line stands for.
	Refused(addr netip.Addr) (log bool, count int)
}

// Events receives what the control layer counts. Implementations must be
// safe for concurrent use.
type Events interface {
	// ConnectionRefused is called for a connection refused at accept;
	// reason is one of package refusal's.
	ConnectionRefused(reason string)
	// LoginTimedOut is called for a connection ended by LoginTimeout.
	LoginTimedOut()
	// UnauthenticatedEvicted is called for a connection not logged in that
	// was closed to make room for another address (see Registry.add).
	UnauthenticatedEvicted()
	// HandshakeFailed is called once per failed control-channel handshake.
	HandshakeFailed()
	// ControlCleared is called when a client cleared its channel with CCC.
	ControlCleared()
}

type noEvents struct{}

func (noEvents) ConnectionRefused(string) {}
func (noEvents) LoginTimedOut()           {}
func (noEvents) UnauthenticatedEvicted()  {}
func (noEvents) HandshakeFailed()         {}
func (noEvents) ControlCleared()          {}

func (o *Options) events() Events {
	if o.Events != nil {
		return o.Events
	}
	return noEvents{}
}

// Accept waits for the next connection within the caps and returns it as
// a *Conn; connections over a cap are refused on the side. Errors of the
// inner listener are returned unchanged.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.acceptRaw()
		if err != nil {
			return nil, err
		}
		if g := l.opts.Gate; g != nil && g.Banned(ipaddr.Of(raw.RemoteAddr())) {
			go l.refuse(raw, refusal.Banned)
			continue
		}
		c, reason := newConn(raw, &l.opts)
		if c == nil {
			go l.refuse(raw, reason)
			continue
		}
		return c, nil
	}
}

// refuseWriteTimeout bounds the 421 written to a connection over a cap,
// on the implicit port its TLS handshake included.
const refuseWriteTimeout = 2 * time.Second

// refuse answers a connection refused at accept and closes it. It runs on
// a goroutine of its own, never on Accept's.
func (l *Listener) refuse(raw net.Conn, reason string) {
	defer raw.Close()
	l.opts.events().ConnectionRefused(reason)
	l.logRefusal(ipaddr.Of(raw.RemoteAddr()), reason)
	text := "421 Too many connections (" + reason + "); try again later.\r\n"
	switch reason {
	case refusal.Banned:
		text = "421 Too many failed logins from your address; try again later.\r\n"
	case refusal.ProxyHeader:
		text = "421 Your address and port are in use by another connection here; try again.\r\n"
	}
	_ = raw.SetDeadline(time.Now().Add(refuseWriteTimeout))
	if l.opts.Implicit {
		l.refuseOverTLS(raw, text)
		return
	}
	_, _ = io.WriteString(raw, text)
}

// refuseOverTLS sends text to an implicit-port client, which understands
// nothing before its TLS handshake, through a handshake of its own within
// raw's deadline, unless maxTLSRefusals are under way: raw is then closed
// without a reply. A failed handshake is not logged: the refusal was.
func (l *Listener) refuseOverTLS(raw net.Conn, text string) {
	select {
	case l.tlsRefusals <- struct{}{}:
		defer func() { <-l.tlsRefusals }()
	default:
		return
	}
	// The wire reads first what a load balancer sent after its PROXY header.
	t := tls.Server(&recordConn{Conn: raw, records: &recordReader{w: newWire(raw)}}, l.refusalTLS)
	if err := t.Handshake(); err != nil {
		return
	}
	_, _ = io.WriteString(t, text)
	_ = t.Close()
}

// logRefusal logs a refused connection, as often as the Gate lets it:
// a flood of refusals would otherwise flood the log.
func (l *Listener) logRefusal(client netip.Addr, reason string) {
	log, count := l.opts.refusalLine(client)
	if !log {
		return
	}
	l.opts.Logger.Warn("connection refused", zap.Stringer("client", client), zap.String("reason", reason), zap.Int("refused", count))
}

// refusalLine counts a refusal from client with the Gate and reports
// whether to log it now, with the number of refusals the line stands for;
// without a Gate every refusal is logged.
func (o *Options) refusalLine(client netip.Addr) (log bool, count int) {
	if o.Gate == nil {
		return true, 1
	}
	return o.Gate.Refused(client)
}
