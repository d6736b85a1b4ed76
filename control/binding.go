package control

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"ftpsd/ipaddr"
)

// Data-connection endpoints are bound to the control connection that
// announced them, so that the data side can tell which session a data
// connection belongs to: the passive port the conn saw in its own 227/229
// reply, or the client address of a PORT/EPRT command.

// endpoint is a data endpoint: the server's port of a passive listener, or
// the client address of a PORT/EPRT command.
type endpoint struct {
	passive bool
	port    uint16         // passive: the listening port
	addr    netip.AddrPort // active: the client's address, unmapped
}

func passiveEndpoint(port int) endpoint { return endpoint{passive: true, port: uint16(port)} }

func activeEndpoint(addr netip.AddrPort) endpoint { return endpoint{addr: addr} }

// watchReply binds the port of a 227/229 reply written by the lib, and
// tells Options.Passive which listener the session holds or gave up. It
// returns the reply to write: p, or with Options.Passive a
// PassiveAssigner, p announcing the port it assigned (or a 425 when it
// assigned none). With port translation (passive.announce_ports) the reply
// carries the public port: the binding and the claim are made on the local
// port, which the listener and its data connections' local address carry.
func (c *Conn) watchReply(p []byte) []byte {
	if port, ok := passivePort(p); ok {
		if c.opts.Passive != nil {
			port = c.opts.Passive.LocalPort(port)
		}
		out, ok := c.assignPassive(p, port)
		if !ok {
			return out
		}
		c.opts.Registry.bind(c, passiveEndpoint(port))
		if c.opts.Passive != nil {
			c.opts.Passive.Claim(port, c.id)
			c.data.passiveIdle.Store(true)
		}
		return out
	}
	if c.opts.Passive != nil && (bytes.HasPrefix(p, []byte("200 PORT ")) || bytes.HasPrefix(p, []byte("200 EPRT "))) {
		// The lib replaced the session's passive transfer by an active one
		// without closing its listener.
		c.data.passiveIdle.Store(false)
		c.opts.Passive.ReleaseOwned(c.id)
	}
	return p
}

// PassiveAssigner is a PassiveLeases that serves many sessions on one
// port (pasv.Mux, passive.multiplex): the port of the lib's 227/229 reply
// names the session's listener, and Assign returns the port to announce
// instead. ticketed tells that the session's data connections can be told
// from those of other sessions of its address by the TLS session they
// resume (its control connection issued a ticket, its data is protected).
type PassiveAssigner interface {
	// local is the control connection's local address, where its data
	// connections must arrive.
	Assign(token int, owner uint64, client, local netip.Addr, ticketed bool) (int, error)
}

// assignPassive returns the 227/229 reply p with the port Options.Passive
// assigns for the listener named port, when it is a PassiveAssigner; when
// it assigns none, it returns a 425 and false.
func (c *Conn) assignPassive(p []byte, port int) ([]byte, bool) {
	a, ok := c.opts.Passive.(PassiveAssigner)
	if !ok {
		return p, true
	}
	announced, err := a.Assign(port, c.id, c.Client(), ipaddr.Of(c.LocalAddr()), c.TicketIssued() && c.DataProtected())
	if err != nil {
		c.log().Warn("passive port refused", zap.Error(err))
		return []byte("425 No passive port for this session: " + err.Error() + "; try again when a transfer ends.\r\n"), false
	}
	if announced == 0 {
		return p, true
	}
	return withPassivePort(p, announced), true
}

// PassiveLeases ends the passive listeners that sessions no longer use.
// ftpserverlib binds the port of a new PASV/EPSV before it closes the
// session's previous listener (so a session asking twice needs a spare
// port, and with a full range is refused), and a PORT/EPRT after a PASV
// drops the passive listener without closing it. pasv.Allocator
// implements it.
type PassiveLeases interface {
	// LocalPort returns the local port of a port announced in a 227/229
	// reply (they differ under port translation).
	LocalPort(announced int) int
	// Claim records that the conn with id owner announced the local port
	// in its 227/229 reply.
	Claim(port int, owner uint64)
	// ReleaseOwned closes the passive listeners claimed by owner.
	ReleaseOwned(owner uint64) int
	// Reserve is called before the lib handles a PASV/EPSV of owner, a
	// session of client: it fails when the caps on passive ports refuse
	// it, and otherwise counts the port to come as the session's until
	// Claim (or until it is plainly not coming).
	Reserve(owner uint64, client netip.Addr) error
}

// reservePassive asks Options.Passive for a port of the caps before the
// lib handles a PASV/EPSV of a logged-in session, and answers 425 when
// the caps refuse. It reports whether it answered.
func (c *Conn) reservePassive(verb string) (bool, error) {
	if c.opts.Passive == nil || !c.login.loggedIn() {
		return false, nil
	}
	err := c.opts.Passive.Reserve(c.id, c.Client())
	if err == nil {
		return false, nil
	}
	c.log().Warn("passive port refused", zap.String("command", verb), zap.Error(err))
	return true, c.reply(425, "No passive port for this session: "+err.Error()+"; try again when a transfer ends.")
}

// releaseIdlePassive closes the session's passive listener before the lib
// handles a new PASV/EPSV, when no transfer command used it since its
// reply. (After a transfer command the lib waits for that transfer to end
// before it handles the PASV, and closes the listener itself; closing it
// now could cut a pipelined transfer that has not connected yet.)
func (c *Conn) releaseIdlePassive() {
	if c.opts.Passive != nil && c.data.passiveIdle.Swap(false) {
		c.opts.Passive.ReleaseOwned(c.id)
	}
}

// localPassivePort returns the 227/229 reply p with the local port in
// place of the announced one when Options.AnnounceLocalPort says the
// client is told the server's own side: a client inside
// (passive.internal_networks) reaches the local port directly, and an
// inspector that reads the reply after CCC maps the port itself. Other
// replies, and every reply without port translation, are returned as
// they are.
func (c *Conn) localPassivePort(p []byte) []byte {
	if c.opts.Passive == nil || c.opts.AnnounceLocalPort == nil {
		return p
	}
	port, ok := passivePort(p)
	if !ok {
		return p
	}
	local := c.opts.Passive.LocalPort(port)
	if local == port || !c.opts.AnnounceLocalPort(c.Client(), c.State().Cleared) {
		return p
	}
	return withPassivePort(p, local)
}

// withPassivePort returns the 227/229 reply p (see passivePort) with its
// port replaced by port.
func withPassivePort(p []byte, port int) []byte {
	if bytes.HasPrefix(p, []byte("227 ")) {
		open, end := bytes.IndexByte(p, '('), bytes.IndexByte(p, ')')
		ap, _ := parsePORT(string(p[open+1 : end]))
		b := ap.Addr().As4()
		return fmt.Appendf(bytes.Clone(p[:open]), "(%d,%d,%d,%d,%d,%d)%s", b[0], b[1], b[2], b[3], port>>8, port&0xff, p[end+1:])
	}
	open, end := bytes.Index(p, []byte("(|||")), bytes.Index(p, []byte("|)"))
	return fmt.Appendf(bytes.Clone(p[:open]), "(|||%d|)%s", port, p[end+2:])
}

// passivePort extracts the port of "227 Entering Passive Mode
// (h1,h2,h3,h4,p1,p2)" or "229 Entering Extended Passive Mode (|||port|)".
func passivePort(p []byte) (int, bool) {
	switch {
	case bytes.HasPrefix(p, []byte("227 ")):
		open, end := bytes.IndexByte(p, '('), bytes.IndexByte(p, ')')
		if open < 0 || end < open {
			return 0, false
		}
		ap, ok := parsePORT(string(p[open+1 : end]))
		return int(ap.Port()), ok
	case bytes.HasPrefix(p, []byte("229 ")):
		open, end := bytes.Index(p, []byte("(|||")), bytes.Index(p, []byte("|)"))
		if open < 0 || end < open+4 {
			return 0, false
		}
		port, err := strconv.Atoi(string(p[open+4 : end]))
		if err != nil || port <= 0 || port > 65535 {
			return 0, false
		}
		return port, true
	}
	return 0, false
}

// watchCommand binds the client address of a PORT or EPRT command.
func (c *Conn) watchCommand(verb, param string) {
	if ap, ok := parseActive(verb, param); ok {
		c.opts.Registry.bind(c, activeEndpoint(ap))
	}
}

// parseActive parses the address of a PORT or EPRT command.
func parseActive(verb, param string) (netip.AddrPort, bool) {
	if verb == "EPRT" {
		return parseEPRT(param)
	}
	return parsePORT(param)
}

// activeLine writes the PORT or EPRT command for ap the one way the lib
// and the policy read alike.
func activeLine(verb string, ap netip.AddrPort) []byte {
	a := ap.Addr()
	if verb == "PORT" && a.Is4() {
		b := a.As4()
		return fmt.Appendf(nil, "PORT %d,%d,%d,%d,%d,%d\r\n", b[0], b[1], b[2], b[3], ap.Port()>>8, ap.Port()&0xff)
	}
	proto := 2
	if a.Is4() {
		proto = 1
	}
	return fmt.Appendf(nil, "EPRT |%d|%s|%d|\r\n", proto, a, ap.Port())
}

// parsePORT parses "h1,h2,h3,h4,p1,p2".
func parsePORT(s string) (netip.AddrPort, bool) {
	parts := strings.Split(strings.TrimSpace(s), ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, false
	}
	var b [6]byte
	for i, part := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 || n > 255 {
			return netip.AddrPort{}, false
		}
		b[i] = byte(n)
	}
	addr := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	return netip.AddrPortFrom(addr, uint16(b[4])<<8|uint16(b[5])), true
}

// parseEPRT parses "|proto|address|port|" (RFC 2428) with any delimiter.
func parseEPRT(s string) (netip.AddrPort, bool) {
	if len(s) < 2 {
		return netip.AddrPort{}, false
	}
	fields := strings.Split(s[1:], s[:1])
	if len(fields) != 4 {
		return netip.AddrPort{}, false
	}
	addr, err := netip.ParseAddr(fields[1])
	port, perr := strconv.Atoi(fields[2])
	if err != nil || perr != nil || port < 0 || port > 65535 || addr.Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}
