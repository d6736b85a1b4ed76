package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
)

// Errors of operations the store cannot do as a filesystem does.
var (
	// ErrUnavailable marks the errors of a store that did not answer (a
	// refused, reset or timed-out connection) or failed (a 5xx reply).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrNoAppend refuses APPE and resumed uploads (REST, then STOR).
	ErrNoAppend = errors.New("objects cannot be appended to")
	// ErrDirRename refuses to rename a directory: it would copy every
	// object under it, one at a time and not atomically.
	ErrDirRename = errors.New("directories cannot be renamed on object storage")
	// ErrUnsupported refuses changes of mode, owner and times.
	ErrUnsupported = fmt.Errorf("not supported on object storage: %w", errors.ErrUnsupported)
)

// pathError returns err of op on the client's name: S3 error replies
// become the os errors they stand for, and failed requests ErrUnavailable
// with a short cause that names no key; other errors stay as they are.
func pathError(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: classify(err)}
}

func classify(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == "NoSuchKey":
			return os.ErrNotExist
		case resp.Code == "AccessDenied":
			return fmt.Errorf("%w: %s", os.ErrPermission, resp.Message)
		case resp.StatusCode >= 500:
			return fmt.Errorf("%w: %s", ErrUnavailable, resp.Message)
		}
		return fmt.Errorf("%s: %s", resp.Code, resp.Message)
	}
	if failedRequest(err) {
		return fmt.Errorf("%w: %s", ErrUnavailable, cause(err))
	}
	return err
}

// failedRequest reports whether err is the failure of a request on its
// way: no connection, no answer in time, a connection cut.
func failedRequest(err error) bool {
	var uerr *url.Error
	var operr *net.OpError // not net.Error, which syscall.Errno satisfies
	return errors.As(err, &uerr) || errors.As(err, &operr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// cause describes a failed request without its URL (which holds the
// bucket and key).
func cause(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "no answer in time"
	}
	var operr *net.OpError
	if errors.As(err, &operr) {
		return operr.Op + ": " + operr.Err.Error()
	}
	return err.Error()
}
