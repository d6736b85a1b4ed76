package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// A backend is where the users' homes are: a directory of the host
// (storage.backend "os", storage_os.go), the process's memory ("memory",
// storage_memory.go) or a bucket ("s3", storage_s3.go). The driver asks
// every backend the same things; what a backend cannot do, its homes say
// (features) and the driver refuses, so that what comes between the
// client and the files (the transfer log, limits, hooks) is written once,
// in the driver.
type backend interface {
	// check returns an error naming the key at fault unless the backend
	// can serve: the root exists, the bucket answers. It is what the
	// server needs to start, and what `ftpsd check` checks.
	check() error
	// makeHome creates the home dir (relative to the backend's root) and
	// its parents unless they exist; existing files are left as they are.
	makeHome(dir string) error
	// checkHome returns the error makeHome(dir) would, as far as it can
	// be known without creating anything: a part of dir that exists and
	// is not a directory (see checkMkdirAll).
	checkHome(dir string) error
	// open returns the home dir for one session, which closes it.
	open(dir string) (home, error)
	// removeOrphans removes what the uploads of a crashed server left
	// behind, logging each; called once, at start.
	removeOrphans(now time.Time, logger *zap.Logger)
	// uploadMemory returns the bytes the uploads in flight hold in memory
	// (storage.max_upload_memory; 0 where uploads go to a file).
	uploadMemory() int64
}

// A home is one session's view of a user's home, confined to it: the
// names it takes are the client's, rooted at the home.
type home interface {
	afero.Fs
	// upload opens a new content of name (STOR without REST), all or
	// nothing: name changes only when the upload closes after a complete
	// transfer; after TransferError or a failed Write, Close discards it
	// and the stored copy stays. A name that is a directory is refused.
	upload(name string) (ftpserver.FileTransfer, error)
	// features says what the home can do beyond afero.Fs.
	features() features
	// storePath returns where name is on the store, as the administrator
	// finds it there: a path under storage.root, an object key in the
	// bucket, a path in the memory backend. It is for the events (hooks),
	// not for access.
	storePath(name string) string
	// close releases the session's hold on the home; later calls do
	// nothing.
	close() error
}

// features are what a backend can do, which the driver must know.
type features struct {
	// atomicUpload: the store swaps a file's content by itself (a
	// multipart upload), and nothing of an upload is in the home until it
	// completed; else upload writes a hidden file beside the target
	// (uploadPrefix), renamed over it at the end, which takes space as
	// another file would while it lasts.
	atomicUpload bool
	// resume: a file can be written into at an offset or at its end (REST
	// then STOR, APPE); else the driver refuses those (errNoAppend).
	resume bool
	// dirRename: a directory is renamed on the server at once; else its
	// rename is refused (s3fs.ErrDirRename).
	dirRename bool
	// listWhole: a listing reads the directory in one batch, because the
	// backend's Readdir sorts the whole directory on every call (afero's
	// MemMapFs, whose entries are in memory anyway).
	listWhole bool
}

// errNoAppend refuses APPE and REST+STOR on a home without
// features.resume (object storage, whose own refusal it is).
var errNoAppend = s3fs.ErrNoAppend

// newBackend returns the backend storage.backend names, without checking
// it. getenv gives backend "s3" its credentials from the environment.
func newBackend(cfg config.Storage, getenv func(string) string) (backend, error) {
	switch cfg.Backend {
	case config.BackendMemory:
		return newMemoryBackend(), nil
	case config.BackendS3:
		return newS3Backend(cfg, getenv)
	default:
		return &osBackend{root: cfg.Root}, nil
	}
}

// CheckStorage returns an error naming the key at fault unless the
// backend is "memory", the root is an existing directory (backend "os"),
// or the bucket answers with the credentials (backend "s3", with
// getenv's AWS_* variables unless the configuration names credentials):
// what the server needs to start (it creates the users' homes, not the
// root or the bucket).
func CheckStorage(cfg config.Storage, getenv func(string) string) error {
	_, err := checkedBackend(cfg, getenv)
	return err
}

// newStorage opens and checks the configured backend and creates the
// users' homes.
func newStorage(cfg config.Storage, users []config.User, getenv func(string) string) (backend, error) {
	return openStorage(cfg, users, getenv, false)
}

// openStorage opens and checks the configured backend and creates the
// users' homes; with dryRun it creates none and checks instead that each
// exists or can be created (checkHome).
func openStorage(cfg config.Storage, users []config.User, getenv func(string) string, dryRun bool) (backend, error) {
	b, err := checkedBackend(cfg, getenv)
	if err != nil {
		return nil, err
	}
	home := b.makeHome
	if dryRun {
		home = b.checkHome
	}
	if err := eachHome(users, home); err != nil {
		return nil, err
	}
	return b, nil
}

// checkedBackend returns the backend storage.backend names once check
// passed.
func checkedBackend(cfg config.Storage, getenv func(string) string) (backend, error) {
	b, err := newBackend(cfg, getenv)
	if err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return b, nil
}

// checkMkdirAll returns the error a MkdirAll of dir below base (an
// existing directory) would meet at a part of it that exists and is not a
// directory, or that stat cannot read; it creates nothing. stat is the
// backend's.
func checkMkdirAll(stat func(string) (fs.FileInfo, error), base, dir string) error {
	cur := base
	for _, elem := range strings.Split(filepath.ToSlash(filepath.Clean(dir)), "/") {
		if elem == "" || elem == "." {
			continue
		}
		cur = filepath.Join(cur, elem)
		info, err := stat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // created from here on down
		case err != nil:
			return err
		case !info.IsDir():
			return &fs.PathError{Op: "mkdir", Path: cur, Err: syscall.ENOTDIR}
		}
	}
	return nil
}

// makeHomes creates the homes of users that do not exist yet; existing
// ones and their files are left as they are.
func makeHomes(b backend, users []config.User) error { return eachHome(users, b.makeHome) }

// eachHome calls home with the home of each user until one fails.
func eachHome(users []config.User, home func(dir string) error) error {
	for _, u := range users {
		if err := home(u.Home); err != nil {
			return fmt.Errorf("create home of %s: %w", u.Name, err)
		}
	}
	return nil
}
