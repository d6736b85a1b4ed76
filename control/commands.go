package control

// intercept handles the commands the conn owns and reports whether it did:
// AUTH and CCC, the checks of the TLS policy, and the commands whose data
// endpoints it watches. Every other command goes to the lib.
func (c *Conn) intercept(line []byte) (bool, error) {
	if handled, err := c.rejectMalformed(line); handled {
		return true, err
	}
	verb, param := splitCommand(line)
	switch verb {
	case "AUTH":
		return true, c.handleAUTH(param)
	case "USER":
		return c.refuseSecondLogin()
	case "CCC":
		return true, c.handleCCC()
	case "PBSZ", "PROT":
		return c.checkProtection(verb, param)
	case "PORT", "EPRT":
		c.watchCommand(verb, param)
	case "EPSV":
		if refused, err := c.refuseEPSV(); refused {
			return true, err
		}
		c.releaseIdlePassive()
	case "PASV":
		c.releaseIdlePassive()
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		if refused, err := c.refuseClearTransfer(verb); refused {
			return true, err
		}
		c.passiveIdle.Store(false) // the transfer uses (and the lib then closes) the listener
	}
	return false, nil
}
