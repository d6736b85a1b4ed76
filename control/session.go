package control

import (
	"net"
	"net/netip"

	"go.uber.org/zap"

	"ftpsd/ipaddr"
)

// SetLoggedIn tells the conn that its session has logged in as user (CCC
// requires a login; the registry's Peer then knows the connection). It is
// safe for concurrent use.
func (c *Conn) SetLoggedIn(user string) {
	c.login.user.Store(&user)
	c.opts.Registry.setPeer(c, Peer{User: user, Client: c.Client()})
	if !c.login.in.Swap(true) {
		c.endLoginTimeout()
	}
	c.login.end()
}

// SetLoginFailed tells the conn that a login attempt failed, so that
// nobody waits for its Peer any longer. It is safe for concurrent use.
func (c *Conn) SetLoginFailed() { c.login.end() }

// NoteTicketIssued records that a session ticket was issued on the
// control channel. It is safe for concurrent use.
func (c *Conn) NoteTicketIssued() { c.data.ticket.Store(true) }

// TicketIssued reports whether a session ticket was issued on the control
// channel. A client given none (TLS 1.2 without ticket support, as curl
// and OpenSSL by default) can never resume a session with this server.
func (c *Conn) TicketIssued() bool { return c.data.ticket.Load() }

// User returns the logged-in user, or "" before login.
func (c *Conn) User() string {
	if u := c.login.user.Load(); u != nil {
		return *u
	}
	return ""
}

// Client returns the client's IP address.
func (c *Conn) Client() netip.Addr {
	return ipaddr.Of(c.raw.RemoteAddr())
}

// NoteAcceptedByAddress records that a protected data connection that did
// not resume its TLS session was accepted because the control channel was
// cleared and it came from the client's address; the session logs it once.
// It is safe for concurrent use.
func (c *Conn) NoteAcceptedByAddress() {
	if c.data.acceptedByAddress.Swap(true) {
		return
	}
	why := "control channel cleared by CCC (tls.require_session_reuse_after_ccc = false)"
	if !c.State().Cleared {
		why = "the client took no session ticket on the control channel, so it cannot resume"
	}
	c.log().Info(AcceptedByAddressMessage, zap.Stringer("client", c.Client()), zap.String("why", why))
}

// AcceptedByAddressMessage is the log line of NoteAcceptedByAddress.
const AcceptedByAddressMessage = "data connection accepted by address: its TLS session was not resumed"

// NoteForeignData logs that a connection to the session's passive port
// from another address was closed; the session goes on waiting for its
// client. It is safe for concurrent use.
func (c *Conn) NoteForeignData(from net.Addr) {
	c.log().Warn("data connection from another address refused", zap.Stringer("from", from), zap.Stringer("client", c.Client()))
}

// NoteDataElsewhere logs that a connection to the session's passive port
// that reached another local address than the control connection's was
// closed; the session goes on waiting. It is safe for concurrent use.
func (c *Conn) NoteDataElsewhere(data net.Conn) {
	c.log().Warn("data connection to another local address refused",
		zap.Stringer("to", data.LocalAddr()), zap.Stringer("control_local", c.LocalAddr()), zap.Stringer("from", data.RemoteAddr()))
}
