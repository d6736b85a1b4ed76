package ticketbind

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"ftpsd/ipaddr"
)

// Limits of the screen of a passive data connection.
const (
	// helloTimeout bounds the wait for the ClientHello.
	helloTimeout = 30 * time.Second
	// refuseTimeout bounds the handshake of a refusal.
	refuseTimeout = 10 * time.Second
	// drainTimeout and drainLimit bound what a refused client may still
	// send (an upload under way) after the server's close_notify, so that
	// it reads the close instead of a reset.
	drainTimeout = 2 * time.Second
	drainLimit   = 16 << 20
)

// DataTLS is the TLS of data connections: the one stable config that
// ftpserverlib wraps them with, and a screen in front of passive listeners
// that refuses a data connection the binding would refuse in a way clients
// report as what it is (see the package doc, "Refusing cleanly"). It is
// safe for concurrent use.
type DataTLS struct {
	base      *tls.Config
	binding   DataBinding
	cfg       *tls.Config
	refuseCfg *tls.Config
}

// NewDataTLS returns the data-connection TLS for base (the certificate
// store's config) under binding b.
func NewDataTLS(base *tls.Config, b DataBinding) *DataTLS {
	refuse := base.Clone()
	refuse.SessionTicketsDisabled = true // a refused client resumes nothing and gets no ticket
	refuse.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		tmpl, err := templateFor(base, hello)
		if err != nil || tmpl == base {
			return nil, err
		}
		c := tmpl.Clone()
		c.GetConfigForClient = nil
		c.SessionTicketsDisabled = true
		return c, nil
	}
	return &DataTLS{base: base, binding: b, cfg: DataConfig(base, b), refuseCfg: refuse}
}

// Config returns the config to wrap data connections with.
func (d *DataTLS) Config() *tls.Config { return d.cfg }

// Screen wraps a passive data listener: each accepted connection is
// screened when the lib's TLS layer first reads from it (see DataTLS).
// Connections of sessions without PROT P pass untouched.
func (d *DataTLS) Screen(l net.Listener) net.Listener { return &screenListener{Listener: l, d: d} }

type screenListener struct {
	net.Listener
	d *DataTLS
}

// Accept returns the next connection from the owner's client address; a
// connection from any other address is closed at once (and reported to
// DataBinding.Foreign), so that a third party racing for the port neither
// gets the data nor spoils the client's transfer.
func (l *screenListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		b := l.d.binding
		if b.Resolve != nil {
			if o, ok := b.Resolve(c); ok && ipaddr.Of(c.RemoteAddr()) != o.Client.Unmap() {
				_ = c.Close()
				if b.Foreign != nil {
					b.Foreign(c, o)
				}
				continue
			}
		}
		return &screenConn{Conn: c, d: l.d}, nil
	}
}

// screenConn screens the first read of a data connection. Read is used by
// one goroutine at a time (crypto/tls holds its input lock).
type screenConn struct {
	net.Conn
	d        *DataTLS
	screened bool
	replay   []byte // bytes read while screening, handed out first
	err      error  // the refusal, returned by every later read
	refused  atomic.Bool
}

// NetConn returns the connection below (as *tls.Conn does).
func (c *screenConn) NetConn() net.Conn { return c.Conn }

func (c *screenConn) Read(p []byte) (int, error) {
	if !c.screened {
		c.screened = true
		c.err = c.screen()
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *screenConn) Write(p []byte) (int, error) {
	if c.refused.Load() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// Close closes the connection unless a refusal closed it already.
func (c *screenConn) Close() error {
	if c.refused.Load() {
		return nil
	}
	return c.Conn.Close()
}

// screen reads the ClientHello and refuses the connection when the binding
// would; it returns the refusal, or nil to let crypto/tls go on.
func (c *screenConn) screen() error {
	b := c.d.binding
	var o Owner
	owned := false
	if b.Resolve != nil {
		o, owned = b.Resolve(c.Conn)
	}
	if (owned && !o.DataProtected) || (!owned && !b.Required) {
		return nil
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(helloTimeout))
	raw, msg, err := readClientHello(c.Conn)
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.replay = raw
	if err != nil {
		return err
	}
	hello, ok := parseClientHello(msg)
	if msg == nil || !ok {
		return nil // not a ClientHello: crypto/tls reports it
	}
	refusal := &RefusalError{From: ipaddr.Of(c.Conn.RemoteAddr()), NoOwner: !owned}
	if owned {
		refusal.Owner = o
		refusal.Verdict = Decide(o, refusal.From, c.d.resumes(o, hello))
		if refusal.Verdict.Accepted() {
			return nil
		}
	}
	c.refuse(refusal)
	return refusal
}

// resumes predicts whether crypto/tls will resume a ticket of o offered in
// hello (a valid ticket that o owns, of the version that will be
// negotiated, as its mark says). Rare misses (a cipher suite the client no longer offers)
// are caught by DataConfig.
func (d *DataTLS) resumes(o Owner, hello helloTickets) bool {
	tls13 := hello.tls13 && (d.base.MaxVersion == 0 || d.base.MaxVersion >= tls.VersionTLS13)
	want := uint16(tls.VersionTLS12)
	if tls13 {
		want = tls.VersionTLS13
	}
	for _, ticket := range hello.offered(tls13) {
		ss, err := d.base.DecryptTicket(ticket, tls.ConnectionState{})
		if err != nil || ss == nil || !d.binding.owns(o, ss) {
			continue
		}
		if m, _ := markOf(ss); m.version == want {
			return true
		}
	}
	return false
}

// refuse ends a refused connection: a connection from another address is
// closed at once; any other completes a handshake without a ticket, gets
// close_notify and may drain what it still sends for a moment.
func (c *screenConn) refuse(refusal *RefusalError) {
	c.refused.Store(true)
	defer func() {
		_ = c.Conn.Close()
		if c.d.binding.Refused != nil {
			c.d.binding.Refused(c.Conn, refusal)
		}
	}()
	if refusal.Verdict == RefuseOtherAddress {
		return
	}
	tc := tls.Server(&replayConn{Conn: c.Conn, replay: c.replay}, c.d.refuseCfg)
	ctx, cancel := context.WithTimeout(context.Background(), refuseTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return
	}
	if err := tc.CloseWrite(); err != nil {
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(tc, drainLimit))
}

// replayConn hands out replay before reading from the connection.
type replayConn struct {
	net.Conn
	replay []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// HelloOwners reads the ClientHello at the start of conn and returns the
// bytes it read (to be handed to crypto/tls before the rest of the
// stream) and the control connections whose sessions it offers to resume
// with tickets this server can decrypt, in the client's order. A stream
// that does not start with a ClientHello names no owner.
func (d *DataTLS) HelloOwners(conn net.Conn) (replay []byte, owners []uint64, err error) {
	raw, msg, err := readClientHello(conn)
	if err != nil {
		return raw, nil, err
	}
	hello, ok := parseClientHello(msg)
	if msg == nil || !ok {
		return raw, nil, nil
	}
	tickets := hello.psk
	if len(hello.ticket12) > 0 {
		tickets = append(tickets, hello.ticket12)
	}
	for _, ticket := range tickets {
		ss, err := d.base.DecryptTicket(ticket, tls.ConnectionState{})
		if err != nil || ss == nil {
			continue
		}
		if m, ok := markOf(ss); ok {
			owners = append(owners, m.owner)
		}
	}
	return raw, owners, nil
}
