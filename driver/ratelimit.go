package driver

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"ftpsd/config"
	"ftpsd/metrics"
)

// Bandwidth limits (max_download_rate, max_upload_rate). An account with
// a limit has one token bucket per direction, shared by all its sessions:
// their transfers together move at most the rate, and so does each one,
// its bytes being among the account's. (A second bucket per session, in
// series, would bound nothing more while both keys are one value.) The
// sessions take their turns in the bucket chunk by chunk, in the order
// they asked, so that they share the rate evenly.
//
// A transfer waits for its bytes in chunks of the bucket's burst, a tenth
// of a second's worth and at most maxRateChunk: the data leaves evenly,
// and a wait cut short by the end of the session (or an ABOR, which the
// transfer sees at its next socket write) is short. Waiting holds no
// lock: other sessions, of the account or not, go on meanwhile.
//
// A transfer looks its account's bucket up when it opens; an account
// without a limit has none, and its transfers make no call and no
// allocation for it. A reload changes the rate of a bucket in place
// (rate.Limiter.SetLimit), so the transfers already running follow the
// new rate; a limit taken away leaves the bucket in place at an infinite
// rate. Only a transfer that opened while its account had no limit at all
// stays unlimited until it ends.

// maxRateChunk bounds the bytes a transfer waits for at once, and a
// bucket's burst: the bytes an account that was idle can move at once.
const maxRateChunk = 64 << 10

// rateBurst is the burst of a bucket at bytesPerSecond: a tenth of a
// second's worth, at least one byte, at most maxRateChunk.
func rateBurst(bytesPerSecond int64) int {
	return int(min(max(bytesPerSecond/10, 1), maxRateChunk))
}

// rateLimits holds the buckets of the accounts that have, or had, a
// limit. It is safe for concurrent use; a nil *rateLimits limits nothing.
type rateLimits struct {
	clock rateClock

	mu       sync.Mutex
	accounts map[string]*accountRates
}

// accountRates are an account's buckets; nil where it never had a limit.
type accountRates struct {
	download, upload *throttle
	external         bool // of an account of an external source (setExternal)
}

// rateClock is how a throttle reads the time and sleeps (a fake clock in
// tests).
type rateClock struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// realClock is the wall clock.
var realClock = rateClock{now: time.Now, sleep: sleepContext}

// sleepContext sleeps for d, or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newRateLimits(clock rateClock) *rateLimits {
	return &rateLimits{clock: clock, accounts: make(map[string]*accountRates)}
}

// apply sets the rates of users' accounts: at start and at each reload's
// commit. The buckets of accounts users no longer has are dropped (the
// reload closes their sessions); those of external accounts stay (see
// setExternal).
func (r *rateLimits) apply(users *userBase) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, a := range r.accounts {
		if _, ok := users.byName[name]; !ok && !a.external {
			delete(r.accounts, name)
		}
	}
	for name := range users.byName {
		r.setLocked(name, users.policy(name), false)
	}
}

// setExternal sets the rates of an account of an external source, under
// its key (see rateKey), as its latest login says. Its buckets stay while
// the process runs: one pair per such account with a limit.
func (r *rateLimits) setExternal(key string, p config.Policy) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setLocked(key, p, true)
}

// setLocked gives account name the rates of p; the caller holds r.mu.
func (r *rateLimits) setLocked(name string, p config.Policy, external bool) {
	a := r.accounts[name]
	if a == nil {
		if p.MaxDownloadRate == 0 && p.MaxUploadRate == 0 {
			return
		}
		a = &accountRates{external: external}
		r.accounts[name] = a
	}
	a.download = r.set(a.download, p.MaxDownloadRate)
	a.upload = r.set(a.upload, p.MaxUploadRate)
}

// set gives th the rate bytesPerSecond (0: none), making it if needed.
func (r *rateLimits) set(th *throttle, bytesPerSecond int64) *throttle {
	switch {
	case th == nil && bytesPerSecond == 0:
		return nil
	case th == nil:
		return &throttle{lim: rate.NewLimiter(rate.Limit(bytesPerSecond), rateBurst(bytesPerSecond)), clock: &r.clock}
	case bytesPerSecond == 0:
		th.lim.SetLimitAt(r.clock.now(), rate.Inf)
	default:
		now := r.clock.now()
		th.lim.SetLimitAt(now, rate.Limit(bytesPerSecond))
		th.lim.SetBurstAt(now, rateBurst(bytesPerSecond))
	}
	return th
}

// throttle returns the bucket of account in direction (metrics.Upload or
// metrics.Download), or nil when the account has no limit there.
func (r *rateLimits) throttle(account, direction string) *throttle {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.accounts[account]
	if a == nil {
		return nil
	}
	th := a.download
	if direction == metrics.Upload {
		th = a.upload
	}
	if th == nil || th.lim.Limit() == rate.Inf {
		return nil
	}
	return th
}

// throttle is one direction's bucket of one account.
type throttle struct {
	lim   *rate.Limiter
	clock *rateClock
}

// chunk returns how many of n bytes to wait for at once.
func (th *throttle) chunk(n int) int { return min(n, th.lim.Burst()) }

// wait waits until n bytes may move, chunk by chunk, or until ctx ends.
// It returns how many of them had to wait.
func (th *throttle) wait(ctx context.Context, n int) (delayed int, err error) {
	for n > 0 {
		c := th.chunk(n)
		now := th.clock.now()
		r := th.lim.ReserveN(now, c)
		if !r.OK() {
			continue // a reload lowered the burst since chunk: again
		}
		if d := r.DelayFrom(now); d > 0 {
			if err := th.clock.sleep(ctx, d); err != nil {
				r.CancelAt(th.clock.now())
				return delayed, err
			}
			delayed += c
		}
		n -= c
	}
	return delayed, nil
}
