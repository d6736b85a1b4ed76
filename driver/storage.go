package driver

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/afero"

	"ftpsd/config"
)

// storage opens users' homes on the configured backend.
type storage struct {
	backend config.Backend
	root    string
	mem     afero.Fs // backend "memory"
	homes   homes    // backend "disk": the homes' roots open now
}

// userFs is one session's view of a user's home.
type userFs struct {
	afero.Fs
	close func() error // releases the session's hold on the home, once
	// openDir returns the directory name as a filesystem of its own and
	// its close; on disk it holds the directory open, so that what is
	// done in it stays in it even if the directory is moved or replaced.
	openDir func(name string) (afero.Fs, func() error, error)
}

// newStorage opens the configured backend and creates the users' homes.
func newStorage(cfg config.Storage, users []config.User) (*storage, error) {
	s := &storage{backend: cfg.Backend, root: cfg.Root}
	if err := CheckStorage(cfg); err != nil {
		return nil, err
	}
	if s.backend == config.BackendMemory {
		s.mem = afero.NewMemMapFs()
	}
	if err := s.ensureHomes(users); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckStorage returns an error naming storage.root unless the backend
// is "memory" or the root is an existing directory: what the server needs
// to start (it creates the users' homes, not the root).
func CheckStorage(cfg config.Storage) error {
	if cfg.Backend == config.BackendMemory {
		return nil
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
		if s.backend == config.BackendMemory {
			err = s.mem.MkdirAll(path.Join("/", u.Home), 0o750)
		} else {
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
	if s.backend == config.BackendMemory {
		fs := afero.NewBasePathFs(s.mem, path.Join("/", u.Home))
		nop := func() error { return nil }
		return &userFs{Fs: fs, close: nop, openDir: func(name string) (afero.Fs, func() error, error) {
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
