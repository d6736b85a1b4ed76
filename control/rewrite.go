package control

import (
	"bytes"

	"go.uber.org/zap"
)

// Feature lines of the lib's FEAT reply.
const (
	featPROT = " PROT\r\n"
	featCCC  = " CCC\r\n"
	featEPSV = " EPSV\r\n"
)

// libNoPortText ends the lib's reply when no passive port could be bound
// (ftpserverlib's ErrNoAvailableListeningPort).
const libNoPortText = "could not find any port to listen to"

// passiveBusyReply replaces that reply.
const passiveBusyReply = "425 No passive port is free: the server is busy, try again in a moment.\r\n"

// libActiveOffText ends the lib's 421 reply to PORT/EPRT when active mode
// is disabled ("PORT command is disabled").
const libActiveOffText = " command is disabled"

// activeOffReply replaces that reply.
const activeOffReply = "502 Active mode (PORT/EPRT) is disabled on this server: use PASV or EPSV.\r\n"

// dataRefusedReply replaces the lib's reply to a transfer whose data
// connection was refused because its TLS session was not resumed.
const dataRefusedReply = "425 Data connection refused: its TLS session was not resumed from this client's control connection (tls.require_session_reuse).\r\n"

// dataOtherAddressReply replaces it when the data connection came from
// another address than the control connection.
const dataOtherAddressReply = "425 Data connection refused: it came from another address than this control connection.\r\n"

// libTransferNetworkText starts the lib's reply to a transfer broken on
// its data connection (a reset, or a TLS stream cut without close_notify).
const libTransferNetworkText = "550 Issue during transfer: network error: "

// transferAbortedCode replaces its 550: RFC 959's "426 Connection closed;
// transfer aborted" is what a client retries.
const transferAbortedCode = "426"

// libStatLinePrefix starts each line of the lib's reply to STAT of a
// directory: the lib writes a literal "%s" before each entry.
const libStatLinePrefix = " %s"

// isLib421 reports whether p is a 421 reply that contains text.
func isLib421(p []byte, text string) bool {
	return bytes.HasPrefix(p, []byte("421 ")) && bytes.Contains(p, []byte(text))
}

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
func (c *Conn) NoteDataRefused(r DataRefusal) { c.locked(func() { c.out.replies.dataRefused = &r }) }

// locked runs f with out.mu held: f changes what the next replies say
// (see replyFilter).
func (c *Conn) locked(f func()) {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	f()
}

// explainDataRefusal logs the refusal recorded by NoteDataRefused, with
// the lib's error reply p that it answers, and returns the 425 that
// replaces p.
func (f *replyFilter) explainDataRefusal(p []byte, log *zap.Logger) []byte {
	r := f.dataRefused
	f.dataRefused = nil
	fields := []zap.Field{zap.Error(r.Err), zap.ByteString("lib_reply", bytes.TrimSpace(p))}
	if r.Admit != "" {
		fields = append(fields, zap.String("admit_with", r.Admit))
	}
	log.Warn("data connection refused", fields...)
	if r.OtherAddress {
		return []byte(dataOtherAddressReply)
	}
	return []byte(dataRefusedReply)
}
