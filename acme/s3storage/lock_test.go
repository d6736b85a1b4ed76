package s3storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/acme/s3storage"
	"ftpsd/internal/miniotest"
)

// holders counts the holders of a lock inside their critical sections.
type holders struct {
	inside, most, entries atomic.Int64
}

// enter records a holder entering, and the most inside at once.
func (h *holders) enter() {
	n := h.inside.Add(1)
	h.entries.Add(1)
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (h *holders) leave() { h.inside.Add(-1) }

// TestLockOneHolderAtATime: goroutines on two nodes (two Storages with
// clients of their own) contend for one lock; never are two inside at
// once, and every one gets it.
func TestLockOneHolderAtATime(t *testing.T) {
	m := miniotest.New(t)
	opts := s3storage.Options{LockTTL: 3 * time.Second, LockPoll: 10 * time.Millisecond}
	nodes := []*s3storage.Storage{newNode(t, m, opts), newNode(t, m, opts)}
	const perNode, rounds = 4, 3
	var h holders
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, node := range nodes {
		for range perNode {
			wg.Go(func() {
				for range rounds {
					if err := node.Lock(ctx, "issue_cert_a.test"); err != nil {
						t.Error(err)
						return
					}
					h.enter()
					time.Sleep(20 * time.Millisecond)
					h.leave()
					if err := node.Unlock(ctx, "issue_cert_a.test"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := int64(len(nodes) * perNode * rounds)
	t.Logf("%d critical sections, at most %d holder(s) at once", h.entries.Load(), h.most.Load())
	if h.most.Load() != 1 || h.entries.Load() != want {
		t.Fatalf("at most %d holders at once over %d critical sections; want 1 over %d", h.most.Load(), h.entries.Load(), want)
	}
}

// TestLockRefreshKeepsALongHold: a holder that keeps the lock for
// several LockTTLs refreshes it, and a waiter on another node gets it
// only after the Unlock.
func TestLockRefreshKeepsALongHold(t *testing.T) {
	m := miniotest.New(t)
	opts := s3storage.Options{LockTTL: time.Second, LockPoll: 20 * time.Millisecond}
	a, b := newNode(t, m, opts), newNode(t, m, opts)
	ctx := context.Background()
	if err := a.Lock(ctx, "renew_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	got := make(chan time.Time, 1)
	go func() {
		if err := b.Lock(ctx, "renew_cert_a.test"); err != nil {
			t.Error(err)
		}
		got <- time.Now()
	}()
	time.Sleep(3 * opts.LockTTL)
	select {
	case at := <-got:
		t.Fatalf("the waiter took the lock %v into a hold of %v (LockTTL %v): the holder's refresh did not keep it", at.Sub(locked), 3*opts.LockTTL, opts.LockTTL)
	default:
	}
	released := time.Now()
	if err := a.Unlock(ctx, "renew_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		t.Logf("the waiter got the lock %v after the Unlock", at.Sub(released))
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the lock within 5s of the Unlock")
	}
	if err := b.Unlock(ctx, "renew_cert_a.test"); err != nil {
		t.Fatal(err)
	}
}

// TestStaleLockTakenOver: a node whose holder stops refreshing (it died)
// loses the lock to a waiter after LockTTL, not before; when it comes
// back, its Unlock leaves the new holder's lock in place.
func TestStaleLockTakenOver(t *testing.T) {
	m := miniotest.New(t)
	opts := s3storage.Options{LockTTL: 1500 * time.Millisecond, LockPoll: 20 * time.Millisecond}
	core, logs := observer.New(zap.WarnLevel)
	dead := newNode(t, m, s3storage.Options{LockTTL: opts.LockTTL, LockPoll: opts.LockPoll, Logger: zap.New(core)})
	waiter, third := newNode(t, m, opts), newNode(t, m, opts)
	ctx := context.Background()
	const name = "issue_cert_a.test"
	if err := dead.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(opts.LockTTL / 2) // at least one refresh
	lastWrite := dead.Stall(name)
	if err := waiter.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	after := time.Since(lastWrite)
	t.Logf("taken over %v after the dead holder's last write (LockTTL %v)", after, opts.LockTTL)
	if after < opts.LockTTL || after > opts.LockTTL+2*time.Second {
		t.Fatalf("taken over %v after the last write, want between LockTTL (%v) and LockTTL+2s", after, opts.LockTTL)
	}

	// The stalled node comes back and unlocks what is no longer its lock.
	if err := dead.Unlock(ctx, name); err != nil {
		t.Fatalf("Unlock of a lock taken over: %v, want nil (logged)", err)
	}
	if n := logs.FilterMessage("lock lost to another node").Len(); n != 1 {
		t.Errorf("%d lines %q, want 1", n, "lock lost to another node")
	}
	if ok, err := third.TryLock(ctx, name); ok || err != nil {
		t.Fatalf("TryLock after the old holder's Unlock = %v, %v: the new holder's lock was released", ok, err)
	}
	var rec struct {
		Token    string `json:"token"`
		Released bool   `json:"released"`
	}
	body, err := m.Client().GetObject(ctx, miniotest.Bucket, prefix+"/locks/issue_cert_a.test.lock", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(body).Decode(&rec); err != nil || rec.Released || rec.Token == "" {
		t.Fatalf("lock object after the old holder's Unlock: %+v, %v; want held", rec, err)
	}
	_ = body.Close()
	time.Sleep(opts.LockTTL + opts.LockTTL/2) // the new holder refreshes
	if ok, err := third.TryLock(ctx, name); ok || err != nil {
		t.Fatalf("TryLock while the new holder refreshes = %v, %v", ok, err)
	}
	if err := waiter.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ok, err := third.TryLock(ctx, name); !ok || err != nil {
		t.Fatalf("TryLock after the holder's Unlock = %v, %v; want true", ok, err)
	}
	if err := third.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// TestLockHonoursContext: Lock on a held lock returns when its context
// ends, with the context's error; Unlock of a lock not held is an error.
func TestLockHonoursContext(t *testing.T) {
	m := miniotest.New(t)
	opts := s3storage.Options{LockTTL: 10 * time.Second, LockPoll: 50 * time.Millisecond}
	a, b := newNode(t, m, opts), newNode(t, m, opts)
	if err := a.Lock(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Lock(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("Lock with a 300ms context on a held lock: %v after %v", err, time.Since(start))
	}
	if err := b.Unlock(context.Background(), "x"); err == nil {
		t.Fatal("Unlock of a lock not held: nil error")
	}
	if err := a.Unlock(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
}

// TestLockWhileTheStoreIsDown: with the store hung, Lock and Load fail
// within the request timeout instead of hanging, and a holder's failed
// refreshes are logged; once the store is back the holder still holds
// the lock (nobody could take it over) and keeps it.
func TestLockWhileTheStoreIsDown(t *testing.T) {
	m := miniotest.New(t)
	core, logs := observer.New(zap.WarnLevel)
	opts := s3storage.Options{LockTTL: 3 * time.Second, LockPoll: 20 * time.Millisecond, Timeout: 500 * time.Millisecond}
	b := newNode(t, m, opts)
	opts.Logger = zap.New(core)
	a := newNode(t, m, opts)
	ctx := context.Background()
	if err := a.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	m.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			m.Thaw()
		}
	}()
	start := time.Now()
	err := b.Lock(ctx, "x")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Lock with the store hung: %v after %v; want an error within the timeout", err, time.Since(start))
	}
	t.Logf("Lock with the store hung: %v after %v", err, time.Since(start))
	if _, err := b.Load(ctx, "k"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load with the store hung: %v; want an error other than fs.ErrNotExist", err)
	}
	time.Sleep(opts.LockTTL / 2) // a refresh falls due and fails
	m.Thaw()
	thawed = true
	if n := logs.FilterMessage("lock refresh failed").Len(); n == 0 {
		t.Fatal("no \"lock refresh failed\" logged while the store was hung")
	}
	time.Sleep(opts.LockTTL)
	if ok, err := b.TryLock(ctx, "x"); ok || err != nil {
		t.Fatalf("TryLock after the store came back: %v, %v; want false (still held)", ok, err)
	}
	if n := logs.FilterMessage("lock lost to another node").Len(); n != 0 {
		t.Fatalf("the holder logged %d lost locks", n)
	}
	if err := a.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}
