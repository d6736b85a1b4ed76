package driver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"
)

// The lib lists a directory from a slice with one os.FileInfo per entry,
// all built before the first line is sent (LIST, NLST, MLSD, STAT). Full
// FileInfos of a large directory cost tens of MB per listing; the entries
// of a lazyList hold only their names, and each entry's details are read
// when the lib asks for them, one entry at a time.

// listBatch is how many names are read from a directory at once.
const listBatch = 1024

// errTooManyEntries refuses a listing beyond server.max_list_entries.
var errTooManyEntries = errors.New("too many entries to list")

// lazyList is the listing of one directory.
type lazyList struct {
	fs  afero.Fs
	dir string

	mu      sync.Mutex
	current *lazyEntry  // the entry whose details info holds
	info    os.FileInfo // nil when the entry vanished after it was named
}

// lazyEntry is one entry of a lazyList; it implements os.FileInfo.
type lazyEntry struct {
	list *lazyList
	name string
}

// readLazyDir lists dir of fs, sorted by name, without partial uploads.
// More than limit entries (0: no limit) is errTooManyEntries.
func readLazyDir(fs afero.Fs, dir string, limit int) ([]os.FileInfo, error) {
	l := &lazyList{fs: fs, dir: dir}
	chunks, n, err := l.readNames(limit)
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, 0, n)
	for _, chunk := range chunks {
		for i := range chunk {
			infos = append(infos, &chunk[i])
		}
	}
	slices.SortFunc(infos, func(a, b os.FileInfo) int {
		return strings.Compare(a.(*lazyEntry).name, b.(*lazyEntry).name)
	})
	return infos, nil
}

// readNames reads the directory's names in batches, into one chunk of
// entries per batch (no array is copied as the listing grows), and
// returns them with their count.
func (l *lazyList) readNames(limit int) ([][]lazyEntry, int, error) {
	d, err := l.fs.Open(l.dir)
	if err != nil {
		return nil, 0, err
	}
	defer d.Close()
	var chunks [][]lazyEntry
	n := 0
	for {
		names, err := d.Readdirnames(listBatch)
		chunk := make([]lazyEntry, 0, len(names))
		for _, name := range names {
			if !strings.HasPrefix(name, uploadPrefix) {
				chunk = append(chunk, lazyEntry{list: l, name: name})
			}
		}
		chunks, n = append(chunks, chunk), n+len(chunk)
		if limit > 0 && n > limit {
			return nil, 0, fmt.Errorf("%w: %s has more than %d (server.max_list_entries)", errTooManyEntries, l.dir, limit)
		}
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			return chunks, n, nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

// details returns the FileInfo of e, read when first asked for; nil when
// the entry is gone.
func (e *lazyEntry) details() os.FileInfo {
	l := e.list
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.current != e {
		l.current = e
		l.info, _, _ = lstat(l.fs, path.Join(l.dir, e.name))
	}
	return l.info
}

func (e *lazyEntry) Name() string { return e.name }

func (e *lazyEntry) Size() int64 {
	if fi := e.details(); fi != nil {
		return fi.Size()
	}
	return 0
}

func (e *lazyEntry) Mode() os.FileMode {
	if fi := e.details(); fi != nil {
		return fi.Mode()
	}
	return 0
}

func (e *lazyEntry) ModTime() time.Time {
	if fi := e.details(); fi != nil {
		return fi.ModTime()
	}
	return time.Time{}
}

func (e *lazyEntry) IsDir() bool { return e.Mode().IsDir() }

func (e *lazyEntry) Sys() any { return nil }

// readDetailedDir lists dir of fs, sorted by name, keeping the FileInfos
// its Readdir returns: for a backend whose listing carries each entry's
// details (object storage), where reading them again would cost one
// request per entry. More than limit entries (0: no limit) is
// errTooManyEntries.
func readDetailedDir(fs afero.Fs, dir string, limit int) ([]os.FileInfo, error) {
	d, err := fs.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var infos []os.FileInfo
	for {
		batch, err := d.Readdir(listBatch)
		infos = append(infos, batch...)
		if limit > 0 && len(infos) > limit {
			return nil, fmt.Errorf("%w: %s has more than %d (server.max_list_entries)", errTooManyEntries, dir, limit)
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(infos, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return infos, nil
}
