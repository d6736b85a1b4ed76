// Package rootfs provides an afero.Fs confined to one directory with Go's
// os.Root, so that "..", absolute paths and symlinks cannot escape it.
//
// afero's BasePathFs only checks path prefixes and follows symlinks out of
// its base directory; every operation of this Fs instead goes through an
// *os.Root, which resolves paths relative to an open directory handle and
// refuses any component (including a symlink target) that leaves it.
//
// Incoming names are slash paths, absolute or relative, as passed by
// ftpserverlib. They are cleaned against "/" before use, so "/../../etc"
// maps to "etc" inside the root. Creating symlinks is deliberately not
// supported.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/afero"
)

// Fs is an afero.Fs whose every operation goes through an *os.Root.
// Its errors and its files' names and errors carry the caller's path
// (absolute from the root, e.g. "/dir/f"), never the host's.
// Safe for concurrent use.
type Fs struct {
	root *os.Root
	name string
	// prefix is the caller's path of the root: "/" for an Fs from New,
	// the directory's path for one from OpenDir.
	prefix string
}

var (
	_ afero.Fs      = (*Fs)(nil)
	_ afero.Lstater = (*Fs)(nil)
)

// New opens dir (which must exist) as a root.
func New(dir string) (*Fs, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &Fs{root: root, name: "RootFs(" + dir + ")", prefix: "/"}, nil
}

// Close releases the root directory handle. Files already opened stay valid.
func (f *Fs) Close() error { return f.root.Close() }

// Name returns the name of this filesystem, including the root directory.
func (f *Fs) Name() string { return f.name }

// rel maps an incoming slash path (absolute or relative) to a clean path
// relative to the root; it can never start with "..".
func rel(name string) string {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	if p == "" {
		return "."
	}
	return p
}

// userPath is the caller's path of name: what errors show.
func (f *Fs) userPath(name string) string { return path.Join(f.prefix, rel(name)) }

// userErr returns err with the host path or the root-relative one of an
// *os.PathError replaced by the caller's path of name.
func (f *Fs) userErr(err error, name string) error { return withPath(err, f.userPath(name)) }

// ErrEscapes is the error of a name that leads out of the root (a
// symbolic link to outside): os.Root's "path escapes from parent", which
// Go does not export, made a permission error.
var ErrEscapes = fmt.Errorf("path escapes from parent: %w", os.ErrPermission)

// rootEscapeText is the text of os.Root's own error for such a name.
const rootEscapeText = "path escapes from parent"

// withPath returns err with the path of an *os.PathError replaced by p,
// and os.Root's escape error replaced by ErrEscapes.
func withPath(err error, p string) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		cause := pe.Err
		if cause != nil && cause.Error() == rootEscapeText {
			cause = ErrEscapes
		}
		return &os.PathError{Op: pe.Op, Path: p, Err: cause}
	}
	return err
}

// perm keeps only the permission bits: os.Root rejects any other bit.
func perm(mode os.FileMode) os.FileMode { return mode & os.ModePerm }

// file converts an *os.File result into an afero.File named by the
// caller's path, without producing a non-nil interface holding a nil
// pointer.
func (f *Fs) file(fh *os.File, err error, name string) (afero.File, error) {
	if err != nil {
		return nil, f.userErr(err, name)
	}
	return &File{File: fh, name: f.userPath(name)}, nil
}

// Create creates or truncates the named file.
func (f *Fs) Create(name string) (afero.File, error) {
	fh, err := f.root.Create(rel(name))
	return f.file(fh, err, name)
}

// Open opens the named file or directory for reading.
func (f *Fs) Open(name string) (afero.File, error) {
	fh, err := f.root.Open(rel(name))
	return f.file(fh, err, name)
}

// OpenFile opens the named file with the given flags and permission bits.
func (f *Fs) OpenFile(name string, flag int, mode os.FileMode) (afero.File, error) {
	fh, err := f.root.OpenFile(rel(name), flag, perm(mode))
	return f.file(fh, err, name)
}

// Mkdir creates a directory.
func (f *Fs) Mkdir(name string, mode os.FileMode) error {
	return f.userErr(f.root.Mkdir(rel(name), perm(mode)), name)
}

// MkdirAll creates a directory and any missing parents.
func (f *Fs) MkdirAll(name string, mode os.FileMode) error {
	return f.userErr(f.root.MkdirAll(rel(name), perm(mode)), name)
}

// Remove removes a file or an empty directory.
func (f *Fs) Remove(name string) error { return f.userErr(f.root.Remove(rel(name)), name) }

// RemoveAll removes a path and any children it contains.
func (f *Fs) RemoveAll(name string) error { return f.userErr(f.root.RemoveAll(rel(name)), name) }

// Rename moves oldname to newname, both inside the root.
func (f *Fs) Rename(oldname, newname string) error {
	err := f.root.Rename(rel(oldname), rel(newname))
	var le *os.LinkError
	if errors.As(err, &le) {
		return &os.LinkError{Op: le.Op, Old: f.userPath(oldname), New: f.userPath(newname), Err: le.Err}
	}
	return f.userErr(err, oldname)
}

// Stat returns file info, following symlinks that stay inside the root.
func (f *Fs) Stat(name string) (os.FileInfo, error) {
	fi, err := f.root.Stat(rel(name))
	return fi, f.userErr(err, name)
}

// LstatIfPossible returns file info without following a final symlink.
// It implements afero.Lstater; the bool is always true.
func (f *Fs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	fi, err := f.root.Lstat(rel(name))
	return fi, true, f.userErr(err, name)
}

// Chmod changes the mode of the named file.
func (f *Fs) Chmod(name string, mode os.FileMode) error {
	return f.userErr(f.root.Chmod(rel(name), mode), name)
}

// Chown changes the owner and group of the named file.
func (f *Fs) Chown(name string, uid, gid int) error {
	return f.userErr(f.root.Chown(rel(name), uid, gid), name)
}

// Chtimes changes the access and modification times of the named file.
func (f *Fs) Chtimes(name string, atime, mtime time.Time) error {
	return f.userErr(f.root.Chtimes(rel(name), atime, mtime), name)
}

// OpenDir opens the directory name as a root of its own: operations on it
// stay in that directory even if it is moved or replaced meanwhile. Close
// it when done.
func (f *Fs) OpenDir(name string) (*Fs, error) {
	sub, err := f.root.OpenRoot(rel(name))
	if err != nil {
		return nil, f.userErr(err, name)
	}
	return &Fs{root: sub, name: "RootFs(" + sub.Name() + ")", prefix: f.userPath(name)}, nil
}
