package driver

import (
	"crypto/rand"
	"fmt"
	"os"
	"path"
	"strings"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// uploadTempLen is the length of the random part of an upload's name:
// short and fixed, so that the hidden name never grows past the longest
// name the client may store.
const uploadTempLen = 8

// dirOpener is a home whose uploads go through a hidden file (features
// without atomicUpload): openDir returns the directory name as a
// filesystem of its own and its close; on disk it holds the directory
// open, so that what is done in it stays in it even if the directory is
// moved or replaced.
type dirOpener interface {
	afero.Fs
	openDir(name string) (afero.Fs, func() error, error)
}

// hiddenUpload is a file being received beside its target, in a directory
// held open (see dirOpener): renaming or removing it there stays there even
// if the directory is moved or swapped for a symbolic link meanwhile.
type hiddenUpload struct {
	afero.File
	dir      afero.Fs
	closeDir func() error
	tmp      string // base name of the hidden file in dir
	name     string // base name of the target in dir
	target   string // the target as the client named it
	failed   error
}

// createHiddenUpload opens the hidden file of an upload to target, the
// upload of homes without features.atomicUpload; a target that is a
// directory is refused (the rename would fail only once the whole upload
// was received).
func createHiddenUpload(home dirOpener, target string) (ftpserver.FileTransfer, error) {
	dir, closeDir, err := home.openDir(path.Dir(target))
	if err != nil {
		return nil, err
	}
	if info, _, err := lstat(dir, path.Base(target)); err == nil && info.IsDir() {
		_ = closeDir()
		return nil, &os.PathError{Op: "store", Path: target, Err: errIsDir}
	}
	tmp := uploadPrefix + strings.ToLower(rand.Text()[:uploadTempLen])
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		_ = closeDir()
		return nil, err
	}
	return &hiddenUpload{File: f, dir: dir, closeDir: closeDir, tmp: tmp, name: path.Base(target), target: target}, nil
}

// TransferError records that the transfer broke; Close then discards the
// partial file.
func (u *hiddenUpload) TransferError(err error) { u.fail(err) }

func (u *hiddenUpload) fail(err error) {
	if u.failed == nil {
		u.failed = err
	}
}

// Write writes to the hidden file; a failure fails the upload.
func (u *hiddenUpload) Write(p []byte) (int, error) {
	n, err := u.File.Write(p)
	if err != nil {
		u.fail(err)
	}
	return n, err
}

// Seek fails the upload when it fails: the lib then closes the file
// without reporting the error.
func (u *hiddenUpload) Seek(offset int64, whence int) (int64, error) {
	n, err := u.File.Seek(offset, whence)
	if err != nil {
		u.fail(err)
	}
	return n, err
}

// Close renames the finished upload over its target, or removes it when
// anything failed.
func (u *hiddenUpload) Close() error {
	defer func() { _ = u.closeDir() }()
	err := u.File.Close()
	if err == nil && u.failed == nil {
		if err = u.dir.Rename(u.tmp, u.name); err == nil {
			return nil
		}
	}
	_ = u.dir.Remove(u.tmp) // the partial copy is worthless
	if err != nil {
		return fmt.Errorf("store %s: %w", u.target, err)
	}
	return nil
}
