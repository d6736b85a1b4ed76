package s3storage

import "time"

// Stall stops the refresher of the lock of name that s holds, as a node
// that hangs or dies does, and returns when the lock object was last
// written. The lock stays held for Unlock (a node that comes back).
func (s *Storage) Stall(name string) time.Time {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	h.halt()
	return h.lastWrite
}
