// Package quota keeps what each home holds (bytes and files) and holds
// uploads to an account's limits (quota_bytes, quota_files).
//
// A Table has one Usage per home, made at the first use of the home in the
// process: a count of the store (a walk, which the caller supplies) runs
// once, outside the table's lock, while other users of the same home wait
// for it and those of other homes do not. From then on the server keeps
// the usage up to date: an upload reserves its bytes as they arrive and
// commits what it changed when it ends; deletions and renames subtract
// what they removed. Safe for concurrent use.
package quota

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Errors of a refused upload; both are what the client is told (552).
var (
	ErrBytes = errors.New("quota exceeded (quota_bytes)")
	ErrFiles = errors.New("quota exceeded (quota_files)")
)

// Limit is an account's quota; 0 is no limit.
type Limit struct {
	Bytes int64
	Files int64
}

// None reports whether l limits nothing.
func (l Limit) None() bool { return l.Bytes <= 0 && l.Files <= 0 }

// Counts is what a home holds, or a change of it.
type Counts struct {
	Bytes int64
	Files int64
}

// A Table holds the usage of every home counted so far, by key.
type Table struct {
	mu    sync.Mutex
	homes map[string]*Usage
}

// Usage is the usage of one home. Its zero value is not usable: a Table
// makes them.
type Usage struct {
	ready chan struct{} // closed when the count is done
	err   error         // of the count; set before ready is closed

	mu       sync.Mutex
	used     Counts // committed
	reserved Counts // of the uploads in progress: bytes beyond what they replace, new files
}

// Get returns the usage of the home key, counting it with count when no
// session of the process has yet: the first caller counts, outside the
// table's lock; the others of the same key wait for it. A failed count is
// returned to the callers that waited on it and forgotten, so that the
// next use counts again.
func (t *Table) Get(key string, count func() (Counts, error)) (*Usage, error) {
	t.mu.Lock()
	u, ok := t.homes[key]
	if !ok {
		u = &Usage{ready: make(chan struct{})}
		if t.homes == nil {
			t.homes = make(map[string]*Usage)
		}
		t.homes[key] = u
	}
	t.mu.Unlock()
	if ok {
		<-u.ready
		return u, u.err
	}
	c, err := count()
	if err != nil {
		t.mu.Lock()
		delete(t.homes, key)
		t.mu.Unlock()
		u.err = fmt.Errorf("count usage: %w", err)
	} else {
		u.used = c
	}
	close(u.ready)
	return u, u.err
}

// Known returns the usage of the home key once it is counted, without
// counting it: nil when no session of the process used it with a quota
// yet (or its count failed). A change of a home nobody counts needs no
// record; it is in the store when a count reads it.
func (t *Table) Known(key string) *Usage {
	t.mu.Lock()
	u := t.homes[key]
	t.mu.Unlock()
	if u == nil {
		return nil
	}
	<-u.ready
	if u.err != nil {
		return nil
	}
	return u
}

// Peek returns the usage of the home key if its count is done, without
// waiting.
func (t *Table) Peek(key string) (Counts, bool) {
	t.mu.Lock()
	u := t.homes[key]
	t.mu.Unlock()
	if u == nil {
		return Counts{}, false
	}
	select {
	case <-u.ready:
	default:
		return Counts{}, false
	}
	if u.err != nil {
		return Counts{}, false
	}
	return u.Used(), true
}

// Keys returns the keys of the homes counted or being counted, sorted.
func (t *Table) Keys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.homes))
	for k := range t.homes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Used returns what the home holds, uploads in progress aside.
func (u *Usage) Used() Counts {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.used
}

// Add records a change the server made in the home (a deletion is
// negative). Usage never goes below zero: a file removed behind the
// server's back and then deleted would otherwise make room that is not
// there.
func (u *Usage) Add(c Counts) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.used.Bytes = max(0, u.used.Bytes+c.Bytes)
	u.used.Files = max(0, u.used.Files+c.Files)
}

// An Upload is one upload in progress in a home, within an account's
// limit. Its methods are called from one goroutine.
type Upload struct {
	u        *Usage
	limit    Limit
	start    Start
	credit   int64 // bytes written that replace bytes already counted
	written  int64
	reserved int64 // of u.reserved.Bytes
	done     bool
}

// Start is what an upload changes in its home, as far as it is known
// when it starts.
type Start struct {
	// Replaced is the size of the file the upload replaces whole (a STOR
	// over an existing file).
	Replaced int64
	// Overwritten is the size of what the upload writes over in place
	// (the tail of the file after the offset of a resumed STOR).
	Overwritten int64
	// NewFile: the upload creates a file.
	NewFile bool
	// Known is the size the client announced (ALLO), or -1.
	Known int64
}

// Begin starts an upload within limit. It is refused (ErrFiles, ErrBytes)
// when it creates a file and the home holds quota_files already, when
// the announced size would pass quota_bytes, or when the size is not
// known and the home is full.
func (u *Usage) Begin(limit Limit, s Start) (*Upload, error) {
	credit := s.Replaced + s.Overwritten
	u.mu.Lock()
	defer u.mu.Unlock()
	files := u.used.Files + u.reserved.Files
	bytes := u.used.Bytes + u.reserved.Bytes
	switch {
	case s.NewFile && limit.Files > 0 && files >= limit.Files:
		return nil, fmt.Errorf("%w: %d of %d files", ErrFiles, files, limit.Files)
	case limit.Bytes > 0 && s.Known >= 0 && bytes+max(0, s.Known-credit) > limit.Bytes:
		return nil, fmt.Errorf("%w: %d bytes announced, %d of %d used", ErrBytes, s.Known, bytes, limit.Bytes)
	case limit.Bytes > 0 && s.Known < 0 && bytes >= limit.Bytes:
		return nil, fmt.Errorf("%w: %d of %d bytes used", ErrBytes, bytes, limit.Bytes)
	}
	if s.NewFile {
		u.reserved.Files++
	}
	return &Upload{u: u, limit: limit, start: s, credit: credit}, nil
}

// Write reserves n more bytes of the upload before they are written, and
// refuses them (ErrBytes) when the home would pass quota_bytes: so uploads
// of one home running at once cannot pass the limit together.
func (up *Upload) Write(n int) error {
	need := max(0, up.written+int64(n)-up.credit) - up.reserved
	if need > 0 {
		u := up.u
		u.mu.Lock()
		if up.limit.Bytes > 0 && u.used.Bytes+u.reserved.Bytes+need > up.limit.Bytes {
			used := u.used.Bytes + u.reserved.Bytes
			u.mu.Unlock()
			return fmt.Errorf("%w: %d of %d bytes used", ErrBytes, used, up.limit.Bytes)
		}
		u.reserved.Bytes += need
		u.mu.Unlock()
		up.reserved += need
	}
	up.written += int64(n)
	return nil
}

// Written returns the bytes written so far.
func (up *Upload) Written() int64 { return up.written }

// End ends the upload: its reservation is released, and with stored its
// change is committed: the bytes written beyond what they overwrote, less
// the file it replaced; the file it created. An upload discarded stores
// nothing (an upload in place stores what it wrote, even when it failed).
// Later calls do nothing, and so does End of nil.
func (up *Upload) End(stored bool) {
	if up == nil || up.done {
		return
	}
	up.done = true
	u := up.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reserved.Bytes -= up.reserved
	if up.start.NewFile {
		u.reserved.Files--
	}
	if !stored {
		return
	}
	u.used.Bytes = max(0, u.used.Bytes+max(up.written-up.credit, -up.start.Replaced))
	if up.start.NewFile {
		u.used.Files++
	}
}
