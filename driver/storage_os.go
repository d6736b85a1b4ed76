package driver

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"go.uber.org/zap"

	"ftpsd/driver/rootfs"
)

// osBackend keeps the homes in directories under storage.root; each is
// opened as an os.Root (rootfs), shared by the sessions of the home.
type osBackend struct {
	root  string
	homes homes // the homes' roots open now
}

func (b *osBackend) check() error {
	info, err := os.Stat(b.root)
	if err != nil {
		return fmt.Errorf("storage.root %s: %w", b.root, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("storage.root %s: not a directory", b.root)
	}
	return nil
}

func (b *osBackend) makeHome(dir string) error {
	return os.MkdirAll(filepath.Join(b.root, dir), 0o750)
}

func (b *osBackend) checkHome(dir string) error { return checkMkdirAll(os.Stat, b.root, dir) }

// open returns the home at dir; the sessions of one home share its root
// (see homes).
func (b *osBackend) open(dir string) (home, error) {
	fs, release, err := b.homes.acquire(filepath.Join(b.root, dir))
	if err != nil {
		return nil, err
	}
	return &osHome{Fs: fs, release: release, dir: filepath.Join(b.root, dir)}, nil
}

func (b *osBackend) removeOrphans(now time.Time, logger *zap.Logger) {
	removeOrphanUploads(b.root, now, logger)
}

func (b *osBackend) uploadMemory() int64 { return 0 }

// osHome is a home on disk.
type osHome struct {
	*rootfs.Fs
	release func() error // once
	dir     string       // the home on disk: storage.root joined with the user's home
}

// upload writes to a hidden file renamed over name at the end.
func (h *osHome) upload(name string) (ftpserver.FileTransfer, error) {
	return createHiddenUpload(h, name)
}

// openDir holds the directory name open, so that what is done in it
// stays in it even if the directory is moved or replaced meanwhile.
func (h *osHome) openDir(name string) (afero.Fs, func() error, error) {
	dir, err := h.OpenDir(name)
	if err != nil {
		return nil, nil, err
	}
	return dir, dir.Close, nil
}

func (h *osHome) features() features { return features{resume: true, dirRename: true} }

// storePath returns the absolute path of name on disk (storage.root may
// be relative to the working directory, which a hook's command need not
// share).
func (h *osHome) storePath(name string) string {
	p := filepath.Join(h.dir, filepath.FromSlash(path.Clean("/"+name)))
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func (h *osHome) close() error { return h.release() }
