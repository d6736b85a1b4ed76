package control

import "crypto/tls"

// inbound is the read side of a control connection: what the read
// goroutine (the lib's command loop, which also runs the AUTH and CCC
// switches) keeps between reads. Only that goroutine touches it; the wire
// is also read by crypto/tls, under its own lock, through the record
// reader while TLS is on.
type inbound struct {
	w        *wire
	plain    []byte // decrypted bytes not yet handed out
	pending  []byte // rest of the line being handed to the lib
	badLines int    // malformed lines in a row (see rejectMalformed)
	// lateTLS is the TLS conn CCC cleared before the client's close_notify
	// came: it may still come (see skipLateAlert).
	lateTLS *tls.Conn
	// reactions are the client's recent reaction times (see cccWait);
	// their lastReply is atomic, set by the writers.
	reactions reactionTimes
}

// plainChunk is how much readTLS asks TLS for at a time. It is small
// because the buffer is on the stack of the session's command goroutine,
// which keeps it while it waits for the next command: a longer line takes
// a few reads, from the record crypto/tls already decrypted.
const plainChunk = 512

// readTLS reads once through t and appends what came to plain.
func (in *inbound) readTLS(t *tls.Conn) (int, error) {
	var buf [plainChunk]byte
	n, err := t.Read(buf[:])
	in.plain = append(in.plain, buf[:n]...)
	return n, err
}

// releaseEmpty lets go of the read buffers that were consumed whole, so
// that a session waiting for its next command holds none.
func (in *inbound) releaseEmpty() {
	in.w.release()
	if len(in.plain) == 0 {
		in.plain = nil
	}
}
