package driver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"ftpsd/driver/rootfs"
	"ftpsd/driver/s3fs"
)

// TestReplyTo: the code and reason of each kind of failure, as the
// filesystems wrap them; 452 and 552 only for uploads.
func TestReplyTo(t *testing.T) {
	pathErr := func(err error) error { return &os.PathError{Op: "openat", Path: "/x", Err: err} }
	for _, tc := range []struct {
		err     error
		storing bool
		want    answer
	}{
		{pathErr(s3fs.ErrUploadMemory), true, answer{code: 450, reason: "Too many uploads in progress (storage.max_upload_memory); try again later"}},
		{pathErr(syscall.ENOSPC), true, answer{code: 452, reason: "No space left on device"}},
		{pathErr(syscall.ENOSPC), false, answer{reason: "No space left on device"}},
		{pathErr(syscall.EDQUOT), true, answer{code: 552, reason: "Disk quota exceeded"}},
		{pathErr(syscall.EFBIG), true, answer{code: 552, reason: "File too large"}},
		{fmt.Errorf("quota: %w", ftpserver.ErrStorageExceeded), true, answer{code: 552, reason: "Storage limit exceeded"}},
		{pathErr(fmt.Errorf("%w: dial: connection refused", s3fs.ErrUnavailable)), false,
			answer{code: 451, reason: "storage unavailable: dial: connection refused"}},
		{pathErr(syscall.EIO), false, answer{code: 451, reason: "Input/output error"}},
		{errors.New("something unforeseen at /srv/ftp/alice"), false, answer{reason: "Requested action not taken"}},
		{pathErr(syscall.ENOENT), false, answer{reason: "No such file or directory", client: true}},
		{pathErr(syscall.EACCES), false, answer{reason: "Permission denied", client: true}},
		{pathErr(rootfs.ErrEscapes), false, answer{reason: "Permission denied", client: true}},
		{errReadOnly, true, answer{reason: "Permission denied (read-only account)", client: true}},
		{errReserved, true, answer{reason: "File name not allowed", client: true}},
		{pathErr(syscall.EISDIR), true, answer{reason: "Is a directory", client: true}},
		{pathErr(errIsDir), false, answer{reason: "Is a directory", client: true}},
		{pathErr(syscall.ENOTEMPTY), false, answer{reason: "Directory not empty", client: true}},
		{pathErr(syscall.EEXIST), false, answer{reason: "File exists", client: true}},
		{fmt.Errorf("%w: 9 is beyond the end", errBadOffset), true, answer{reason: "Invalid restart offset", client: true}},
	} {
		if got := replyTo(tc.err, tc.storing); got != tc.want {
			t.Errorf("replyTo(%v, storing %v) = %+v, want %+v", tc.err, tc.storing, got, tc.want)
		}
	}
}
