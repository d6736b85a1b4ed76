package s3storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/minio/minio-go/v7"
	"go.uber.org/zap"
)

// A lock is one object per name, "locks/NAME.lock" under the prefix,
// whose JSON body says who holds it (lockRecord). Every change of it is a
// conditional PUT, which the store applies only when the object is as the
// writer last saw it, so that of two nodes racing for a change exactly
// one succeeds:
//
//   - a free name is taken by creating the object (If-None-Match: *);
//   - the holder rewrites it every LockTTL/3 (If-Match: its ETag), which
//     changes its ETag (the body's expiry changes);
//   - a waiter takes over a lock whose ETag it has seen unchanged for
//     LockTTL (its holder stopped refreshing: it died), or one marked
//     released (If-Match: that ETag);
//   - Unlock marks the lock released (If-Match: the holder's last ETag):
//     a lock taken over by another node has another ETag, and stays
//     theirs. A released lock object stays in the bucket (one small
//     object per name): deleting it could not be made conditional. (In a
//     versioned bucket each write is a version: a lifecycle rule on
//     noncurrent versions under the prefix removes them.)
//
// Staleness is judged by the waiter's own clock (how long it has seen the
// same ETag), never by comparing clocks of different nodes: the expiry in
// the body is for people reading the bucket.

// lockRecord is a lock object's body.
type lockRecord struct {
	Owner    string    `json:"owner"`   // host and process
	Token    string    `json:"token"`   // this acquisition's, random
	Expires  time.Time `json:"expires"` // holder's clock: last write + LockTTL
	Released bool      `json:"released,omitempty"`
}

// heldLock is a lock this Storage holds.
type heldLock struct {
	token string
	stop  chan struct{} // closed by halt
	once  sync.Once
	done  chan struct{} // closed when the refresher returned
	// Written by the refresher, read after done:
	etag      string    // of the object as last written
	lastWrite time.Time // when
	lost      bool      // the refresher found it taken over
}

// halt stops the refresher and waits until it returned.
func (h *heldLock) halt() {
	h.once.Do(func() { close(h.stop) })
	<-h.done
}

// lockKey returns the object key of the lock of name.
func (s *Storage) lockKey(name string) string {
	return s.objectKey("locks/" + certmagic.StorageKeys.Safe(name) + ".lock")
}

// Lock takes the lock of name, waiting (looking every LockPoll) while
// another holder refreshes it, until ctx ends. While held, a goroutine
// refreshes it until Unlock.
func (s *Storage) Lock(ctx context.Context, name string) error {
	a := s.newAttempt(name)
	for {
		ok, err := s.try(ctx, a)
		if err != nil {
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if ok {
			return nil
		}
		t := time.NewTimer(s.opts.LockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// TryLock takes the lock of name if it is free, released or stale,
// without waiting. Stale is as this Storage has seen it: a lock first
// looked at is not, the same lock looked at again LockTTL later is.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	ok, err := s.try(ctx, s.newAttempt(name))
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	return ok, nil
}

// attempt is one Lock or TryLock call's.
type attempt struct {
	name, key, token string
}

// sighting is a lock object's ETag as a Storage last saw it, and since
// when (its clock, monotonic).
type sighting struct {
	etag  string
	since time.Time
}

func (s *Storage) newAttempt(name string) *attempt {
	return &attempt{name: name, key: s.lockKey(name), token: newToken()}
}

// try takes the lock once if it can: it creates a missing lock object,
// takes over a released or stale one, and recognises one its own earlier
// write created (a PUT whose reply was lost and whose retry failed).
func (s *Storage) try(ctx context.Context, a *attempt) (bool, error) {
	body, etag, err := s.get(ctx, a.key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.write(ctx, a, "") // create
	case err != nil:
		return false, err
	}
	var rec lockRecord
	if json.Unmarshal(body, &rec) != nil {
		rec = lockRecord{} // unreadable: stale once unchanged for LockTTL
	}
	if rec.Token == a.token && !rec.Released {
		s.hold(a, etag)
		return true, nil
	}
	unchanged := s.unchangedFor(a.name, etag)
	if !rec.Released && unchanged < s.opts.LockTTL {
		return false, nil
	}
	ok, err := s.write(ctx, a, etag)
	if ok && !rec.Released {
		s.opts.Logger.Warn("took over a stale lock", zap.String("lock", a.name),
			zap.String("holder", rec.Owner), zap.Duration("unchanged_for", unchanged))
	}
	return ok, err
}

// unchangedFor returns how long this Storage has seen the lock of name
// with etag: 0 at the first sight of that ETag.
func (s *Storage) unchangedFor(name, etag string) time.Duration {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, ok := s.seen[name]
	if !ok || seen.etag != etag {
		s.seen[name] = sighting{etag: etag, since: now}
		return 0
	}
	return now.Sub(seen.since)
}

// write writes a held lock record of a: a new object when etag is "",
// else over the object whose ETag is etag. It reports false when the
// store refused the condition (another node won).
func (s *Storage) write(ctx context.Context, a *attempt, etag string) (bool, error) {
	newETag, err := s.put(ctx, a.key, lockRecord{Owner: s.owner, Token: a.token, Expires: time.Now().Add(s.opts.LockTTL)}, etag)
	if errors.Is(err, errConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.hold(a, newETag)
	return true, nil
}

// errConflict is a conditional write the store refused.
var errConflict = errors.New("the lock object changed")

// put writes rec at key, creating it when etag is "" and else replacing
// the object with that ETag, and returns the new ETag; errConflict when
// the condition failed.
func (s *Storage) put(ctx context.Context, key string, rec lockRecord, etag string) (string, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	opts := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true}
	if etag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(etag)
	}
	ctx, cancel := s.request(ctx)
	defer cancel()
	info, err := s.client.PutObject(ctx, s.bucket, key, strings.NewReader(string(body)), int64(len(body)), opts)
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.StatusCode == http.StatusPreconditionFailed {
			return "", errConflict
		}
		return "", classify(err)
	}
	return info.ETag, nil
}

// hold records a's lock as held with the object's etag and starts its
// refresher.
func (s *Storage) hold(a *attempt, etag string) {
	h := &heldLock{
		token: a.token, etag: etag, lastWrite: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.mu.Lock()
	s.held[a.name] = h
	delete(s.seen, a.name)
	s.mu.Unlock()
	go s.refresh(a.name, a.key, h)
}

// refresh rewrites the lock every LockTTL/3 until stop, so that waiters
// see its ETag change. A refused write means another node took the lock
// over: it logs that and stops.
func (s *Storage) refresh(name, key string, h *heldLock) {
	defer close(h.done)
	every := max(s.opts.LockTTL/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		etag, err := s.rewrite(ctx, key, h, false)
		cancel()
		switch {
		case err == nil:
			h.etag, h.lastWrite = etag, time.Now()
		case errors.Is(err, errConflict):
			h.lost = true
			s.opts.Logger.Error("lock lost to another node", zap.String("lock", name))
			return
		default:
			s.opts.Logger.Warn("lock refresh failed", zap.String("lock", name),
				zap.Duration("since_last_write", time.Since(h.lastWrite)), zap.Error(err))
		}
	}
}

// rewrite writes h's lock again over its last ETag, refreshed or
// released, and returns the new ETag. When the condition fails but the
// object is still h's (an earlier write applied whose reply was lost), it
// writes over that.
func (s *Storage) rewrite(ctx context.Context, key string, h *heldLock, release bool) (string, error) {
	rec := lockRecord{Owner: s.owner, Token: h.token, Expires: time.Now().Add(s.opts.LockTTL)}
	if release {
		rec.Released, rec.Expires = true, time.Time{}
	}
	etag, err := s.put(ctx, key, rec, h.etag)
	if !errors.Is(err, errConflict) {
		return etag, err
	}
	body, current, gerr := s.get(ctx, key)
	if gerr != nil {
		return "", err
	}
	var now lockRecord
	if json.Unmarshal(body, &now) != nil || now.Token != h.token {
		return "", errConflict
	}
	if now.Released {
		if release {
			return current, nil
		}
		return "", errConflict
	}
	return s.put(ctx, key, rec, current)
}

// Unlock releases the lock of name that this Storage holds: it stops the
// refresher and marks the object released, unless another node took it
// over (then it stays theirs, and that is logged).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("unlock %s: not locked here", name)
	}
	h.halt()
	if h.lost {
		return nil // logged by the refresher
	}
	_, err := s.rewrite(ctx, s.lockKey(name), h, true)
	if errors.Is(err, errConflict) {
		s.opts.Logger.Error("lock lost to another node", zap.String("lock", name))
		return nil
	}
	if err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}

// ownerName names this process in lock records: "host:pid".
func ownerName() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// newToken returns a random token of one acquisition.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
