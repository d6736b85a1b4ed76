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
type transferReplies struct {
	verb     string
	answered bool // a reply to it was written (150, or a final one)
	withData bool // the lib held a data endpoint when it came
}

// noteTransferCommand records a transfer command handed to the lib.
func (f *replyFilter) noteTransferCommand(verb string) {
	f.transfer = &transferReplies{verb: verb, withData: f.dataReady}
	f.dataReady = false // the transfer uses the endpoint; the lib then drops it
}

// noteAbort records ABOR: the lib drops its data endpoint.
func (f *replyFilter) noteAbort() { f.dataReady = false }

// followTransfer looks at a reply of the lib and returns the reply to
// write before it, if any: the 426 of a transfer command that ABOR
// silenced. newEndpoint says that p announced a data endpoint (a 227/229
// with a port, or the 200 to PORT/EPRT).
func (f *replyFilter) followTransfer(p []byte, newEndpoint bool, log *zap.Logger) []byte {
	if newEndpoint {
		f.dataReady = true
		return nil
	}
	x := f.transfer
	switch {
	case x == nil:
		return nil
	case bytes.HasPrefix(p, []byte(libAborSuccess)):
		f.transfer = nil
		if !x.answered && x.withData {
			log.Info("transfer aborted before its data connection opened", zap.String("command", x.verb))
			return []byte("426 " + x.verb + " aborted before its data connection opened.\r\n")
		}
	case bytes.HasPrefix(p, []byte(libAborClosed)):
		f.transfer = nil
	case len(p) > 0 && p[0] == '1':
		x.answered = true
	case len(p) > 3 && p[3] == ' ': // the last line of a final reply
		f.transfer = nil
	}
	return nil
}
