package driver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"ftpsd/metrics"
)

// uploadPrefix starts the name of a file being uploaded; it is renamed over
// the target only when the upload completes, and hidden from listings.
const uploadPrefix = ".ftpsd-upload-"

// errReadOnly is returned for every write of a read-only user; the lib
// answers 550.
var errReadOnly = fmt.Errorf("read-only account: %w", os.ErrPermission)

// clientFs is the ftpserver.ClientDriver of one logged-in session.
type clientFs struct {
	afero.Fs
	session  *session
	readOnly bool
}

func newClientFs(fs *userFs, readOnly bool, s *session) *clientFs {
	var base afero.Fs = fs
	if readOnly {
		base = afero.NewReadOnlyFs(fs)
	}
	return &clientFs{Fs: base, session: s, readOnly: readOnly}
}

var (
	_ ftpserver.ClientDriver                      = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*clientFs)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*clientFs)(nil)
)

// GetHandle opens a file for RETR, STOR or APPE. A fresh STOR writes to a
// hidden file beside the target and renames it over the target only when
// the transfer completed, so a broken upload never destroys the stored
// copy. APPE and a resumed STOR (REST) write in place.
func (c *clientFs) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	if err := c.session.beginTransfer(); err != nil {
		return nil, err
	}
	f, err := c.getHandle(name, flags, offset)
	if err != nil {
		c.session.endTransfer()
		return nil, err
	}
	return f, nil
}

// getHandle is GetHandle within beginTransfer/endTransfer: the returned
// loggedTransfer calls endTransfer when it closes.
func (c *clientFs) getHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	write := flags&(os.O_WRONLY|os.O_RDWR) != 0
	if !write {
		f, err := c.Open(name)
		if err != nil {
			return nil, err
		}
		return newLoggedTransfer(f, c.session, name, metrics.Download), nil
	}
	if c.readOnly {
		return nil, errReadOnly
	}
	if isUploadTemp(name) {
		return nil, fmt.Errorf("%w: names starting with %s are reserved", ftpserver.ErrFileNameNotAllowed, uploadPrefix)
	}
	if flags&os.O_APPEND != 0 || offset > 0 {
		f, err := c.OpenFile(name, flags, 0o644)
		if err != nil {
			return nil, err
		}
		return newLoggedTransfer(f, c.session, name, metrics.Upload), nil
	}
	u, err := createUpload(c.Fs, name)
	if err != nil {
		return nil, err
	}
	return newLoggedTransfer(u, c.session, name, metrics.Upload), nil
}

// ReadDir lists a directory, sorted by name, without uploads in progress.
func (c *clientFs) ReadDir(name string) ([]os.FileInfo, error) {
	entries, err := afero.ReadDir(c.Fs, name)
	if err != nil {
		return nil, err
	}
	kept := entries[:0]
	for _, e := range entries {
		if !isUploadTemp(e.Name()) {
			kept = append(kept, e)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name() < kept[j].Name() })
	return kept, nil
}

func isUploadTemp(name string) bool {
	return strings.HasPrefix(path.Base(name), uploadPrefix)
}

// upload is a file being received beside its target.
type upload struct {
	afero.File
	fs       afero.Fs
	tmp      string
	target   string
	transfer error
}

func createUpload(fs afero.Fs, target string) (*upload, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("upload name: %w", err)
	}
	tmp := path.Join(path.Dir(target), uploadPrefix+hex.EncodeToString(rnd[:])+"-"+path.Base(target))
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &upload{File: f, fs: fs, tmp: tmp, target: target}, nil
}

// TransferError records that the transfer broke; Close then discards the
// partial file.
func (u *upload) TransferError(err error) { u.transfer = err }

// Close renames the finished upload over its target, or removes it when
// the transfer broke.
func (u *upload) Close() error {
	err := u.File.Close()
	if err == nil && u.transfer == nil {
		if err = u.fs.Rename(u.tmp, u.target); err == nil {
			return nil
		}
	}
	_ = u.fs.Remove(u.tmp) // the partial copy is worthless
	if err != nil {
		return fmt.Errorf("store %s: %w", u.target, err)
	}
	return nil
}
