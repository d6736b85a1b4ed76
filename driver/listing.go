package driver

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// A listing (LIST, NLST, MLSD, STAT of a directory) is read from the
// directory listBatch entries at a time, and the lib formats each batch
// before it asks for the next (ftpserver.ClientDriverExtensionDirStream),
// into a buffer it writes to the data connection 16 KiB at a time: a
// listing holds one batch and that buffer, whatever the size of the
// directory and however slowly the client reads. Entries come in the directory's order
// (the backend's), unsorted.

// listBatch is how many entries a listing reads at once: on disk, one
// getdents and an lstat per entry; on object storage, the entries come
// from its pages of 1,000.
const listBatch = 256

// Errors of listings.
var (
	// errTooManyEntries ends a listing after server.max_list_entries.
	errTooManyEntries = errors.New("too many entries")
	// errListingsBusy refuses a listing beyond
	// server.max_concurrent_listings (450).
	errListingsBusy = errors.New("too many listings in progress")
	// errClientGone ends a listing on the control connection (STAT) whose
	// client has gone: the lib's writes no longer fail (control drops
	// them), so the listing would go on to the end for nobody.
	errClientGone = errors.New("the client has gone")
	// errListingsBusyHere refuses a listing beyond an address's share
	// (450).
	errListingsBusyHere = errors.New("too many listings in progress from the client's address")
)

// listings counts the listings in progress on the server, up to a cap,
// of which one client (an IPv4 address, an IPv6 network: see
// guard.Network) may hold half: one client cannot take listings from all
// the others.
type listings struct {
	mu      sync.Mutex
	n       int
	most    int
	perAddr int
	byNet   map[netip.Prefix]int
	network func(netip.Addr) netip.Prefix
}

func newListings(most int, network func(netip.Addr) netip.Prefix) *listings {
	return &listings{most: most, perAddr: max(1, most/2), byNet: map[netip.Prefix]int{}, network: network}
}

// acquire takes a place for one listing of a client at addr, or returns
// why it cannot.
func (l *listings) acquire(addr netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.n >= l.most:
		return errListingsBusy
	case l.byNet[l.network(addr)] >= l.perAddr:
		return errListingsBusyHere
	}
	l.n++
	l.byNet[l.network(addr)]++
	return nil
}

func (l *listings) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	key := l.network(addr)
	if l.byNet[key]--; l.byNet[key] <= 0 {
		delete(l.byNet, key)
	}
}

// dirStream is one listing in progress; it implements ftpserver.DirStream.
type dirStream struct {
	c     *clientFs
	dir   afero.File
	name  string // the directory as the client named it
	batch int    // entries read at once (<= 0: all)
	sent  int    // entries returned so far
	over  bool   // the directory has more than c.maxList entries
	done  func() // releases the listing's place, once
	// first is the first batch, read when the listing opened so that a
	// directory that cannot be read is answered before 150; firstErr is
	// nil or io.EOF.
	first    []os.FileInfo
	firstErr error
	started  bool // Next was called
}

// OpenDirStream opens the listing of a directory (LIST, NLST, MLSD, STAT),
// within server.max_concurrent_listings, of which one client address may
// hold half: beyond it the reply is 450 (see replyTo).
func (c *clientFs) OpenDirStream(name string) (ftpserver.DirStream, error) {
	addr := c.session.client()
	if err := c.lists.acquire(addr); err != nil {
		return nil, c.failed(name, err, false)
	}
	release := sync.OnceFunc(func() { c.lists.release(addr) })
	dir, err := c.Open(name)
	if err != nil {
		release()
		return nil, c.failed(name, err, false)
	}
	batch := listBatch
	if c.home.features().listWhole {
		batch = 0
	}
	d := &dirStream{c: c, dir: dir, name: name, batch: batch, done: release}
	if d.first, d.firstErr = d.read(); d.firstErr != nil && !errors.Is(d.firstErr, io.EOF) {
		_ = d.Close()
		return nil, d.firstErr
	}
	return d, nil
}

// Next returns the next entries, without partial uploads; after
// server.max_list_entries entries, errTooManyEntries if there are more.
func (d *dirStream) Next() ([]os.FileInfo, error) {
	if !d.started {
		d.started = true
		first := d.first
		d.first = nil
		return first, d.firstErr
	}
	return d.read()
}

// read reads the next batch of entries (see Next).
func (d *dirStream) read() ([]os.FileInfo, error) {
	if d.c.session.clientGone() {
		d.done()
		return nil, errClientGone
	}
	if d.over {
		d.done()
		return nil, d.tooMany()
	}
	limit := d.c.maxList
	for {
		infos, err := d.dir.Readdir(d.batch)
		if d.batch <= 0 && err == nil {
			err = io.EOF // that was all
		}
		infos = slices.DeleteFunc(infos, func(fi os.FileInfo) bool { return strings.HasPrefix(fi.Name(), uploadPrefix) })
		if limit > 0 && d.sent+len(infos) > limit {
			infos, d.over, err = infos[:limit-d.sent], true, nil
			if len(infos) == 0 {
				d.done()
				return nil, d.tooMany()
			}
		}
		d.sent += len(infos)
		if err != nil && !errors.Is(err, io.EOF) {
			err = d.c.failed(d.name, err, false)
		}
		if err != nil {
			// The listing is read: its place is free before the lib's
			// final reply, so that the client's next listing finds it.
			d.done()
		}
		if len(infos) > 0 || err != nil {
			return infos, err
		}
		// A batch of partial uploads only: read on.
	}
}

// clientGone reports whether a reply found the session's client gone.
func (s *session) clientGone() bool { return s.conn != nil && s.conn.Gone() }

// tooMany returns the error that ends the listing at
// server.max_list_entries, and logs it.
func (d *dirStream) tooMany() error {
	return d.c.failed(d.name, fmt.Errorf("%w: more than %d", errTooManyEntries, d.c.maxList), false)
}

// Close closes the directory and releases the listing's place.
func (d *dirStream) Close() error {
	defer d.done()
	return d.dir.Close()
}

var (
	_ ftpserver.ClientDriverExtensionDirStream = (*clientFs)(nil)
	_ ftpserver.DirStream                      = (*dirStream)(nil)
)
