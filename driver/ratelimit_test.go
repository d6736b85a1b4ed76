package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/metrics"
)

// The bandwidth limit (ratelimit.go) on the transfer wrapper, with a fake
// clock: a wait advances the clock by exactly the delay the bucket asked
// for, so the rate a transfer gets is the bytes over the clock's advance.
// The limit end to end, with real clients and the wall clock, is tested in
// ratelimit_e2e_test.go.

// zeroFile is a file of size zero bytes to read, or that counts what is
// written to it. It records its largest read.
type zeroFile struct {
	size, off, written int64
	maxRead            int
}

func (f *zeroFile) Read(p []byte) (int, error) {
	f.maxRead = max(f.maxRead, len(p))
	if f.off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-f.off))
	clear(p[:n])
	f.off += int64(n)
	return n, nil
}

func (f *zeroFile) Write(p []byte) (int, error)    { f.written += int64(len(p)); return len(p), nil }
func (f *zeroFile) Seek(int64, int) (int64, error) { return 0, nil }
func (f *zeroFile) Close() error                   { return nil }

// fakeRateClock returns a clock that sleeps by advancing c.
func fakeRateClock(c *ftptest.FakeClock) rateClock {
	return rateClock{now: c.Now, sleep: func(ctx context.Context, d time.Duration) error {
		c.Advance(d)
		return ctx.Err()
	}}
}

// rateAccount is a user whose transfers are limited to down and up bytes
// per second (0: none, "0B", whatever [defaults] says).
func rateAccount(name string, down, up int64) config.User {
	return config.User{Name: name, Home: name, MaxDownloadRate: config.BytesOf(down), MaxUploadRate: config.BytesOf(up)}
}

// usersOf returns the user base of users, whose passwords are hashed at
// bcrypt's lowest cost (newUserBase hashes a dummy password at the cost
// of the accounts').
func usersOf(t *testing.T, users ...config.User) *userBase {
	t.Helper()
	hash := ftptest.HashPassword(t, "x")
	for i := range users {
		users[i].PasswordHash = hash
	}
	return newUserBase(users, config.Defaults{})
}

// limitedSession returns a session logged in as account under rates.
func limitedSession(rates *rateLimits, account config.User) *session {
	s := newSession(fakeClient{}, nil, zap.NewNop(), metrics.New())
	s.rates = rates
	s.login(localAdmission(account), nil)
	return s
}

// download copies f to io.Discard through a transfer of s as the lib does
// (io.Copy prefers the transfer's WriteTo) and returns the bytes copied.
func download(t *testing.T, s *session, f *zeroFile) int64 {
	t.Helper()
	tr := newLoggedTransfer(f, s, "f", metrics.Download)
	n, err := io.Copy(io.Discard, tr)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	return n
}

// upload copies n bytes to f through a transfer of s (io.Copy prefers the
// transfer's ReadFrom).
func upload(t *testing.T, s *session, f *zeroFile, n int64) {
	t.Helper()
	tr := newLoggedTransfer(f, s, "f", metrics.Upload)
	if _, err := io.Copy(tr, io.LimitReader(zeroReader{}, n)); err != nil {
		t.Fatalf("upload: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// wantElapsed fails unless the clock moved by want within 1 % (the first
// burst of an idle account passes without waiting).
func wantElapsed(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got < want*99/100 || got > want*101/100 {
		t.Errorf("%s took %v on the clock, want %v within 1 %%", what, got, want)
	} else {
		t.Logf("%s took %v on the clock (want %v)", what, got, want)
	}
}

// TestRateLimitKeepsRate: 20 MiB at 2 MiB/s take 10 s, either way, and a
// download reads the file no more than one chunk at a time.
func TestRateLimitKeepsRate(t *testing.T) {
	const size, bps = 20 << 20, 2 << 20
	clock := ftptest.NewFakeClock()
	rates := newRateLimits(fakeRateClock(clock))
	rates.apply(usersOf(t, rateAccount("acme", bps, bps)))
	s := limitedSession(rates, rateAccount("acme", bps, bps))

	start := clock.Now()
	f := &zeroFile{size: size}
	if n := download(t, s, f); n != size {
		t.Fatalf("download copied %d bytes, want %d", n, size)
	}
	wantElapsed(t, "20 MiB download at 2 MiB/s", clock.Now().Sub(start), 10*time.Second)
	if f.maxRead > rateBurst(bps) {
		t.Errorf("a limited download read %d bytes of the file at once, want at most one chunk (%d)", f.maxRead, rateBurst(bps))
	}

	start = clock.Now()
	up := &zeroFile{}
	upload(t, s, up, size)
	if up.written != size {
		t.Fatalf("upload wrote %d bytes, want %d", up.written, size)
	}
	wantElapsed(t, "20 MiB upload at 2 MiB/s", clock.Now().Sub(start), 10*time.Second)
}

// TestRateLimitSharedByAccount: two sessions of one account that take
// turns share its rate (together 2 MiB/s, not each), while a session of
// another account is not limited.
func TestRateLimitSharedByAccount(t *testing.T) {
	const each, bps = 4 << 20, 2 << 20
	clock := ftptest.NewFakeClock()
	rates := newRateLimits(fakeRateClock(clock))
	acme, other := rateAccount("acme", bps, 0), rateAccount("other", 0, 0)
	rates.apply(usersOf(t, acme, other))

	a := newLoggedTransfer(&zeroFile{size: each}, limitedSession(rates, acme), "a", metrics.Download)
	b := newLoggedTransfer(&zeroFile{size: each}, limitedSession(rates, acme), "b", metrics.Download)
	start := clock.Now()
	buf := make([]byte, copyBufSize)
	for done := 0; done < 2; {
		done = 0
		for _, tr := range []*loggedTransfer{a, b} {
			if _, err := tr.Read(buf); errors.Is(err, io.EOF) {
				done++
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	wantElapsed(t, "two sessions of one account, 4 MiB each at 2 MiB/s", clock.Now().Sub(start), 4*time.Second)

	o := limitedSession(rates, other)
	if th := o.throttle(metrics.Download); th != nil {
		t.Fatalf("an account without a limit has a throttle: %+v", th)
	}
	start = clock.Now()
	download(t, o, &zeroFile{size: each})
	if d := clock.Now().Sub(start); d != 0 {
		t.Errorf("another account's download waited %v", d)
	}
}

// TestRateLimitReload: a reload's new rate applies to a transfer already
// open; a limit taken away lets it run free, and one given back limits it
// again; an account limited only after its transfer opened is limited
// from its next transfer.
func TestRateLimitReload(t *testing.T) {
	const mib = 1 << 20
	clock := ftptest.NewFakeClock()
	rates := newRateLimits(fakeRateClock(clock))
	acme := rateAccount("acme", 1*mib, 0)
	rates.apply(usersOf(t, acme))
	s := limitedSession(rates, acme)
	tr := newLoggedTransfer(&zeroFile{size: 1 << 40}, s, "f", metrics.Download)
	read := func(n int) time.Duration {
		t.Helper()
		start := clock.Now()
		if _, err := io.CopyN(io.Discard, tr, int64(n)); err != nil {
			t.Fatal(err)
		}
		return clock.Now().Sub(start)
	}
	read(mib) // drains the first burst
	wantElapsed(t, "2 MiB at 1 MiB/s", read(2*mib), 2*time.Second)

	rates.apply(usersOf(t, rateAccount("acme", 4*mib, 0)))
	wantElapsed(t, "8 MiB after a reload to 4 MiB/s", read(8*mib), 2*time.Second)

	rates.apply(usersOf(t, rateAccount("acme", 0, 0)))
	if d := read(8 * mib); d != 0 {
		t.Errorf("8 MiB after a reload to no limit took %v", d)
	}
	if th := s.throttle(metrics.Download); th != nil {
		t.Errorf("a transfer opened while the account has no limit gets a throttle")
	}

	rates.apply(usersOf(t, rateAccount("acme", 2*mib, 0)))
	read(mib)
	wantElapsed(t, "4 MiB after a reload back to 2 MiB/s", read(4*mib), 2*time.Second)

	other := rateAccount("other", 0, 0)
	rates.apply(usersOf(t, acme, other))
	o := limitedSession(rates, other)
	free := newLoggedTransfer(&zeroFile{size: 1 << 40}, o, "f", metrics.Download)
	rates.apply(usersOf(t, acme, rateAccount("other", 1*mib, 0)))
	if free.limit != nil {
		t.Fatal("a transfer opened without a limit got one")
	}
	start := clock.Now()
	download(t, o, &zeroFile{size: 3 * mib})
	wantElapsed(t, "the next transfer of a session whose account got a limit, 3 MiB at 1 MiB/s",
		clock.Now().Sub(start), 3*time.Second-time.Duration(rateBurst(mib))*time.Second/mib)
}

// TestRateLimitWaitEndsWithSession: a transfer waiting for its account's
// bucket fails as soon as its session closes, whatever the wait left.
func TestRateLimitWaitEndsWithSession(t *testing.T) {
	clock := rateClock{now: time.Now, sleep: sleepContext}
	rates := newRateLimits(clock)
	acme := rateAccount("acme", 0, 100) // 100 B/s: a 256 KiB buffer would take 43 min
	rates.apply(usersOf(t, acme))
	s := limitedSession(rates, acme)
	tr := newLoggedTransfer(&zeroFile{}, s, "f", metrics.Upload)
	done := make(chan error, 1)
	go func() {
		_, err := tr.ReadFrom(bytes.NewReader(make([]byte, copyBufSize)))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	s.close()
	select {
	case err := <-done:
		if !errors.Is(err, errSessionClosed) {
			t.Fatalf("upload ended with %v, want %v", err, errSessionClosed)
		}
		t.Logf("the wait ended %v after the session closed", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the upload still waits 5 s after its session closed")
	}
	if tr.failure == nil {
		t.Error("the transfer recorded no failure: the upload would be committed")
	}
}

// TestRateLimitReloadWhileWaiting: reloads that change, remove and give
// back an account's limit while its sessions' transfers wait on the
// bucket neither race (go test -race) nor lose or block a transfer.
func TestRateLimitReloadWhileWaiting(t *testing.T) {
	const sessions, size = 4, 512 << 10
	rates := newRateLimits(realClock)
	bases := []*userBase{
		usersOf(t, rateAccount("acme", 16<<20, 16<<20)),
		usersOf(t, rateAccount("acme", 0, 0)),
		usersOf(t, rateAccount("acme", 64<<20, 8<<20)),
		usersOf(t),
	}
	rates.apply(bases[0])
	stop := make(chan struct{})
	reloads := make(chan int)
	go func() {
		n := 0
		defer func() { reloads <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				rates.apply(bases[n%len(bases)])
			}
		}
	}()
	errs := make(chan error, 2*sessions)
	for i := range 2 * sessions {
		go func() {
			s := limitedSession(rates, rateAccount("acme", 0, 0))
			dir := []string{metrics.Download, metrics.Upload}[i%2]
			tr := newLoggedTransfer(&zeroFile{size: size}, s, "f", dir)
			var n int64
			var err error
			if dir == metrics.Download {
				n, err = io.Copy(io.Discard, tr)
			} else {
				n, err = io.Copy(tr, io.LimitReader(zeroReader{}, size))
			}
			if err == nil && n != size {
				err = fmt.Errorf("%s moved %d bytes, want %d", dir, n, size)
			}
			errs <- err
		}()
	}
	for range 2 * sessions {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a transfer still runs after 20 s")
		}
	}
	close(stop)
	t.Logf("%d reloads during the transfers", <-reloads)
}

// TestRateLimitDefaults: [defaults] limits every account that sets no
// rate of its own; an account's "0B" lifts it.
func TestRateLimitDefaults(t *testing.T) {
	rates := newRateLimits(fakeRateClock(ftptest.NewFakeClock()))
	hash := ftptest.HashPassword(t, "x")
	plain := config.User{Name: "plain", PasswordHash: hash}
	free := config.User{Name: "free", PasswordHash: hash, MaxDownloadRate: config.BytesOf(0)} // "0B"
	defaults := config.Defaults{MaxDownloadRate: config.BytesOf(3 << 20), MaxUploadRate: config.BytesOf(1 << 20)}
	rates.apply(newUserBase([]config.User{plain, free}, defaults))
	for _, c := range []struct {
		account, direction string
		want               float64 // bytes per second; 0: no throttle
	}{
		{"plain", metrics.Download, 3 << 20},
		{"plain", metrics.Upload, 1 << 20},
		{"free", metrics.Download, 0},
		{"free", metrics.Upload, 1 << 20},
	} {
		th := rates.throttle(c.account, c.direction)
		switch {
		case c.want == 0 && th != nil:
			t.Errorf("%s %s: throttle at %v B/s, want none", c.account, c.direction, th.lim.Limit())
		case c.want != 0 && (th == nil || float64(th.lim.Limit()) != c.want):
			t.Errorf("%s %s: throttle %+v, want %v B/s", c.account, c.direction, th, c.want)
		}
	}
}

// TestRateBurst: a tenth of a second's worth, within 1 byte and 64 KiB.
func TestRateBurst(t *testing.T) {
	for _, c := range []struct {
		bps  int64
		want int
	}{{1, 1}, {100, 10}, {1 << 20, maxRateChunk}, {640 << 10, maxRateChunk}, {320 << 10, 32 << 10}} {
		if got := rateBurst(c.bps); got != c.want {
			t.Errorf("rateBurst(%d) = %d, want %d", c.bps, got, c.want)
		}
	}
}

// nullFile reads and writes without touching the bytes: what a benchmark
// of the transfer wrapper then measures is the wrapper.
type nullFile struct{ zeroFile }

func (nullFile) Read(p []byte) (int, error)  { return len(p), nil }
func (nullFile) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkTransferRateLimit is the cost of the bandwidth limit on the
// transfer wrapper for one 32 KiB read or write (io.Copy's buffer):
// "none" is an account without a limit (no throttle: one nil test),
// "limited" one with a limit on a fake clock that never has to wait (the
// bucket's bookkeeping without the sleep).
func BenchmarkTransferRateLimit(b *testing.B) {
	clock := ftptest.NewFakeClock()
	rates := newRateLimits(fakeRateClock(clock))
	hash := ftptest.HashPassword(b, "x")
	none, limited := rateAccount("none", 0, 0), rateAccount("limited", 1<<40, 1<<40)
	none.PasswordHash, limited.PasswordHash = hash, hash
	rates.apply(newUserBase([]config.User{none, limited}, config.Defaults{}))
	buf := make([]byte, 32<<10)
	for _, account := range []config.User{none, limited} {
		s := limitedSession(rates, account)
		for _, dir := range []string{metrics.Download, metrics.Upload} {
			tr := newLoggedTransfer(&nullFile{}, s, "f", dir)
			if (tr.limit != nil) != (account.Name == "limited") {
				b.Fatalf("%s: throttle %v", account.Name, tr.limit)
			}
			b.Run(account.Name+"/"+dir, func(b *testing.B) {
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if dir == metrics.Download {
						_, err = tr.Read(buf)
					} else {
						_, err = tr.Write(buf)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
