package guard

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is an Options.Now that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newGuard(c *clock, edit func(*Options)) *Guard {
	opts := Options{MaxFailures: 5, Window: 5 * time.Minute, BanTime: 15 * time.Minute, Now: c.Now}
	if edit != nil {
		edit(&opts)
	}
	return New(opts)
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

// fail records n failures of a, one second apart, and returns the last.
func fail(c *clock, g *Guard, a netip.Addr, n int) Failure {
	var f Failure
	for range n {
		f = g.Failed(a)
		c.advance(time.Second)
	}
	return f
}

func TestDelaysDoubleUpToTheCap(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxFailures = 0 }) // never ban
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		f := g.Failed(addrA)
		if f.Delay != w || f.Failures != i+1 || f.BanStarted {
			t.Fatalf("failure %d: %+v, want delay %v, %d failures, no ban", i+1, f, w, i+1)
		}
	}
	if g.Banned(addrA) {
		t.Fatal("max_login_failures = 0 banned an address")
	}
	if f := g.Failed(addrB); f.Delay != 500*time.Millisecond {
		t.Fatalf("another address's first failure: delay %v, want 500ms", f.Delay)
	}
}

func TestBanAfterMaxFailuresWithinWindow(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	if f := fail(c, g, addrA, 4); f.BanStarted || g.Banned(addrA) {
		t.Fatalf("banned after 4 failures: %+v", f)
	}
	f := g.Failed(addrA)
	if !f.BanStarted || f.Failures != 5 || !f.Until.Equal(c.Now().Add(15*time.Minute)) {
		t.Fatalf("5th failure: %+v, want a ban until now+15m", f)
	}
	if !g.Banned(addrA) || g.Banned(addrB) || g.BannedCount() != 1 {
		t.Fatalf("Banned(A)=%v Banned(B)=%v count=%d", g.Banned(addrA), g.Banned(addrB), g.BannedCount())
	}
	// A check that was under way fails too: the ban is not started again.
	if again := g.Failed(addrA); again.BanStarted {
		t.Fatalf("a failure during the ban started another: %+v", again)
	}
	c.advance(15*time.Minute - time.Nanosecond)
	if !g.Banned(addrA) {
		t.Fatal("the ban ended early")
	}
	c.advance(time.Nanosecond)
	if g.Banned(addrA) || g.BannedCount() != 0 {
		t.Fatal("the ban did not end after ban_time")
	}
	// The count starts afresh after a ban.
	if f := g.Failed(addrA); f.Failures != 1 || f.Delay != 500*time.Millisecond {
		t.Fatalf("first failure after the ban: %+v", f)
	}
}

func TestFailuresOutsideTheWindowDoNotCount(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	fail(c, g, addrA, 4)
	c.advance(5*time.Minute - 3*time.Second) // failures at 0s and 1s leave the window; 2s and 3s stay
	if f := g.Failed(addrA); f.BanStarted || f.Failures != 3 {
		t.Fatalf("after the window moved on: %+v, want 3 failures in the window (2 old, this one) and no ban", f)
	}
	c.advance(5*time.Minute + time.Second)
	if f := g.Failed(addrA); f.Failures != 1 {
		t.Fatalf("after a quiet window: %+v, want 1 failure", f)
	}
}

func TestSuccessResetsTheCount(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	fail(c, g, addrA, 4)
	g.Succeeded(addrA)
	if f := fail(c, g, addrA, 4); f.BanStarted || f.Failures != 4 || f.Delay != 4*time.Second {
		t.Fatalf("4 failures after a success: %+v, want 4 failures, delay 4s and no ban", f)
	}
	g.Succeeded(addrB) // an unknown address: nothing to reset
}

func TestExemptNetworksAreNeverBanned(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.Exempt = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/31")} })
	if f := fail(c, g, addrA, 10); f.BanStarted || f.Delay != 4*time.Second || g.Banned(addrA) {
		t.Fatalf("an exempt address: %+v banned=%v, want delays but no ban", f, g.Banned(addrA))
	}
	if fail(c, g, addrB, 5); !g.Banned(addrB) {
		t.Fatal("192.0.2.2 is outside 192.0.2.0/31 and was not banned")
	}
	mapped := netip.AddrFrom16(addrA.As16()) // ::ffff:192.0.2.1 is the same client
	if g.Failed(mapped).BanStarted {
		t.Fatal("an IPv4-mapped exempt address was banned")
	}
}

func TestRefusalsAreLoggedOncePerInterval(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	if log, n := g.Refused(addrA); !log || n != 1 {
		t.Fatalf("first refusal: log=%v count=%d, want a line for 1", log, n)
	}
	for range 99 {
		if log, _ := g.Refused(addrA); log {
			t.Fatal("a second line within the minute")
		}
	}
	if log, n := g.Refused(addrB); !log || n != 1 {
		t.Fatalf("another address: log=%v count=%d", log, n)
	}
	c.advance(time.Minute)
	if log, n := g.Refused(addrA); !log || n != 100 {
		t.Fatalf("after a minute: log=%v count=%d, want a line for 100 refusals", log, n)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxAddresses = 3 })
	fail(c, g, addrA, 5) // banned
	for i := range 2 {
		g.Refused(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if !g.Banned(addrA) { // touches A: it is now the newest
		t.Fatal("A not banned")
	}
	g.Refused(netip.MustParseAddr("198.51.100.9")) // evicts 198.51.100.0
	if g.Tracked() != 3 || !g.Banned(addrA) {
		t.Fatalf("tracked %d, A banned %v: want 3 and the recently seen ban kept", g.Tracked(), g.Banned(addrA))
	}
	for i := range 10 {
		g.Refused(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	if g.Tracked() != 3 || g.Banned(addrA) {
		t.Fatalf("tracked %d, A banned %v: want 3 and the oldest (A) forgotten", g.Tracked(), g.Banned(addrA))
	}
}

func TestTurnsAreOnePerAddress(t *testing.T) {
	g := newGuard(newClock(), nil)
	done, err := g.Turn(context.Background(), addrA)
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.Turn(context.Background(), addrB) // another address: not blocked
	if err != nil {
		t.Fatal(err)
	}
	other()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		d, err := g.Turn(ctx, addrA)
		if err == nil {
			d()
		}
		got <- err
	}()
	cancel()
	if err := <-got; err != context.Canceled {
		t.Fatalf("a waiter whose context ended: %v, want context.Canceled", err)
	}
	next := make(chan struct{})
	go func() {
		d, err := g.Turn(context.Background(), addrA)
		if err == nil {
			d()
		}
		close(next)
	}()
	done()
	<-next
	if n := len(g.turns.m); n != 0 {
		t.Fatalf("%d turns kept after everyone left", n)
	}
}

func TestSuspect(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	if g.Suspect(addrA) {
		t.Fatal("an unknown address is suspect")
	}
	g.Failed(addrA)
	if !g.Suspect(addrA) || g.Suspect(addrB) {
		t.Fatal("want A suspect after a failure, B not")
	}
	c.advance(5*time.Minute + time.Second)
	if g.Suspect(addrA) {
		t.Fatal("A still suspect after the window")
	}
}

func TestSlotsServeCleanCallersFirst(t *testing.T) {
	s := NewSlots(1)
	ctx := context.Background()
	if err := s.Acquire(ctx, true); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	enqueue := func(name string, suspect bool) {
		go func() {
			if err := s.Acquire(ctx, suspect); err == nil {
				order <- name
				s.Release()
			}
		}()
	}
	enqueue("suspect-1", true)
	waitQueued(t, s, 1)
	enqueue("suspect-2", true)
	waitQueued(t, s, 2)
	enqueue("clean", false)
	waitQueued(t, s, 3)
	s.Release()
	for _, want := range []string{"clean", "suspect-1", "suspect-2"} {
		if got := <-order; got != want {
			t.Fatalf("served %s, want %s", got, want)
		}
	}
	// A waiter whose context ends leaves the queue and holds nothing.
	if err := s.Acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Acquire(cctx, false); err != context.Canceled {
		t.Fatalf("Acquire with an ended context: %v", err)
	}
	s.Release()
	if err := s.Acquire(ctx, true); err != nil { // the one slot is free again
		t.Fatal(err)
	}
}

// queued reports whether n callers wait for a slot.
func queued(s *Slots, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting[0])+len(s.waiting[1]) == n
}

func waitQueued(t *testing.T, s *Slots, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !queued(s, n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters never queued", n)
		}
		time.Sleep(time.Millisecond)
	}
}
