package control

import "strings"

// intercept handles the commands the conn owns and returns the line to
// hand to the lib, or nil when the conn answered it: AUTH and CCC, the
// checks of the TLS policy and of data setup, and the commands whose data
// endpoints it watches. Every other command goes to the lib unchanged.
func (c *Conn) intercept(line []byte) ([]byte, error) {
	if handled, err := c.rejectMalformed(line); handled {
		return nil, err
	}
	verb, param := splitCommand(line)
	switch verb {
	case "AUTH":
		return nil, c.handleAUTH(param)
	case "USER":
		if refused, err := c.refuseSecondLogin(); refused {
			return nil, err
		}
	case "PASS":
		if refused, err := c.refusePassAfterLogin(); refused {
			return nil, err
		}
	case "CCC":
		return nil, c.handleCCC()
	case "PBSZ", "PROT":
		return c.checkProtection(verb, param, line)
	case "ABOR":
		c.locked(c.out.replies.noteAbort)
	}
	if handled, err := c.checkDataSetup(verb, param); handled {
		return nil, err
	}
	if verb == "PORT" || verb == "EPRT" {
		// The lib parses the address again, with rules of its own (PORT
		// bytes up to 999, EPRT split on "|" only): it gets the address
		// the policy checked, written one way.
		ap, _ := parseActive(verb, param)
		return activeLine(verb, ap), nil
	}
	return line, nil
}

// checkDataSetup applies the policy to the commands that set up or use a
// data connection and reports whether it answered the command.
func (c *Conn) checkDataSetup(verb, param string) (bool, error) {
	switch verb {
	case "PORT", "EPRT":
		if refused, err := c.refuseActive(verb, param); refused {
			return true, err
		}
		c.watchCommand(verb, param)
	case "EPSV":
		if refused, err := c.refuseEPSV(); refused {
			return true, err
		}
		if strings.EqualFold(param, "ALL") {
			return true, c.handleEPSVAll()
		}
		if refused, err := c.refuseEPSVProtocol(param); refused {
			return true, err
		}
		return c.refusePassive(verb)
	case "PASV":
		if refused, err := c.refuseAfterEPSVAll(verb); refused {
			return true, err
		}
		if refused, err := c.refuseOtherProtocol(verb, 1); refused {
			return true, err
		}
		return c.refusePassive(verb)
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		if refused, err := c.refuseClearTransfer(verb); refused {
			return true, err
		}
		c.locked(func() { c.out.replies.noteTransferCommand(verb) })
		c.data.passiveIdle.Store(false) // the transfer uses (and the lib then closes) the listener
	}
	return false, nil
}

// refuseActive answers PORT or EPRT when the policy refuses it.
func (c *Conn) refuseActive(verb, param string) (bool, error) {
	if refused, err := c.refuseAfterEPSVAll(verb); refused {
		return true, err
	}
	if refused, err := c.refuseClearSetup(verb); refused {
		return true, err
	}
	return c.refusePrivilegedPort(verb, param)
}

// refusePassive answers PASV or EPSV when the policy refuses it;
// otherwise it closes the session's idle listener and reserves a port for
// the session within the caps.
func (c *Conn) refusePassive(verb string) (bool, error) {
	if refused, err := c.refuseClearSetup(verb); refused {
		return true, err
	}
	c.releaseIdlePassive()
	return c.reservePassive(verb)
}
