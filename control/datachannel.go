package control

import "sync/atomic"

// dataChannel is what the client asked of its data connections (PBSZ,
// PROT, EPSV ALL) and what the conn saw of them. Every field is atomic:
// the read goroutine sets most, a data connection's handshake and the
// writer of a 227/229 the others, and anyone reads them.
type dataChannel struct {
	protected atomic.Bool // the client asked for PROT P
	pbsz      atomic.Bool // the client sent PBSZ on a protected channel
	epsvAll   atomic.Bool // the client sent EPSV ALL
	// passiveIdle is true from the 227/229 reply until a transfer command:
	// the passive listener is idle and a new PASV/EPSV may close it first.
	passiveIdle       atomic.Bool
	ticket            atomic.Bool // a session ticket was issued on the control channel
	acceptedByAddress atomic.Bool // logged once, see NoteAcceptedByAddress
}
