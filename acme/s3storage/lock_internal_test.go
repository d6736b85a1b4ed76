package s3storage

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"ftpsd/internal/miniotest"
)

// TestLockRecognisesItsOwnWrite: a create whose reply was lost (the
// object is written, the client saw an error and its retry a refused
// condition) leaves the lock object with the attempt's token; the next
// look of the same attempt takes it as held, rather than waiting LockTTL
// for its own lock to go stale.
func TestLockRecognisesItsOwnWrite(t *testing.T) {
	m := miniotest.New(t)
	s := New(m.Client(), miniotest.Bucket, "p", Options{LockTTL: time.Minute, Timeout: 5 * time.Second, Logger: zap.NewNop()})
	other := New(m.Client(), miniotest.Bucket, "p", Options{LockTTL: time.Minute, Timeout: 5 * time.Second})
	ctx := context.Background()
	a := s.newAttempt("x")
	// The write reaches the store; its reply "is lost": the Storage
	// forgets it holds the lock.
	if ok, err := s.write(ctx, a, ""); !ok || err != nil {
		t.Fatalf("create: %v, %v", ok, err)
	}
	s.mu.Lock()
	h := s.held["x"]
	delete(s.held, "x")
	s.mu.Unlock()
	h.halt()

	if ok, err := other.TryLock(ctx, "x"); ok || err != nil {
		t.Fatalf("another attempt on the lock: %v, %v; want false", ok, err)
	}
	if ok, err := s.try(ctx, a); !ok || err != nil {
		t.Fatalf("the same attempt looking again: %v, %v; want true (its own write)", ok, err)
	}
	if err := s.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("after Unlock: %v, %v; want true", ok, err)
	}
}
