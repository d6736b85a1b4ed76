package control

import (
	"bytes"

	"go.uber.org/zap"
)

// ftpserverlib answers nothing to a transfer command that ABOR ended
// before its data connection opened (its transfer sees the abort and
// stays silent), so a client that pipelines PASV, STOR and ABOR waits
// forever for the STOR's reply. The conn follows the replies of the
// transfer command and writes the missing 426 before ABOR's 226.

// Texts of the lib's replies to ABOR.
const (
	libAborSuccess = "226 ABOR successful"                     // ABOR's own reply
	libAborClosed  = "426 Connection closed; transfer aborted" // the aborted transfer's, when it was open
)

// transferReplies follows the replies to the latest transfer command.
// Guarded by Conn.writeMu.
type transferReplies struct {
	verb     string
	answered bool // a reply to it was written (150, or a final one)
	withData bool // the lib held a data endpoint when it came
}

// noteTransferCommand records a transfer command handed to the lib.
func (c *Conn) noteTransferCommand(verb string) {
	c.locked(func() {
		c.transfer = &transferReplies{verb: verb, withData: c.dataReady}
		c.dataReady = false // the transfer uses the endpoint; the lib then drops it
	})
}

// noteAbort records ABOR: the lib drops its data endpoint.
func (c *Conn) noteAbort() { c.locked(func() { c.dataReady = false }) }

// followTransfer looks at a reply of the lib and returns the reply to
// write before it, if any: the 426 of a transfer command that ABOR
// silenced. Called with writeMu held.
func (c *Conn) followTransfer(p []byte) []byte {
	if port, ok := passivePort(p); ok && port > 0 || bytes.HasPrefix(p, []byte("200 PORT ")) || bytes.HasPrefix(p, []byte("200 EPRT ")) {
		c.dataReady = true
		return nil
	}
	x := c.transfer
	switch {
	case x == nil:
		return nil
	case bytes.HasPrefix(p, []byte(libAborSuccess)):
		c.transfer = nil
		if !x.answered && x.withData {
			c.log().Info("transfer aborted before its data connection opened", zap.String("command", x.verb))
			return []byte("426 " + x.verb + " aborted before its data connection opened.\r\n")
		}
	case bytes.HasPrefix(p, []byte(libAborClosed)):
		c.transfer = nil
	case len(p) > 0 && p[0] == '1':
		x.answered = true
	case len(p) > 3 && p[3] == ' ': // the last line of a final reply
		c.transfer = nil
	}
	return nil
}
