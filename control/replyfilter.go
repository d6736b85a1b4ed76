package control

import (
	"bytes"

	"go.uber.org/zap"
)

// replyFilter holds what the conn changes in the lib's replies, and the
// notes that decide it: the driver's failures (NoteFailure), a refused
// data connection (NoteDataRefused), an expired one (NoteDataExpired),
// and the replies to the latest transfer command (followTransfer). It
// knows nothing of the socket or TLS. Conn.out.mu guards it: each method
// runs with it held, and the Note methods take it (Conn.locked).
type replyFilter struct {
	opts        *Options         // immutable: AllowCCC and DisableEPSV shape FEAT
	dataRefused *DataRefusal     // see NoteDataRefused
	dataExpired *DataExpiry      // see NoteDataExpired
	failures    []Failure        // see NoteFailure, oldest first
	transfer    *transferReplies // see followTransfer
	dataReady   bool             // the lib holds a data endpoint
}

// filter returns what to write instead of the lib's reply p: p rewritten
// (see rewrite), after the 426 of a transfer ABOR silenced (see
// followTransfer). log receives the session's lines about the replies.
func (f *replyFilter) filter(p []byte, log *zap.Logger) []byte {
	port, passive := passivePort(p)
	if passive {
		f.dataExpired = nil // a new listener: what ended the previous one is moot
	}
	out := f.rewrite(p, log)
	newEndpoint := passive && port > 0 || bytes.HasPrefix(p, []byte("200 PORT ")) || bytes.HasPrefix(p, []byte("200 EPRT "))
	if before := f.followTransfer(p, newEndpoint, log); before != nil {
		out = append(before, out...)
	}
	return out
}

// rewrite returns what to send instead of a reply of the lib: FEAT gains
// CCC beside PROT (and loses EPSV when it is disabled; its HASH lines are
// made right, see rewriteHash), the lib's 421 "no
// port" becomes a 425 busy reply and its 421 to PORT/EPRT with active mode
// off a 502, the error reply after a refused data handshake says why, the
// reply to a request the driver failed is the one it noted (see
// NoteFailure), a transfer broken on its data connection is answered 426,
// and the lines
// of STAT of a directory lose the lib's stray "%s".
func (f *replyFilter) rewrite(p []byte, log *zap.Logger) []byte {
	switch {
	case f.opts.AllowCCC && string(p) == featPROT:
		return []byte(featPROT + featCCC)
	case f.opts.DisableEPSV && string(p) == featEPSV:
		return nil
	case f.opts.HashAlgorithms != nil && isLibHashLine(p):
		return rewriteHash(p, f.opts.HashAlgorithms)
	case isLib421(p, libNoPortText):
		// The lib's 421 would tell the client the server is closing the
		// connection; it is only busy.
		return []byte(passiveBusyReply)
	case isLib421(p, libActiveOffText):
		// Likewise for PORT/EPRT with active mode off: the session goes on.
		return []byte(activeOffReply)
	case f.dataRefused != nil && len(p) > 0 && (p[0] == '4' || p[0] == '5'):
		return f.explainDataRefusal(p, log)
	case f.dataExpired != nil && (bytes.HasPrefix(p, []byte("425 ")) || bytes.HasPrefix(p, []byte(libTransferFailed))):
		return f.explainDataExpiry(p, log)
	case f.failureOf(p) >= 0:
		return f.failureReply(p, f.failureOf(p))
	case bytes.HasPrefix(p, []byte(libTransferNetworkText)):
		return append([]byte(transferAbortedCode), p[len(transferAbortedCode):]...)
	case bytes.HasPrefix(p, []byte(libStatLinePrefix)):
		return append([]byte(" "), p[len(libStatLinePrefix):]...)
	}
	return p
}
