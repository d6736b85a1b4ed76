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
	return append([]byte(storageUnavailableCode), p[len(storageUnavailableCode):]...)
}
