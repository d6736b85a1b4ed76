package driver

import (
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/metrics"
)

// loggedTransfer counts the bytes of one transfer and writes one log line
// when it closes.
type loggedTransfer struct {
	ftpserver.FileTransfer
	session   *session
	path      string
	direction string
	start     time.Time
	bytes     int64
	failure   error
	closed    bool
}

func newLoggedTransfer(f ftpserver.FileTransfer, s *session, path, direction string) *loggedTransfer {
	return &loggedTransfer{FileTransfer: f, session: s, path: path, direction: direction, start: time.Now()}
}

func (t *loggedTransfer) Read(p []byte) (int, error) {
	n, err := t.FileTransfer.Read(p)
	t.bytes += int64(n)
	t.session.storageFailed(err)
	return n, err
}

func (t *loggedTransfer) Write(p []byte) (int, error) {
	n, err := t.FileTransfer.Write(p)
	t.bytes += int64(n)
	t.session.storageFailed(err)
	return n, err
}

// TransferError records the failure and passes it on.
func (t *loggedTransfer) TransferError(err error) {
	t.failure = err
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
	result, cause := metrics.ResultOK, t.failure
	if cause == nil {
		cause = err
	}
	fields := []zap.Field{
		zap.String("path", t.path),
		zap.String("direction", t.direction),
		zap.Int64("bytes", t.bytes),
		zap.Duration("duration", time.Since(t.start)),
	}
	if cause != nil {
		result = metrics.ResultFailed
		fields = append(fields, zap.Error(cause))
	}
	t.session.metrics.Transfer(t.direction, result, t.bytes)
	t.session.log().Info("transfer", append(fields, zap.String("result", result))...)
	t.session.storageFailed(err)
	return err
}
