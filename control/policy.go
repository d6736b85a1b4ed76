package control

import (
	"strings"

	"go.uber.org/zap"
)

// checkProtection answers PBSZ and PROT with 503 on a control channel that
// was never protected; otherwise it records the level PROT asks for and
// leaves the reply to the lib. It reports whether it answered.
func (c *Conn) checkProtection(verb, param string) (bool, error) {
	if !c.State().Protected() {
		return true, c.reply(503, verb+" needs a TLS control channel: send AUTH TLS first.")
	}
	if verb == "PROT" {
		c.dataProtected.Store(strings.EqualFold(param, "P"))
	}
	return false, nil
}

// DataProtected reports whether the client asked for PROT P.
func (c *Conn) DataProtected() bool { return c.dataProtected.Load() }

// refuseClearTransfer answers 521 (RFC 4217) to a transfer command of a
// logged-in session that did not ask for PROT P, when Options.RequireDataTLS.
// It reports whether it refused.
func (c *Conn) refuseClearTransfer(verb string) (bool, error) {
	if !c.opts.RequireDataTLS || !c.loggedIn.Load() || c.dataProtected.Load() {
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
	if !c.loggedIn.Load() {
		return false, nil
	}
	c.log().Warn("USER after login refused")
	return true, c.reply(530, "Already logged in: reconnect to log in as another user.")
}
