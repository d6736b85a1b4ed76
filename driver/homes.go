package driver

import (
	"fmt"
	"os"
	"sync"

	"ftpsd/driver/rootfs"
)

// homes shares one open root per home directory among the sessions of that
// home, so that an idle session holds one descriptor (its socket), not two.
// The root is opened by the first session of the home and closed when the
// last one releases it. Homes are told apart by their path on the host:
// users with different homes never share a root; users with the same home
// share it as they share the directory. Safe for concurrent use.
type homes struct {
	mu   sync.Mutex
	open map[string]*sharedRoot // by host path, while a session holds it
}

// sharedRoot is one home's root and the number of its holders.
type sharedRoot struct {
	fs   *rootfs.Fs
	refs int // guarded by homes.mu
}

// acquire returns the root of the home at dir and its release, which must
// be called once. A root still held but whose directory was replaced on
// disk (moved away, another made in its place) is not handed out: the new
// session opens the directory now at dir, as if nobody shared it, while
// the sessions holding the old one keep it.
func (h *homes) acquire(dir string) (*rootfs.Fs, func() error, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.open[dir]
	if r == nil || !r.isAt(dir) {
		fs, err := rootfs.New(dir)
		if err != nil {
			return nil, nil, err
		}
		r = &sharedRoot{fs: fs}
		if h.open == nil {
			h.open = make(map[string]*sharedRoot)
		}
		h.open[dir] = r // a replaced one lives on with its holders
	}
	r.refs++
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() { err = h.release(dir, r) })
		return err
	}
	return r.fs, release, nil
}

// release drops one hold of r, the root of dir, closing it with the last.
func (h *homes) release(dir string, r *sharedRoot) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.refs--
	if r.refs > 0 {
		return nil
	}
	if h.open[dir] == r {
		delete(h.open, dir)
	}
	if err := r.fs.Close(); err != nil {
		return fmt.Errorf("close home %s: %w", dir, err)
	}
	return nil
}

// isAt reports whether r is still the directory at dir.
func (r *sharedRoot) isAt(dir string) bool {
	held, err := r.fs.Stat("/")
	if err != nil {
		return false
	}
	now, err := os.Stat(dir)
	return err == nil && os.SameFile(held, now)
}
