package control

import (
	"bytes"

	"go.uber.org/zap"
)

// The deadlines of data connections (passive.connect_timeout,
// server.transfer_stall_timeout) end them below the lib, which then
// answers with its generic error replies; the conn replaces those with
// replies that say which deadline expired.

// libTransferFailed starts the lib's reply to a transfer whose data
// connection failed after its 150.
const libTransferFailed = "550 Issue during transfer"

// DataExpiry says which deadline ended a data connection of the session.
type DataExpiry struct {
	Err error
	// Text says what happened, naming the setting: "no byte moved for 5m0s
	// (server.transfer_stall_timeout)".
	Text string
}

// NoteDataExpired records that a deadline closed the session's passive
// listener or data connection: the lib's next error reply to a transfer
// (its 425, or its 550 after a 150) becomes a 425 or a 426 that says why.
// A new 227/229 forgets it. It is safe for concurrent use.
func (c *Conn) NoteDataExpired(e DataExpiry) { c.locked(func() { c.out.replies.dataExpired = &e }) }

// explainDataExpiry returns the reply that replaces the lib's error reply
// p after a deadline: 425 when the transfer never started, 426 when it
// was cut.
func (f *replyFilter) explainDataExpiry(p []byte, log *zap.Logger) []byte {
	e := f.dataExpired
	f.dataExpired = nil
	log.Warn("data connection expired", zap.Error(e.Err), zap.ByteString("lib_reply", bytes.TrimSpace(p)))
	if bytes.HasPrefix(p, []byte("425 ")) {
		return []byte("425 No data connection: " + e.Text + "; send PASV or EPSV again.\r\n")
	}
	return []byte("426 Transfer aborted: " + e.Text + ".\r\n")
}
