package guard

import (
	"context"
	"sync"
)

// Slots is a counting semaphore for password checks whose waiters are
// served in two classes: clean callers (an address without recent
// failures) before suspect ones, each class first come, first served. A
// storm of wrong passwords then delays the login of another address by at
// most the checks already running. It is safe for concurrent use.
type Slots struct {
	mu      sync.Mutex
	free    int
	waiting [2][]chan struct{} // [clean, suspect]; a slot is handed over by closing the channel
}

// NewSlots returns n free slots.
func NewSlots(n int) *Slots { return &Slots{free: n} }

// Acquire waits for a slot, or until ctx ends (it then returns ctx's
// error and holds no slot). suspect puts the caller behind every clean
// waiter.
func (s *Slots) Acquire(ctx context.Context, suspect bool) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting[0]) == 0 && len(s.waiting[1]) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	class := 0
	if suspect {
		class = 1
	}
	ready := make(chan struct{})
	s.waiting[class] = append(s.waiting[class], ready)
	s.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiting[class] {
		if w == ready {
			s.waiting[class] = append(s.waiting[class][:i], s.waiting[class][i+1:]...)
			return ctx.Err()
		}
	}
	s.releaseLocked() // the slot came as ctx ended: pass it on
	return ctx.Err()
}

// Release frees a slot of Acquire, handing it to the next waiter.
func (s *Slots) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *Slots) releaseLocked() {
	for class := range s.waiting {
		if q := s.waiting[class]; len(q) > 0 {
			close(q[0])
			s.waiting[class] = q[1:]
			return
		}
	}
	s.free++
}
