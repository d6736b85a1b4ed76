package control

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// checkProtection answers PBSZ and PROT itself when they are refused: on a
// control channel that was never protected (503), PROT before PBSZ (503),
// a level TLS does not offer (S, E: 536, RFC 2228) and anything that is
// no level (504). Otherwise it records PBSZ or the level and returns the
// line for the lib, its PROT argument in upper case (RFC 4217's levels are
// one letter, taken case-insensitively here as RFC 959 takes TYPE's).
func (c *Conn) checkProtection(verb, param string, line []byte) ([]byte, error) {
	if !c.State().Protected() {
		return nil, c.reply(503, verb+" needs a TLS control channel: send AUTH TLS first.")
	}
	if verb == "PBSZ" {
		c.data.pbsz.Store(true)
		return line, nil
	}
	level := strings.ToUpper(param)
	switch {
	case level == "S" || level == "E":
		return nil, c.reply(536, "PROT "+level+" is not supported with TLS: use PROT P (or PROT C).")
	case level != "C" && level != "P":
		return nil, c.reply(504, "PROT takes C or P.")
	case !c.data.pbsz.Load():
		return nil, c.reply(503, "Send PBSZ 0 before PROT.")
	}
	c.data.protected.Store(level == "P")
	return []byte("PROT " + level + "\r\n"), nil
}

// DataProtected reports whether the client asked for PROT P.
func (c *Conn) DataProtected() bool { return c.data.protected.Load() }

// clearDataRefused reports whether a logged-in session must be refused a
// data connection: Options.RequireDataTLS and no PROT P in force.
func (c *Conn) clearDataRefused() bool {
	return c.opts.RequireDataTLS && c.login.loggedIn() && !c.data.protected.Load()
}

// refuseClearSetup answers 521 (RFC 4217) to PASV, EPSV, PORT or EPRT of a
// session that must protect its data and did not send PROT P: the data
// connection is made when it is set up (ftpserverlib wraps it in TLS only
// if PROT P is in force then), so it is refused there, whatever the order
// of PROT and the transfer command. It reports whether it refused.
func (c *Conn) refuseClearSetup(verb string) (bool, error) {
	if !c.clearDataRefused() {
		return false, nil
	}
	c.log().Warn("clear data connection refused", zap.String("command", verb))
	return true, c.reply(521, "Data connections must be protected by TLS: send PBSZ 0 and PROT P before "+verb+".")
}

// refuseClearTransfer answers 521 to a transfer command of a session that
// must protect its data and is not under PROT P (it went back to PROT C
// after its PASV). It reports whether it refused.
func (c *Conn) refuseClearTransfer(verb string) (bool, error) {
	if !c.clearDataRefused() {
		return false, nil
	}
	c.log().Warn("clear data connection refused", zap.String("command", verb))
	return true, c.reply(521, "Data connections must be protected by TLS: send PBSZ 0 and PROT P first.")
}

// refuseEPSV answers EPSV with 502 when Options.DisableEPSV, so that the
// client falls back to PASV. It reports whether it refused.
func (c *Conn) refuseEPSV() (bool, error) {
	if !c.opts.DisableEPSV {
		return false, nil
	}
	return true, c.reply(502, "EPSV is disabled on this server (passive.epsv = false): use PASV.")
}

// refuseSecondLogin answers USER on a logged-in session with 530: the
// session stays the account's (its data connections are bound to it), and
// the lib, which does not see the TLS below it, would answer 421 and
// disconnect. It reports whether it refused.
func (c *Conn) refuseSecondLogin() (bool, error) {
	if !c.login.loggedIn() {
		return false, nil
	}
	c.log().Warn("USER after login refused")
	return true, c.reply(530, "Already logged in: reconnect to log in as another user.")
}

// refusePassAfterLogin answers PASS on a logged-in session with 503 (RFC
// 959: bad sequence of commands). The lib would hand it to the password
// check: a wrong password would count as a failed login of the client's
// address (towards a ban of it), and the lib would answer 530 and
// disconnect the session. It reports whether it refused.
func (c *Conn) refusePassAfterLogin() (bool, error) {
	if !c.login.loggedIn() {
		return false, nil
	}
	c.log().Warn("PASS after login refused")
	return true, c.reply(503, "Already logged in: reconnect to log in as another user.")
}

// handleEPSVAll answers EPSV ALL (RFC 2428): from now on only EPSV may set
// up a data connection.
func (c *Conn) handleEPSVAll() error {
	c.data.epsvAll.Store(true)
	return c.reply(200, "EPSV ALL accepted: only EPSV sets up data connections from now on.")
}

// refuseAfterEPSVAll answers 503 to PASV, PORT and EPRT after EPSV ALL.
// It reports whether it refused.
func (c *Conn) refuseAfterEPSVAll(verb string) (bool, error) {
	if !c.data.epsvAll.Load() {
		return false, nil
	}
	return true, c.reply(503, verb+" refused after EPSV ALL: use EPSV.")
}

// minActivePort is the lowest client port PORT/EPRT may name: the server
// never connects to a privileged port (FTP bounce to a system service).
const minActivePort = 1024

// refusePrivilegedPort answers 501 to PORT or EPRT whose address does not
// parse, 522 to one of the other network protocol than the control
// connection's, and 504 to one naming a client port below minActivePort
// (port 0 included). It reports whether it refused.
func (c *Conn) refusePrivilegedPort(verb, param string) (bool, error) {
	ap, ok := parseActive(verb, param)
	if !ok {
		return true, c.reply(501, "Syntax error in the "+verb+" address (RFC 959 h1,h2,h3,h4,p1,p2; RFC 2428 |1|a.b.c.d|port| or |2|ipv6|port|).")
	}
	if refused, err := c.refuseOtherProtocol(verb, netProtocol(ap.Addr())); refused {
		return true, err
	}
	if ap.Port() >= minActivePort {
		return false, nil
	}
	c.log().Warn("active connection to a privileged port refused", zap.String("command", verb), zap.Stringer("address", ap))
	return true, c.reply(504, verb+" to port "+strconv.Itoa(int(ap.Port()))+" refused: the client's port must be 1024 or above.")
}

// The network protocols of RFC 2428, as EPRT and EPSV number them.
const (
	protocolIPv4 = 1
	protocolIPv6 = 2
)

// netProtocol returns the RFC 2428 number of a's protocol (IPv4-mapped
// addresses are IPv4).
func netProtocol(a netip.Addr) int {
	if a.Unmap().Is4() {
		return protocolIPv4
	}
	return protocolIPv6
}

// refuseOtherProtocol answers 522 (RFC 2428: network protocol not
// supported, with the one to use) to a data command of another network
// protocol than the control connection's client address: a data
// connection must come from that address (PASV and PORT are IPv4 only;
// the server dials the EPRT address, and an EPSV data connection comes
// to the control connection's server address). The session goes on; the
// lib answered PASV on IPv6 with 421, which tells the client the server
// is closing the connection. It reports whether it refused.
func (c *Conn) refuseOtherProtocol(verb string, protocol int) (bool, error) {
	own := netProtocol(c.Client())
	if protocol == own {
		return false, nil
	}
	text := fmt.Sprintf("Network protocol not supported, use (%d)", own)
	switch verb { // the IPv4-only commands, and those of RFC 2428 that replace them
	case "PASV":
		text += ": PASV is IPv4 only, use EPSV"
	case "PORT":
		text += ": PORT is IPv4 only, use EPRT"
	}
	return true, c.reply(522, text+".")
}

// refuseEPSVProtocol answers EPSV with a network protocol (RFC 2428):
// 501 to one that is no number, 522 to another than the control
// connection's. It reports whether it refused.
func (c *Conn) refuseEPSVProtocol(param string) (bool, error) {
	if param == "" {
		return false, nil
	}
	protocol, err := strconv.Atoi(param)
	if err != nil || protocol < 0 {
		return true, c.reply(501, "EPSV takes no argument, ALL, or a network protocol (1 for IPv4, 2 for IPv6).")
	}
	return c.refuseOtherProtocol("EPSV", protocol)
}
