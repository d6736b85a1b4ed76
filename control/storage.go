package control

// storageUnavailableCode replaces the code of the lib's error reply to a
// request the storage backend failed: RFC 959's "451 Requested action
// aborted: local error in processing", which clients treat as transient.
// The lib itself answers such errors 550 (or 552, "exceeded storage
// allocation"), or 426 once the data connection carried the transfer
// (see rewrite).
const storageUnavailableCode = "451"

// NoteStorageUnavailable records that the storage backend failed the
// session's current request (an object store that is down): the lib's
// next error reply (4xx or 5xx) gets the code 451 and keeps its text,
// which says why. It is safe for concurrent use.
func (c *Conn) NoteStorageUnavailable() { c.locked(func() { c.storageDown = true }) }

// isErrorReply reports whether p is a reply of class 4 or 5.
func isErrorReply(p []byte) bool {
	return len(p) > 4 && (p[0] == '4' || p[0] == '5') && p[3] == ' ' && p[1] >= '0' && p[1] <= '9'
}

// storageReply returns p with the code 451. Called with writeMu held.
func (c *Conn) storageReply(p []byte) []byte {
	c.storageDown = false
	return recode(p, storageUnavailableCode)
}

// recode returns the reply p with code instead of its own.
func recode(p []byte, code string) []byte {
	return append([]byte(code), p[len(code):]...)
}

// busyCode replaces the code of the lib's error reply to a request
// refused because a server-wide resource is taken (the memory of the
// uploads in flight): RFC 959's "450 Requested file action not taken.
// File unavailable (e.g., file busy)", a transient reply that STOR may
// get, so clients try again later and the session goes on (421 would
// tell them it is closing).
const busyCode = "450"

// NoteBusy records that the session's current request was refused
// because a server-wide resource is taken: the lib's next error reply
// (4xx or 5xx) gets the code 450 and keeps its text, which says which. It
// is safe for concurrent use.
func (c *Conn) NoteBusy() { c.locked(func() { c.busy = true }) }

// busyReply returns p with the code 450. Called with writeMu held.
func (c *Conn) busyReply(p []byte) []byte {
	c.busy = false
	return recode(p, busyCode)
}
