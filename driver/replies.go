package driver

import (
	"errors"
	"os"
	"strings"
	"syscall"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/control"
	"ftpsd/driver/s3fs"
	"ftpsd/quota"
)

// What a failed request is answered. The lib writes the driver's error
// into a reply of its own, behind its own error chain ("Could not access
// file: driver error: calling GetHandle: ..."), with the few codes it
// knows. The driver gives it a *requestError instead, whose text is what
// the client is told (its path and a short reason) and which keeps the
// cause for the log; the control connection sends the lib's reply that
// carries that text as the text alone, with the code the failure calls for
// (control.Conn.NoteFailure).

// requestError is a failed request as the client is told it.
type requestError struct {
	answer
	path string // the client's path
	err  error  // the cause, for the log
}

func (e *requestError) Error() string { return e.path + ": " + e.reason }

// Unwrap gives the lib the cause: it answers ErrFileNameNotAllowed 553.
func (e *requestError) Unwrap() error { return e.err }

// Reply codes of failures the lib has no code for (RFC 959).
const (
	// codeLocalError: "requested action aborted: local error in
	// processing"; clients try again later. A storage backend that is down.
	codeLocalError = 451
	// codeBusy: "requested file action not taken, file unavailable (e.g.
	// file busy)"; transient, the session goes on (421 would close it). A
	// server-wide resource is taken: storage.max_upload_memory,
	// server.max_concurrent_listings.
	codeBusy = 450
	// codeNoSpace: "insufficient storage space in system".
	codeNoSpace = 452
	// codeNotForParameter: "command not implemented for that parameter";
	// a hash algorithm ftpsd does not compute.
	codeNotForParameter = 504
	// codeExceeded: "exceeded storage allocation", a quota or a size limit
	// (the system's EDQUOT and EFBIG; a limit of ftpsd's own fails with an
	// error that wraps ftpserver.ErrStorageExceeded).
	codeExceeded = 552
)

// reasons are the short reasons of the errors a client can cause, in the
// order they are checked: the first whose error err is wins.
var reasons = []struct {
	err    error
	reason string
}{
	{errReadOnly, "Permission denied (read-only account)"},
	{ftpserver.ErrFileNameNotAllowed, "File name not allowed"},
	{errIsDir, "Is a directory"},
	{syscall.EISDIR, "Is a directory"},
	{errNotDir, "Not a directory"},
	{syscall.ENOTDIR, "Not a directory"},
	{syscall.ENOTEMPTY, "Directory not empty"}, // before os.ErrExist, which it is
	{syscall.ENAMETOOLONG, "File name too long"},
	{os.ErrNotExist, "No such file or directory"},
	{os.ErrExist, "File exists"},
	{os.ErrPermission, "Permission denied"},
	{errBadOffset, "Invalid restart offset"},
	{errTooManyEntries, "Too many entries to list (server.max_list_entries)"},
	{s3fs.ErrNoAppend, "Objects cannot be appended to"},
	{s3fs.ErrDirRename, "Directories cannot be renamed on object storage"},
	{s3fs.ErrUnsupported, "Not supported on object storage"},
}

// answer is what a failed request is answered.
type answer struct {
	code   int    // 0: the lib's
	reason string // short
	client bool   // the client's doing (a missing file), not the server's
}

// replyTo returns the answer to a request that failed with err. storing is
// true for an upload (STOR, APPE): the only requests RFC 959 answers 452
// and 552; others that lack space keep the lib's 550. This is the one
// place that maps errors to reply codes. A quota's refusal is 552 also
// before the upload starts (its 150), and the client's doing.
func replyTo(err error, storing bool) answer {
	storage := func(code int, reason string) answer {
		if !storing {
			code = 0
		}
		return answer{code: code, reason: reason}
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, quota.ErrBytes):
		return answer{code: codeExceeded, reason: quota.ErrBytes.Error(), client: true}
	case errors.Is(err, quota.ErrFiles):
		return answer{code: codeExceeded, reason: quota.ErrFiles.Error(), client: true}
	case errors.Is(err, s3fs.ErrUnavailable):
		// The store's own short cause, which names no key.
		s := err.Error()
		if i := strings.Index(s, s3fs.ErrUnavailable.Error()); i > 0 {
			s = s[i:]
		}
		return answer{code: codeLocalError, reason: s}
	case errors.Is(err, s3fs.ErrUploadMemory):
		return answer{code: codeBusy, reason: "Too many uploads in progress (storage.max_upload_memory); try again later"}
	case errors.Is(err, errListingsBusy):
		return answer{code: codeBusy, reason: "Too many listings in progress (server.max_concurrent_listings); try again later"}
	case errors.Is(err, errHashAlgorithm):
		return answer{code: codeNotForParameter, reason: "Hash algorithm not offered: use SHA-256, SHA-512 or SHA-1 (OPTS HASH)", client: true}
	case errors.Is(err, errListingsBusyHere):
		return answer{code: codeBusy, reason: "Too many listings in progress from your address (half of server.max_concurrent_listings); try again later"}
	case errors.Is(err, syscall.ENOSPC):
		return storage(codeNoSpace, "No space left on device")
	case errors.Is(err, syscall.EDQUOT):
		return storage(codeExceeded, "Disk quota exceeded")
	case errors.Is(err, syscall.EFBIG):
		return storage(codeExceeded, "File too large")
	case errors.Is(err, ftpserver.ErrStorageExceeded):
		return storage(codeExceeded, "Storage limit exceeded")
	case errors.Is(err, errFileShrank):
		return answer{code: codeLocalError, reason: "File changed during the download: it ended early; download it again"}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return answer{reason: r.reason, client: true}
		}
	}
	if errors.As(err, &errno) {
		// Another error of the system ("input/output error"): short, and
		// not the client's doing.
		s := errno.Error()
		return answer{code: codeLocalError, reason: strings.ToUpper(s[:1]) + s[1:]}
	}
	// Neither the client's doing nor the system's: a store's refusal of a
	// kind not foreseen (an object name it does not take). The lib's 550;
	// the cause goes to the log only.
	return answer{reason: "Requested action not taken"}
}

// replyError returns err, a failure of a request on name (the client's
// path), as the lib is to get it, and notes its reply on the control
// connection. An error made by replyError already is returned as it is.
func (s *session) replyError(name string, err error, storing bool) *requestError {
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	re = &requestError{answer: replyTo(err, storing), path: name, err: err}
	if s.conn != nil {
		s.conn.NoteFailure(control.Failure{Code: re.code, Text: re.Error()})
	}
	return re
}

// logFailure logs a failed request with its cause in one line: at debug
// level when the client caused it (the reply told it all, and a client
// could fill the log with them), else at warn level.
func (s *session) logFailure(re *requestError) {
	fields := []zap.Field{zap.String("path", re.path), zap.Error(re.err)}
	switch {
	case errors.Is(re.err, errTooManyEntries):
		s.log().Warn("listing stopped at server.max_list_entries", fields...)
	case errors.Is(re.err, errListingsBusy), errors.Is(re.err, errListingsBusyHere):
		s.log().Warn("listing refused: too many listings in progress", fields...)
	case errors.Is(re.err, quota.ErrBytes), errors.Is(re.err, quota.ErrFiles):
		s.log().Info("upload refused: quota exceeded", fields...)
	case re.client:
		s.log().Debug("request refused", fields...)
	case errors.Is(re.err, s3fs.ErrUnavailable):
		s.log().Warn("storage unavailable", fields...)
	case errors.Is(re.err, s3fs.ErrUploadMemory):
		s.log().Warn("upload refused: the uploads in flight hold storage.max_upload_memory", fields...)
	default:
		s.log().Warn("request failed", fields...)
	}
}

// failed returns nil for a nil err; else the request of the lib on name
// failed with err: it is logged and answered as replyError says.
func (c *clientFs) failed(name string, err error, storing bool) error {
	if err == nil {
		return nil
	}
	re := c.session.replyError(name, err, storing)
	c.session.logFailure(re)
	return re
}
