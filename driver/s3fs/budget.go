package s3fs

import (
	"errors"
	"sync"
)

// ErrUploadMemory refuses an upload while the uploads in flight hold the
// memory Options.MaxUploadMemory allows them.
var ErrUploadMemory = errors.New("the uploads in flight hold all the memory allowed for them (storage.max_upload_memory); try again later")

// budget bounds the bytes held by the part buffers of the uploads in
// flight. A nil budget bounds nothing. It is safe for concurrent use.
type budget struct {
	mu   sync.Mutex
	max  int64
	held int64
}

// newBudget returns a budget of max bytes, or nil when max is 0.
func newBudget(max int64) *budget {
	if max <= 0 {
		return nil
	}
	return &budget{max: max}
}

// take reserves n bytes, unless that would exceed the budget.
func (b *budget) take(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > b.max {
		return false
	}
	b.held += n
	return true
}

// takeSpare reserves n bytes for a part beyond an upload's first, unless
// the budget would then be more than half held: the other half stays for
// the first parts of new uploads, whatever the running ones take.
func (b *budget) takeSpare(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > b.max/2 {
		return false
	}
	b.held += n
	return true
}

// give returns n bytes that take or takeSpare reserved.
func (b *budget) give(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
}

// UploadMemory returns the bytes reserved for the part buffers of the
// uploads in flight (see Upload); 0 when Options.MaxUploadMemory is 0.
func (fs *Fs) UploadMemory() int64 {
	if fs.budget == nil {
		return 0
	}
	fs.budget.mu.Lock()
	defer fs.budget.mu.Unlock()
	return fs.budget.held
}
