package driver

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// storage opens users' homes on the configured backend.
type storage struct {
	backend config.Backend
	root    string
	mem     afero.Fs // backend "memory"
	homes   homes    // backend "disk": the homes' roots open now
	s3      *s3fs.Fs // backend "s3": the tree under storage.prefix
}

// userFs is one session's view of a user's home.
type userFs struct {
	afero.Fs
	close func() error // releases the session's hold on the home, once
	// openDir returns the directory name as a filesystem of its own and
	// its close; on disk it holds the directory open, so that what is
	// done in it stays in it even if the directory is moved or replaced.
	openDir func(name string) (afero.Fs, func() error, error)
	// upload, when set, stores a fresh upload (STOR) by itself, all or
	// nothing (object storage); else it goes through a hidden file.
	upload func(name string) (ftpserver.FileTransfer, error)
	// listWhole: a listing reads the directory in one batch, because the
	// backend's Readdir sorts the whole directory on every call (afero's
	// MemMapFs, whose entries are in memory anyway).
	listWhole bool
}

// newStorage opens the configured backend and creates the users' homes.
// getenv gives backend "s3" its credentials from the environment.
func newStorage(cfg config.Storage, users []config.User, getenv func(string) string) (*storage, error) {
	s := &storage{backend: cfg.Backend, root: cfg.Root}
	var err error
	switch s.backend {
	case config.BackendMemory:
		s.mem = afero.NewMemMapFs()
	case config.BackendS3:
		s.s3, err = openS3(cfg, getenv)
	default:
		err = CheckStorage(cfg, getenv)
	}
	if err != nil {
		return nil, err
	}
	if err := s.ensureHomes(users); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckStorage returns an error naming the key at fault unless the
// backend is "memory", the root is an existing directory (backend "os"),
// or the bucket answers with the credentials (backend "s3", with
// getenv's AWS_* variables unless the configuration names credentials):
// what the server needs to start (it creates the users' homes, not the
// root or the bucket).
func CheckStorage(cfg config.Storage, getenv func(string) string) error {
	switch cfg.Backend {
	case config.BackendMemory:
		return nil
	case config.BackendS3:
		_, err := openS3(cfg, getenv)
		return err
	}
	info, err := os.Stat(cfg.Root)
	if err != nil {
		return fmt.Errorf("storage.root %s: %w", cfg.Root, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("storage.root %s: not a directory", cfg.Root)
	}
	return nil
}

// ensureHomes creates the homes of users that do not exist yet; existing
// ones and their files are left as they are.
func (s *storage) ensureHomes(users []config.User) error {
	for _, u := range users {
		var err error
		switch s.backend {
		case config.BackendMemory:
			err = s.mem.MkdirAll(path.Join("/", u.Home), 0o750)
		case config.BackendS3:
			err = s.s3.MkdirAll(u.Home, 0o750)
		default:
			err = os.MkdirAll(filepath.Join(s.root, u.Home), 0o750)
		}
		if err != nil {
			return fmt.Errorf("create home of %s: %w", u.Name, err)
		}
	}
	return nil
}

// open returns the user's home as a confined filesystem; on disk, the
// sessions of one home share its root (see homes).
func (s *storage) open(u config.User) (*userFs, error) {
	if s.backend == config.BackendS3 {
		return openS3Home(s.s3, u.Home), nil
	}
	if s.backend == config.BackendMemory {
		fs := afero.NewBasePathFs(s.mem, path.Join("/", u.Home))
		nop := func() error { return nil }
		return &userFs{Fs: fs, close: nop, listWhole: true, openDir: func(name string) (afero.Fs, func() error, error) {
			return afero.NewBasePathFs(fs, name), nop, nil
		}}, nil
	}
	fs, release, err := s.homes.acquire(filepath.Join(s.root, u.Home))
	if err != nil {
		return nil, err
	}
	return &userFs{Fs: fs, close: release, openDir: func(name string) (afero.Fs, func() error, error) {
		dir, err := fs.OpenDir(name)
		if err != nil {
			return nil, nil, err
		}
		return dir, dir.Close, nil
	}}, nil
}

// LstatIfPossible does not follow a final symbolic link where the backend
// can (afero.Lstater).
func (u *userFs) LstatIfPossible(name string) (os.FileInfo, bool, error) { return lstat(u.Fs, name) }
