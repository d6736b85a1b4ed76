package driver

import (
	"os"
	"path"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"go.uber.org/zap"
)

// memoryBackend keeps the homes in the process's memory (afero's
// MemMapFs), for tests and trials: they are lost when the process ends.
type memoryBackend struct {
	fs afero.Fs
}

func newMemoryBackend() *memoryBackend { return &memoryBackend{fs: afero.NewMemMapFs()} }

func (b *memoryBackend) check() error { return nil }

func (b *memoryBackend) makeHome(dir string) error {
	return b.fs.MkdirAll(path.Join("/", dir), 0o750)
}

// checkHome has nothing to refuse: makeHome does not fail (afero's
// MemMapFs makes a directory even over a file).
func (b *memoryBackend) checkHome(string) error { return nil }

func (b *memoryBackend) open(dir string) (home, error) {
	root := path.Join("/", dir)
	return &memoryHome{Fs: afero.NewBasePathFs(b.fs, root), root: root}, nil
}

// removeOrphans has nothing to do: a crashed server's memory is gone.
func (b *memoryBackend) removeOrphans(time.Time, *zap.Logger) {}

func (b *memoryBackend) uploadMemory() int64 { return 0 }

// memoryHome is a home in memory.
type memoryHome struct {
	afero.Fs
	root string // the home in the backend's tree
}

// upload writes to a hidden file renamed over name at the end.
func (h *memoryHome) upload(name string) (ftpserver.FileTransfer, error) {
	return createHiddenUpload(h, name)
}

func (h *memoryHome) openDir(name string) (afero.Fs, func() error, error) {
	return afero.NewBasePathFs(h.Fs, name), func() error { return nil }, nil
}

// LstatIfPossible does not follow a final symbolic link (afero.Lstater).
func (h *memoryHome) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	return lstat(h.Fs, name)
}

func (h *memoryHome) features() features {
	return features{resume: true, dirRename: true, listWhole: true}
}

func (h *memoryHome) storePath(name string) string { return path.Join(h.root, path.Clean("/"+name)) }

func (h *memoryHome) close() error { return nil }
