package driver

import (
	"errors"
	"fmt"
	"io"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/metrics"
)

// loggedTransfer counts the bytes of one transfer and writes one log line
// when it closes: at warn level when the server failed it (a full disk, a
// store that is down), else at info level.
type loggedTransfer struct {
	ftpserver.FileTransfer
	session     *session
	path        string
	direction   string
	start       time.Time
	bytes       int64
	failure     error
	serverFault bool // the file or the store failed, not the client
	closed      bool
	event       *transferEvent // nil without an event sink (see events.go)
	limit       *throttle      // the account's bandwidth limit; nil: none
	pos         int64          // the file offset of the next byte
	end         int64          // a download's end: the file's size when it opened; -1: none
}

// newLoggedTransfer wraps f, a transfer of the session's account in
// direction, under the account's bandwidth limit if it has one (see
// ratelimit.go).
func newLoggedTransfer(f ftpserver.FileTransfer, s *session, path, direction string) *loggedTransfer {
	return &loggedTransfer{FileTransfer: f, session: s, path: path, direction: direction, start: time.Now(),
		limit: s.throttle(direction), end: -1}
}

// Read reads from the file; under a limit, at most one chunk, which it
// then waits for. A download reads the file as far as its size when it
// opened: what is appended meanwhile is not sent (the client gets the
// version that SIZE or LIST showed), and a file that ends before (cut or
// rewritten smaller meanwhile) fails the download (errFileShrank) instead
// of ending it early as if complete.
func (t *loggedTransfer) Read(p []byte) (int, error) {
	if t.end >= 0 {
		if t.pos >= t.end {
			t.event.moved(nil, io.EOF)
			return 0, io.EOF
		}
		p = p[:min(int64(len(p)), t.end-t.pos)]
	}
	if t.limit != nil {
		p = p[:t.limit.chunk(len(p))]
	}
	n, err := t.FileTransfer.Read(p)
	t.pos += int64(n)
	if t.end >= 0 && errors.Is(err, io.EOF) && t.pos < t.end {
		err = fmt.Errorf("%s at byte %d of %d: %w", t.path, t.pos, t.end, errFileShrank)
	}
	if t.limit != nil && n > 0 {
		if werr := t.waitRate(n); werr != nil {
			return 0, werr
		}
	}
	t.bytes += int64(n)
	t.event.moved(p[:n], err)
	return n, t.fileFailed(err)
}

// Write writes to the file; under a limit, once p may pass.
func (t *loggedTransfer) Write(p []byte) (int, error) {
	if t.limit != nil {
		if err := t.waitRate(len(p)); err != nil {
			return 0, err
		}
	}
	n, err := t.FileTransfer.Write(p)
	t.bytes += int64(n)
	if t.event != nil {
		t.event.moved(p[:n], nil)
	}
	return n, t.fileFailed(err)
}

// waitRate waits until n bytes may pass the limit, or fails the transfer
// when the session closes first.
func (t *loggedTransfer) waitRate(n int) error {
	delayed, err := t.limit.wait(t.session.waitContext(), n)
	if delayed > 0 {
		t.session.metrics.RateLimited(t.direction, delayed)
	}
	if err != nil {
		t.fail(errSessionClosed)
		return errSessionClosed
	}
	return nil
}

// Seek fails the transfer when it fails. A transfer that moves from the
// start of the file no longer covers the whole file: its event has no
// checksum.
func (t *loggedTransfer) Seek(offset int64, whence int) (int64, error) {
	n, err := t.FileTransfer.Seek(offset, whence)
	if err == nil {
		t.pos = n
	}
	if t.event != nil && (err != nil || n != t.bytes) {
		t.event.hash = nil
	}
	return n, t.fileFailed(err)
}

// fileFailed records a failure of the file (or the store), which the log
// line of the transfer shows, and returns it as the client is to be told
// (see replyError). The end of the file is no failure.
func (t *loggedTransfer) fileFailed(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	t.fail(err)
	re := t.session.replyError(t.path, err, t.direction == metrics.Upload)
	t.serverFault = t.serverFault || !re.client
	return re
}

// fail records the first failure of the transfer.
func (t *loggedTransfer) fail(err error) {
	if t.failure == nil {
		t.failure = err
	}
}

// TransferError records the failure, unless the file failed first, and
// passes it on.
func (t *loggedTransfer) TransferError(err error) {
	t.fail(err)
	if fe, ok := t.FileTransfer.(ftpserver.FileTransferError); ok {
		fe.TransferError(err)
	}
}

// Close closes the file, logs the transfer and ends it on the session
// (which may then close the user's filesystem).
func (t *loggedTransfer) Close() error {
	if t.closed {
		return t.FileTransfer.Close()
	}
	t.closed = true
	defer t.session.endTransfer()
	if t.direction == metrics.Upload && t.failure == nil && t.session.isClosed() {
		// The control connection ended during the upload. The client never
		// got the final reply, and the lib closed the data connection
		// itself, which can make the read end like a clean end of file:
		// what was received must not replace the stored copy.
		t.TransferError(errSessionClosed)
	}
	err := t.FileTransfer.Close()
	end := time.Now()
	var re *requestError
	if err != nil {
		re = t.session.replyError(t.path, err, t.direction == metrics.Upload)
	}
	result, cause := metrics.ResultOK, t.failure
	if cause == nil && err != nil {
		cause = err
		t.serverFault = !re.client
	}
	if cause == nil && t.event != nil {
		// The upload's Close returned nil and nothing failed it: the file
		// is committed (renamed in place, or the object completed). The
		// event goes before the log line, which tests wait for.
		t.emitTransfer(end)
	}
	fields := []zap.Field{
		zap.String("path", t.path),
		zap.String("direction", t.direction),
		zap.Int64("bytes", t.bytes),
		zap.Duration("duration", end.Sub(t.start)),
	}
	if cause != nil {
		result = metrics.ResultFailed
		fields = append(fields, zap.Error(cause))
	}
	t.session.metrics.Transfer(t.direction, result, t.bytes)
	level := zap.InfoLevel
	if t.serverFault {
		level = zap.WarnLevel
	}
	t.session.log().Log(level, "transfer", append(fields, zap.String("result", result))...)
	t.session.logXfer(t.path, t.direction == metrics.Upload, t.bytes, t.start, cause == nil)
	if re != nil {
		return re
	}
	return nil
}
