package driver

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"ftpsd/hooks"
	"ftpsd/metrics"
	"ftpsd/quota"
)

// uploadPrefix starts the name of a file being uploaded; it is renamed over
// the target only when the upload completes, and hidden from listings.
const uploadPrefix = ".ftpsd-upload-"

// Errors of the client's requests.
var (
	// errReadOnly is returned for every write of a read-only user; the
	// lib answers 550.
	errReadOnly = fmt.Errorf("read-only account: %w", os.ErrPermission)
	// errReserved refuses names of partial uploads; the lib answers 553.
	errReserved = fmt.Errorf("%w: names starting with %s are reserved", ftpserver.ErrFileNameNotAllowed, uploadPrefix)
	// errBadOffset refuses a negative restart offset (REST).
	errBadOffset = errors.New("invalid restart offset")
	// errIsDir refuses RETR of a directory and DELE of one.
	errIsDir = errors.New("is a directory")
	// errNotDir refuses RMD of anything but a directory.
	errNotDir = errors.New("not a directory")
	// errFileShrank fails a download whose file ended before the size it
	// had when the download began (truncated, or rewritten in place).
	errFileShrank = errors.New("the file ended before its size when the download began: it changed during the download")
)

// clientFs is the ftpserver.ClientDriver of one logged-in session.
type clientFs struct {
	afero.Fs
	home     home
	session  *session
	readOnly bool
	maxList  int        // server.max_list_entries (0: no limit)
	lists    *listings  // the server's listings in progress
	quota    *homeQuota // the home's usage and the account's quota
}

func newClientFs(fs home, readOnly bool, s *session, maxList int, lists *listings, q *homeQuota) *clientFs {
	var base afero.Fs = fs
	if readOnly {
		base = afero.NewReadOnlyFs(fs)
	}
	return &clientFs{Fs: base, home: fs, session: s, readOnly: readOnly, maxList: maxList, lists: lists, quota: q}
}

var (
	_ ftpserver.ClientDriver                      = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtensionAllocate     = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtensionSite         = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtensionHasher       = (*clientFs)(nil)
)

// GetHandle opens a file for RETR, STOR or APPE. A fresh STOR writes to a
// hidden file beside the target and renames it over the target only when
// the transfer completed, so a broken upload never destroys the stored
// copy; on object storage the store does the same (see home.upload). APPE
// and a resumed STOR (REST) write in place, and are refused where the
// backend cannot (features.resume: object storage). An upload is held to
// the account's quota (see quota.go). Whatever cannot be done is refused
// here, before the lib opens the transfer (150).
func (c *clientFs) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	if err := c.session.beginTransfer(); err != nil {
		return nil, err
	}
	f, err := c.getHandle(name, flags, offset)
	if err != nil {
		c.session.endTransfer()
		return nil, c.failed(name, err, isWrite(flags))
	}
	return f, nil
}

// isWrite reports whether flags open a file for writing.
func isWrite(flags int) bool { return flags&(os.O_WRONLY|os.O_RDWR) != 0 }

// getHandle is GetHandle within beginTransfer/endTransfer: the returned
// loggedTransfer calls endTransfer when it closes.
func (c *clientFs) getHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%w: %d", errBadOffset, offset)
	}
	if !isWrite(flags) {
		f, size, err := c.openFile(name)
		if err != nil {
			return nil, err
		}
		t := c.transfer(f, name, metrics.Download, offset == 0)
		t.end = size
		return t, nil
	}
	if c.readOnly {
		return nil, errReadOnly
	}
	if isUploadTemp(name) {
		return nil, errReserved
	}
	if flags&os.O_APPEND != 0 || offset > 0 {
		if !c.home.features().resume {
			return nil, &os.PathError{Op: "store", Path: name, Err: errNoAppend}
		}
		if err := c.wantOffsetWithin(name, offset); err != nil {
			return nil, err
		}
		up, err := c.beginUpload(name, offset, flags&os.O_APPEND != 0)
		if err != nil {
			return nil, err
		}
		f, err := c.OpenFile(name, flags, 0o644)
		if err != nil {
			up.End(false)
			return nil, err
		}
		return c.transfer(withQuota(f, up, true), name, metrics.Upload, false), nil
	}
	up, err := c.beginUpload(name, 0, false)
	if err != nil {
		return nil, err
	}
	f, err := c.home.upload(name)
	if err != nil {
		up.End(false)
		return nil, err
	}
	return c.transfer(withQuota(f, up, false), name, metrics.Upload, true), nil
}

// transfer wraps the file of a transfer of name in its log line and its
// event; whole says whether it covers the whole file (its checksum is
// then the file's).
func (c *clientFs) transfer(f ftpserver.FileTransfer, name, direction string, whole bool) *loggedTransfer {
	t := newLoggedTransfer(f, c.session, name, direction)
	t.event = c.newTransferEvent(name, direction, whole)
	return t
}

// wantOffsetWithin refuses a resumed upload (REST, then STOR) whose offset
// lies beyond the end of the stored file: it would leave a hole, and a
// client could make a file of any apparent size (a sparse terabyte).
func (c *clientFs) wantOffsetWithin(name string, offset int64) error {
	if offset == 0 {
		return nil
	}
	var size int64
	if info, err := c.Fs.Stat(name); err == nil {
		size = info.Size()
	}
	if offset > size {
		return fmt.Errorf("%w: %d is beyond the end of %s (%d bytes)", errBadOffset, offset, name, size)
	}
	return nil
}

// openFile opens name for reading and returns its size (-1 for what is
// not a regular file: a pipe's size says nothing of what it gives); a
// directory is refused before any data connection is opened for it.
func (c *clientFs) openFile(name string) (afero.File, int64, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil || info.IsDir() {
		_ = f.Close()
		if err == nil {
			err = &os.PathError{Op: "open", Path: name, Err: errIsDir}
		}
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return f, -1, nil
	}
	return f, info.Size(), nil
}

// Rename refuses to rename to or from the name of a partial upload. Its
// failures name the target (RNTO's argument: RNFR checked the source). A
// file it replaces leaves the home's usage.
func (c *clientFs) Rename(oldname, newname string) error {
	if isUploadTemp(oldname) {
		return c.failed(oldname, errReserved, false)
	}
	if isUploadTemp(newname) {
		return c.failed(newname, errReserved, false)
	}
	start := time.Now()
	var replaced os.FileInfo
	if c.quota.kept() && path.Clean(oldname) != path.Clean(newname) {
		replaced, _, _ = lstat(c.Fs, newname)
	}
	if err := c.Fs.Rename(oldname, newname); err != nil {
		return c.failed(newname, err, false)
	}
	c.removed(replaced)
	return c.emitRename(oldname, newname, start, nil)
}

// Remove removes a file (DELE); a directory is refused.
func (c *clientFs) Remove(name string) error {
	start := time.Now()
	info, err := c.wantKind(name, false)
	if err == nil {
		err = c.Fs.Remove(name)
	}
	if err != nil {
		return c.failed(name, err, false)
	}
	c.removed(info)
	return c.emitDone(hooks.Delete, name, start, nil)
}

// RemoveDir removes an empty directory (RMD); a file is refused.
func (c *clientFs) RemoveDir(name string) error {
	start := time.Now()
	if _, err := c.wantKind(name, true); err != nil {
		return c.failed(name, err, false)
	}
	return c.emitDone(hooks.Rmdir, name, start, c.failed(name, c.Fs.Remove(name), false))
}

// wantKind returns name's info (not followed if a symbolic link), or an
// error unless it is a directory (dir) or not one.
func (c *clientFs) wantKind(name string, dir bool) (os.FileInfo, error) {
	info, _, err := lstat(c.Fs, name)
	switch {
	case err != nil:
		return nil, err
	case dir && !info.IsDir():
		return nil, &os.PathError{Op: "remove", Path: name, Err: errNotDir}
	case !dir && info.IsDir():
		return nil, &os.PathError{Op: "remove", Path: name, Err: errIsDir}
	}
	return info, nil
}

// lstat is Lstat where fs can, else Stat.
func lstat(fs afero.Fs, name string) (os.FileInfo, bool, error) {
	if l, ok := fs.(afero.Lstater); ok {
		return l.LstatIfPossible(name)
	}
	info, err := fs.Stat(name)
	return info, false, err
}

// Mkdir refuses the names of partial uploads, which listings hide.
func (c *clientFs) Mkdir(name string, perm os.FileMode) error {
	if isUploadTemp(name) {
		return c.failed(name, errReserved, false)
	}
	start := time.Now()
	return c.emitDone(hooks.Mkdir, name, start, c.failed(name, c.Fs.Mkdir(name, perm), false))
}

// MkdirAll is Mkdir for each missing directory of name.
func (c *clientFs) MkdirAll(name string, perm os.FileMode) error {
	for p := name; p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if isUploadTemp(p) {
			return c.failed(name, errReserved, false)
		}
	}
	start := time.Now()
	return c.emitDone(hooks.Mkdir, name, start, c.failed(name, c.Fs.MkdirAll(name, perm), false))
}

// Stat answers SIZE, MDTM, MLST and the lib's checks of a path. The lib
// names paths from the root ("/dir/f"), except when it checks whether the
// argument of LIST is a name or options ("-la"): that failure is no
// failure of the request; and for the hash commands (see hashStat).
func (c *clientFs) Stat(name string) (os.FileInfo, error) {
	if c.hashing() {
		return c.hashStat(name)
	}
	info, err := c.Fs.Stat(name)
	if !path.IsAbs(name) {
		return info, err
	}
	return info, c.failed(name, err, false)
}

// RemoveAll answers the lib's RMDA; what it removed leaves the home's
// usage (what stays, if it fails midway, is counted again).
func (c *clientFs) RemoveAll(name string) error {
	start := time.Now()
	before := c.countIfKept(name)
	err := c.Fs.RemoveAll(name)
	after := c.countIfKept(name)
	c.quota.record(quota.Counts{Bytes: after.Bytes - before.Bytes, Files: after.Files - before.Files})
	return c.emitDone(hooks.Rmdir, name, start, c.failed(name, err, false))
}

// Chmod answers SITE CHMOD.
func (c *clientFs) Chmod(name string, mode os.FileMode) error {
	return c.failed(name, c.Fs.Chmod(name, mode), false)
}

// Chown answers SITE CHOWN.
func (c *clientFs) Chown(name string, uid, gid int) error {
	return c.failed(name, c.Fs.Chown(name, uid, gid), false)
}

// Chtimes answers MFMT.
func (c *clientFs) Chtimes(name string, atime, mtime time.Time) error {
	return c.failed(name, c.Fs.Chtimes(name, atime, mtime), false)
}

func isUploadTemp(name string) bool {
	return strings.HasPrefix(path.Base(name), uploadPrefix)
}
