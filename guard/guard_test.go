package guard

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"ftpsd/internal/testenv"
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

func TestObservedNetworksAreBounded(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxAddresses = 3 })
	fail(c, g, addrB, 2)
	fail(c, g, addrA, 5) // banned
	for i := range 2 {
		g.Refused(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if g.Tracked() != 3 {
		t.Fatalf("tracked %d, want 3", g.Tracked())
	}
	// B, seen longest ago, was forgotten: its count starts afresh.
	if f := g.Failed(addrB); f.Failures != 1 {
		t.Fatalf("B after it was forgotten: %+v, want 1 failure", f)
	}
	if !g.Banned(addrA) {
		t.Fatal("the ban of A was forgotten with A's failures")
	}
}

// TestBanTableIsBounded: beyond MaxBans no ban is forgotten to make room:
// the network that fails too often is not banned, its failures stay
// counted, and it is banned once an older ban ended.
func TestBanTableIsBounded(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxFailures, o.MaxBans, o.Window = 2, 2, time.Hour })
	third := netip.MustParseAddr("192.0.2.3")
	fail(c, g, addrA, 2)
	fail(c, g, addrB, 2)
	fail(c, g, third, 1)
	f := g.Failed(third)
	if f.BanStarted || !f.BanTableFull || f.Failures != 2 || g.Banned(third) {
		t.Fatalf("a third ban with MaxBans = 2: %+v banned=%v, want no ban, BanTableFull, 2 failures", f, g.Banned(third))
	}
	if !g.Banned(addrA) || !g.Banned(addrB) || g.BannedCount() != 2 {
		t.Fatal("a ban in force was dropped for a new one")
	}
	if f := g.Failed(third); f.Failures != 3 || f.Delay != 2*time.Second || !f.BanTableFull {
		t.Fatalf("the next failure: %+v, want 3 failures, delay 2s, still no room", f)
	}
	c.advance(15*time.Minute - 3*time.Second) // A's ban ends, B's not yet
	if f := g.Failed(third); !f.BanStarted {
		t.Fatalf("after A's ban ended: %+v, want the third banned", f)
	}
	if g.Banned(addrA) || !g.Banned(addrB) || !g.Banned(third) || g.BannedCount() != 2 {
		t.Fatalf("banned A=%v B=%v third=%v count=%d", g.Banned(addrA), g.Banned(addrB), g.Banned(third), g.BannedCount())
	}
	// A is banned again later: the entry of its first ban, ended, does
	// not end the second.
	c.advance(2 * time.Second)
	fail(c, g, addrA, 2)
	c.advance(10 * time.Minute)
	if !g.Banned(addrA) || g.BannedCount() != 2 {
		t.Fatalf("A's second ban: banned %v, count %d", g.Banned(addrA), g.BannedCount())
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

// flood has n distinct IPv4 addresses call observe once each.
func flood(n int, observe func(netip.Addr)) {
	for i := range n {
		observe(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
}

// TestBansOutliveAFlood: 70,000 distinct addresses refused at accept, or
// failing a login each, overflow the table of observed addresses; the ban
// of an address not seen meanwhile stays, and the table stays bounded.
func TestBansOutliveAFlood(t *testing.T) {
	for name, observe := range map[string]func(*Guard, netip.Addr){
		"refusals": func(g *Guard, a netip.Addr) { g.Refused(a) },
		"failures": func(g *Guard, a netip.Addr) { g.Failed(a) },
	} {
		t.Run(name, func(t *testing.T) {
			c := newClock()
			g := newGuard(c, nil) // the default bound of observed addresses
			fail(c, g, addrA, 5)
			flood(70000, func(a netip.Addr) { observe(g, a) })
			if !g.Banned(addrA) || g.BannedCount() != 1 {
				t.Fatalf("after 70,000 %s from other addresses: banned %v, %d bans; want the ban kept", name, g.Banned(addrA), g.BannedCount())
			}
			if n := g.Tracked(); n > DefaultMaxAddresses {
				t.Fatalf("%d addresses tracked, want at most %d", n, DefaultMaxAddresses)
			}
			c.advance(15 * time.Minute)
			if g.Banned(addrA) || g.BannedCount() != 0 {
				t.Fatal("the ban outlived ban_time")
			}
		})
	}
}

// TestIPv6CountsPerPrefix: two addresses of one /64 share their failures,
// delays, ban and password-check turn; an address of the next /64 does not.
func TestIPv6CountsPerPrefix(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	one := netip.MustParseAddr("2001:db8:1:1::1")
	sameNet := netip.MustParseAddr("2001:db8:1:1:ffff:ffff:ffff:fffe")
	nextNet := netip.MustParseAddr("2001:db8:1:2::1")
	fail(c, g, one, 3)
	if f := g.Failed(sameNet); f.Failures != 4 || f.Delay != 4*time.Second {
		t.Fatalf("first failure of another address of the /64: %+v, want the 4th failure of the network (4s)", f)
	}
	if !g.Suspect(sameNet) || g.Suspect(nextNet) {
		t.Fatalf("suspect: same /64 %v, next /64 %v; want true, false", g.Suspect(sameNet), g.Suspect(nextNet))
	}
	if f := g.Failed(netip.MustParseAddr("2001:db8:1:1::2")); !f.BanStarted {
		t.Fatalf("5th failure in the /64: %+v, want a ban", f)
	}
	if !g.Banned(one) || !g.Banned(sameNet) {
		t.Fatal("the ban does not cover the whole /64")
	}
	if g.Banned(nextNet) {
		t.Fatal("the ban of 2001:db8:1:1::/64 covers 2001:db8:1:2::1")
	}
	if f := g.Failed(nextNet); f.Failures != 1 || f.BanStarted {
		t.Fatalf("first failure of the next /64: %+v", f)
	}
	if n := g.BannedCount(); n != 1 {
		t.Fatalf("%d bans, want 1 (one network)", n)
	}

	done, err := g.Turn(context.Background(), one)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.Turn(ctx, sameNet); err == nil {
		t.Fatal("two addresses of one /64 had the password-check turn at once")
	}
	other, err := g.Turn(context.Background(), nextNet)
	if err != nil {
		t.Fatal(err)
	}
	other()
}

// TestIPv4MappedIsIPv4: ::ffff:192.0.2.1 is 192.0.2.1, not an address of
// the IPv6 network ::ffff:0:0/64 with every other IPv4 client.
func TestIPv4MappedIsIPv4(t *testing.T) {
	c := newClock()
	g := newGuard(c, nil)
	fail(c, g, netip.AddrFrom16(addrA.As16()), 5)
	if !g.Banned(addrA) {
		t.Fatal("failures of ::ffff:192.0.2.1 did not ban 192.0.2.1")
	}
	if g.Banned(addrB) || g.Banned(netip.AddrFrom16(addrB.As16())) {
		t.Fatal("the ban of 192.0.2.1 covers 192.0.2.2")
	}
}

func TestNetwork(t *testing.T) {
	for _, tc := range []struct {
		addr string
		bits int
		want string
	}{
		{"192.0.2.1", 64, "192.0.2.1/32"},
		{"::ffff:192.0.2.1", 64, "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"2001:db8:1:2:3:4:5:6", 1, "::/1"},
		{"fe80::1%eth0", 64, "fe80::/64"},
	} {
		if got := Network(netip.MustParseAddr(tc.addr), tc.bits); got.String() != tc.want {
			t.Errorf("Network(%s, %d) = %s, want %s", tc.addr, tc.bits, got, tc.want)
		}
	}
}

// TestIPv6PrefixLength: the prefix length sets which IPv6 clients share a
// ban.
func TestIPv6PrefixLength(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:1:1::1")
	b := netip.MustParseAddr("2001:db8:1:2::1") // same /48, another /64
	for bits, shared := range map[int]bool{48: true, 64: false, 128: false} {
		c := newClock()
		g := newGuard(c, func(o *Options) { o.IPv6PrefixLength = bits })
		fail(c, g, a, 5)
		if !g.Banned(a) || g.Banned(b) != shared {
			t.Errorf("/%d: banned %v, %v; want true, %v", bits, g.Banned(a), g.Banned(b), shared)
		}
	}
	c := newClock()
	g := newGuard(c, func(o *Options) { o.IPv6PrefixLength = 128 })
	fail(c, g, a, 4)
	if f := g.Failed(a.Next()); f.Failures != 1 {
		t.Errorf("/128: the next address's first failure counts %d, want 1", f.Failures)
	}
}

// TestExemptAddressInABannedNetwork: an exempt address is let in while
// the rest of its /64 is banned.
func TestExemptAddressInABannedNetwork(t *testing.T) {
	c := newClock()
	monitor := netip.MustParseAddr("2001:db8::10")
	g := newGuard(c, func(o *Options) { o.Exempt = []netip.Prefix{netip.PrefixFrom(monitor, 128)} })
	fail(c, g, netip.MustParseAddr("2001:db8::66"), 5)
	if !g.Banned(netip.MustParseAddr("2001:db8::67")) || g.Banned(monitor) {
		t.Fatalf("banned: neighbour %v, exempt %v; want true, false", g.Banned(netip.MustParseAddr("2001:db8::67")), g.Banned(monitor))
	}
}

// TestMemoryAtTheBounds fills both tables, the observed networks (each
// with a failure) and the bans, and checks the heap they take against the
// docs/security.md's figures (about 17 MB and 11 MB).
func TestMemoryAtTheBounds(t *testing.T) {
	testenv.FullTier(t, "65,536 bans and 65,536 observed networks")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxFailures = 2 })
	before := heap()
	flood(DefaultMaxAddresses, func(a netip.Addr) { g.Refused(a); g.Failed(a) })
	observed := heap()
	bans := uint64(0)
	for i := range DefaultMaxBans {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		g.Failed(a)
		if g.Failed(a).BanStarted {
			bans++
		}
	}
	full := heap()
	runtime.KeepAlive(g)
	t.Logf("observed %d networks: %d B; %d bans: %d B (%d B a ban)", g.Tracked(), observed-before, bans, full-observed, (full-observed)/max(bans, 1))
	if bans != DefaultMaxBans || g.BannedCount() != DefaultMaxBans {
		t.Fatalf("%d bans started, %d in force; want %d", bans, g.BannedCount(), DefaultMaxBans)
	}
	beyond := netip.MustParseAddr("2001:db8:ffff::1")
	g.Failed(beyond)
	if f := g.Failed(beyond); !f.BanTableFull {
		t.Fatalf("a ban beyond the bound: %+v, want BanTableFull", f)
	}
	if observed-before > 20<<20 || full-observed > 14<<20 {
		t.Errorf("observed table %d B (docs/security.md: about 17 MB), ban table %d B (docs/security.md: about 11 MB)", observed-before, full-observed)
	}
}

// TestDeniedDelaysAsAFailureAndBansNothing: a login refused after a right
// password (Denied) waits as long as a failure would and lengthens the
// next delays as a failure does, so that the delays do not tell it from a
// wrong password; it counts toward no ban and resets nothing.
func TestDeniedDelaysAsAFailureAndBansNothing(t *testing.T) {
	c := newClock()
	g := newGuard(c, func(o *Options) { o.MaxFailures = 2 })
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	for i, w := range want {
		if d := g.Denied(addrA); d != w {
			t.Fatalf("denial %d: delay %v, want %v", i+1, d, w)
		}
		c.advance(time.Second)
	}
	if g.Banned(addrA) {
		t.Fatal("denials banned the address")
	}
	f := g.Failed(addrA)
	if f.Failures != 1 || f.BanStarted || f.Delay != 4*time.Second {
		t.Fatalf("failure after 3 denials: %+v, want the 1st failure, delayed 4s", f)
	}
	if d := g.Denied(addrA); d != 4*time.Second || g.Banned(addrA) {
		t.Fatalf("denial after a failure: delay %v, banned %v; want 4s, not banned", d, g.Banned(addrA))
	}
	if f := g.Failed(addrA); !f.BanStarted || f.Failures != 2 {
		t.Fatalf("2nd failure, a denial in between: %+v, want the ban (denials reset no failure)", f)
	}
	c.advance(16 * time.Minute) // past the window and the ban
	if d := g.Denied(addrA); d != 500*time.Millisecond {
		t.Fatalf("denial after the window: delay %v, want 500ms", d)
	}
	g.Succeeded(addrA)
	if d := g.Denied(addrA); d != 500*time.Millisecond {
		t.Fatalf("denial after a success: delay %v, want 500ms (a success forgets denials)", d)
	}
}
