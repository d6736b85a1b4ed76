package control

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// The lib answers a request its driver failed with the driver's error
// inside a text and an error chain of its own ("Could not access file:
// driver error: calling GetHandle: ..."), and with one of the few codes it
// knows: 550 (450 for LIST and STAT), 552, 553, or the 550 of a broken
// transfer that rewrite makes a 426. The driver notes the reply it means
// instead (NoteFailure): the user's path, a short reason and the code the
// failure calls for, such as RFC 959's 451 (local error, or a storage
// backend that is down) and 452 (insufficient storage space).

// Failure is the reply to a request the driver failed.
type Failure struct {
	// Code replaces the code of the lib's reply (400 to 599); 0 keeps it.
	Code int
	// Text is the driver's error as the lib writes it into its reply; the
	// reply says only this. One line.
	Text string
}

// maxFailures bounds the failures noted and not yet answered. The lib
// answers a failure before the next of the same command; one it never
// answers (an error it ignores) is dropped by later ones.
const maxFailures = 4

// NoteFailure records that the driver failed the session's current request
// with f.Text: the lib's next error reply (4xx or 5xx) that carries it is
// sent as f instead. It is safe for concurrent use.
func (c *Conn) NoteFailure(f Failure) {
	if f.Text == "" || strings.ContainsAny(f.Text, "\r\n") || f.Code != 0 && (f.Code < 400 || f.Code > 599) {
		return // the lib's reply goes as it is
	}
	c.locked(func() { c.out.replies.noteFailure(f) })
}

// noteFailure adds f to the failures noted, forgetting the oldest beyond
// maxFailures.
func (f *replyFilter) noteFailure(x Failure) {
	if len(f.failures) == maxFailures {
		f.failures = slices.Delete(f.failures, 0, 1)
	}
	f.failures = append(f.failures, x)
}

// isErrorReply reports whether p is a reply of class 4 or 5.
func isErrorReply(p []byte) bool {
	return len(p) > 4 && (p[0] == '4' || p[0] == '5') && p[3] == ' ' && p[1] >= '0' && p[1] <= '9'
}

// failureOf returns the index of the noted failure that the error reply p
// answers, or -1.
func (f *replyFilter) failureOf(p []byte) int {
	if len(f.failures) == 0 || !isErrorReply(p) {
		return -1
	}
	return slices.IndexFunc(f.failures, func(x Failure) bool { return bytes.Contains(p, []byte(x.Text)) })
}

// failureReply returns the reply that replaces p, the lib's reply to the
// failure noted at index i.
func (f *replyFilter) failureReply(p []byte, i int) []byte {
	x := f.failures[i]
	f.failures = slices.Delete(f.failures, i, i+1)
	code := string(p[:3])
	if x.Code != 0 {
		code = strconv.Itoa(x.Code)
	}
	return []byte(code + " " + x.Text + "\r\n")
}
