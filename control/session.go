package control

import (
	"net"
	"net/netip"

	"go.uber.org/zap"
)

// SetLoggedIn tells the conn that its session has logged in as user (CCC
// requires a login; the registry's Peer then knows the connection). It is
// safe for concurrent use.
func (c *Conn) SetLoggedIn(user string) {
	c.user.Store(&user)
	c.opts.Registry.setPeer(c.id, Peer{User: user, Client: c.Client()})
	c.loggedIn.Store(true)
}

// User returns the logged-in user, or "" before login.
func (c *Conn) User() string {
	if u := c.user.Load(); u != nil {
		return *u
	}
	return ""
}

// Client returns the client's IP address.
func (c *Conn) Client() netip.Addr {
	if a, ok := c.raw.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// DataProtected reports whether the client asked for PROT P.
func (c *Conn) DataProtected() bool { return c.dataProtected.Load() }

// DataRefusal says why a data connection of the session was refused.
type DataRefusal struct {
	Err error
	// OtherAddress is true when it came from another address than the
	// control connection's client.
	OtherAddress bool
	// Admit names the setting that would admit the client ("" for none).
	Admit string
}

// NoteDataRefused records that a data connection of this session was
// refused: the lib's next error reply is replaced by a 425 that says why,
// and the refusal is logged with the session's fields. It is safe for
// concurrent use.
func (c *Conn) NoteDataRefused(r DataRefusal) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.dataRefused = &r
}

// NoteAcceptedByAddress records that a protected data connection that did
// not resume its TLS session was accepted because the control channel was
// cleared and it came from the client's address; the session logs it once.
// It is safe for concurrent use.
func (c *Conn) NoteAcceptedByAddress() {
	if !c.acceptedByAddress.Swap(true) {
		c.log().Info("data connection accepted by address after CCC: its TLS session was not resumed (tls.require_session_reuse_after_ccc = false)",
			zap.Stringer("client", c.Client()))
	}
}
