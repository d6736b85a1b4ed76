package pasv

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"ftpsd/internal/ftptest"
)

func TestNewAllocatorRange(t *testing.T) {
	logger, _ := observed()
	tests := []struct {
		name       string
		start, end int
		ok         bool
	}{
		{"zero start", 0, 10, false},
		{"negative start", -5, 10, false},
		{"end past 65535", 65000, 65536, false},
		{"reversed", 30010, 30000, false},
		{"single port", 30000, 30000, true},
		{"lowest", 1, 1, true},
		{"highest", 65535, 65535, true},
		{"whole space", 1, 65535, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAllocator(Options{Start: tt.start, End: tt.end, Logger: logger})
			if tt.ok != (err == nil) {
				t.Fatalf("NewAllocator(%d, %d) error = %v, want ok=%v", tt.start, tt.end, err, tt.ok)
			}
			if tt.ok {
				if got, want := a.Stats().Capacity, tt.end-tt.start+1; got != want {
					t.Errorf("Capacity = %d, want %d", got, want)
				}
			}
		})
	}
}

func TestProposalsInRange(t *testing.T) {
	start, end := freeRange(t, 12)
	a, _ := newTestAllocator(t, start, end, 0, nil)

	// Raw rounds, as the lib fetches them: every candidate in range, no
	// duplicate, every free port listed, and the round ends with false.
	for range 3 {
		n := a.NumberAttempts()
		seen := map[int]bool{}
		for range n {
			_, p, ok := a.FetchNext()
			if !ok {
				break
			}
			if p < start || p > end {
				t.Fatalf("candidate %d outside %d-%d", p, start, end)
			}
			if seen[p] {
				t.Fatalf("candidate %d listed twice in one round", p)
			}
			seen[p] = true
		}
		if len(seen) != end-start+1 {
			t.Fatalf("round listed %d ports, want all %d free ones", len(seen), end-start+1)
		}
	}

	// Leasing the whole range through libPASV: every port once.
	var held []net.Listener
	got := map[int]bool{}
	for range end - start + 1 {
		p, l := lease(t, a)
		if p < start || p > end || got[p] {
			t.Fatalf("PASV got port %d (range %d-%d, already leased: %v)", p, start, end, got[p])
		}
		got[p] = true
		held = append(held, l)
	}
	for _, l := range held {
		_ = l.Close()
	}
	if s := a.Stats(); s.InUse != 0 {
		t.Fatalf("InUse = %d after closing every listener", s.InUse)
	}
}

// TestLeastRecentlyReleasedFirst releases leased ports in a given order
// and expects the next PASVs to get them back in that very order.
func TestLeastRecentlyReleasedFirst(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		release []int // indexes into the range, in release order
	}{
		{"p3 before p1", 4, []int{3, 1}},
		{"p1 before p3", 4, []int{1, 3}},
		{"all four shuffled", 4, []int{2, 0, 3, 1}},
		{"reverse of lease order", 5, []int{4, 3, 2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := freeRange(t, tt.size)
			clock := ftptest.NewFakeClock()
			a, _ := newTestAllocator(t, start, end, 0, clock.Now)

			// A fresh range hands its ports out in order.
			held := map[int]net.Listener{}
			for i := range tt.size {
				clock.Advance(time.Second)
				p, l := lease(t, a)
				if p != start+i {
					t.Fatalf("fresh PASV #%d got %d, want %d", i, p, start+i)
				}
				held[p] = l
			}
			for _, i := range tt.release {
				clock.Advance(time.Second)
				_ = held[start+i].Close()
				delete(held, start+i)
			}
			for _, i := range tt.release {
				clock.Advance(time.Second)
				p, l := lease(t, a)
				if p != start+i {
					t.Fatalf("PASV got %d, want %d (the least recently released)", p, start+i)
				}
				held[p] = l
			}
			for _, l := range held {
				_ = l.Close()
			}
		})
	}
}

func TestStats(t *testing.T) {
	start, end := freeRange(t, 5)
	a, _ := newTestAllocator(t, start, end, 0, nil)
	want := Stats{Capacity: 5}
	check := func(step string) {
		t.Helper()
		if got := a.Stats(); got != want {
			t.Fatalf("%s: Stats = %+v, want %+v", step, got, want)
		}
	}
	check("fresh")

	var held []net.Listener
	for range 3 {
		_, l := lease(t, a)
		held = append(held, l)
	}
	want.InUse = 3
	check("3 leased")

	_ = held[1].Close()
	want.InUse = 2
	check("1 released")
	_ = held[1].Close() // a second Close releases nothing more
	check("1 closed twice")

	for range 3 {
		_, l := lease(t, a)
		held = append(held, l)
	}
	want.InUse = 5
	check("range full")

	if _, _, _, err := libPASV(a, a.WrapPassiveListener); err == nil {
		t.Fatal("PASV on a full range succeeded")
	}
	want.Exhaustions = 1
	check("one exhaustion")

	for _, l := range held {
		_ = l.Close()
	}
	want.InUse = 0
	check("all released")

	// A listener outside the range is passed through and never leased.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if w, _ := a.WrapPassiveListener(l); w != l {
		t.Error("listener outside the range was wrapped")
	}
	check("outside listener")
}

// TestPASVTwice: a session that sends PASV again gives its first port
// back, whether its first listener is closed before the second PASV or
// after the second one bound (the lib's order in handlePASV).
func TestPASVTwice(t *testing.T) {
	for _, closeFirst := range []bool{true, false} {
		name := map[bool]string{true: "close then new", false: "new then close"}[closeFirst]
		t.Run(name, func(t *testing.T) {
			size := 2
			if closeFirst {
				size = 1 // the second PASV only works if the first port came back
			}
			start, end := freeRange(t, size)
			a, _ := newTestAllocator(t, start, end, 0, nil)

			p1, l1 := lease(t, a)
			var p2 int
			var l2 net.Listener
			if closeFirst {
				_ = l1.Close()
				p2, l2 = lease(t, a)
				if p2 != p1 {
					t.Fatalf("second PASV got %d, want the released %d", p2, p1)
				}
			} else {
				p2, l2 = lease(t, a)
				if p2 == p1 {
					t.Fatalf("second PASV got the port still bound, %d", p2)
				}
				_ = l1.Close()
			}
			if s := a.Stats(); s.InUse != 1 {
				t.Fatalf("InUse = %d after the second PASV, want 1", s.InUse)
			}
			if !closeFirst {
				// The first port is free again: the next PASV gets it.
				p3, l3 := lease(t, a)
				if p3 != p1 {
					t.Fatalf("third PASV got %d, want the released %d", p3, p1)
				}
				_ = l3.Close()
			}
			_ = l2.Close()
			if s := a.Stats(); s.InUse != 0 {
				t.Fatalf("InUse = %d at the end", s.InUse)
			}
		})
	}
}

func TestExhaustionNoWait(t *testing.T) {
	start, end := freeRange(t, 3)
	a, logs := newTestAllocator(t, start, end, 0, nil)
	warns := func() int { return logs.FilterLevelExact(zapcore.WarnLevel).Len() }

	held := map[int]net.Listener{}
	for range 3 {
		p, l := lease(t, a)
		held[p] = l
	}
	for i := range 4 {
		t0 := time.Now()
		_, _, calls, err := libPASV(a, a.WrapPassiveListener)
		if !errors.Is(err, errNoPort) {
			t.Fatalf("PASV #%d on a full range: err = %v", i, err)
		}
		if calls != 0 {
			t.Errorf("PASV #%d on a full range made %d listen calls, want 0", i, calls)
		}
		if d := time.Since(t0); d > 250*time.Millisecond {
			t.Errorf("PASV #%d took %v with Wait 0", i, d)
		}
		if got := a.Stats().Exhaustions; got != uint64(i+1) {
			t.Errorf("Exhaustions = %d, want %d", got, i+1)
		}
	}
	if n := warns(); n != 1 {
		t.Fatalf("%d warnings for one dry spell, want 1", n)
	}

	// A release ends the dry spell.
	_ = held[start+1].Close()
	delete(held, start+1)
	p, l := lease(t, a)
	if p != start+1 {
		t.Fatalf("PASV after release got %d, want %d", p, start+1)
	}
	held[p] = l
	if n := warns(); n != 1 {
		t.Fatalf("%d warnings after the release, want still 1", n)
	}

	// The next dry spell warns again, once.
	for range 2 {
		if _, _, _, err := libPASV(a, a.WrapPassiveListener); err == nil {
			t.Fatal("PASV on a full range succeeded")
		}
	}
	if n := warns(); n != 2 {
		t.Fatalf("%d warnings after two dry spells, want 2", n)
	}
	if got := a.Stats().Exhaustions; got != 6 {
		t.Errorf("Exhaustions = %d, want 6", got)
	}
	for _, l := range held {
		_ = l.Close()
	}
}

func TestExhaustionWait(t *testing.T) {
	const wait = 300 * time.Millisecond

	t.Run("released while waiting", func(t *testing.T) {
		start, end := freeRange(t, 2)
		a, _ := newTestAllocator(t, start, end, wait, nil)
		p1, l1 := lease(t, a)
		_, l2 := lease(t, a)
		defer l2.Close()

		type result struct {
			port int
			l    net.Listener
			err  error
			took time.Duration
		}
		done := make(chan result, 1)
		t0 := time.Now()
		go func() {
			p, l, _, err := libPASV(a, a.WrapPassiveListener)
			done <- result{p, l, err, time.Since(t0)}
		}()
		ftptest.MustEventually(t, wait/2, "Waiting == 1", func() bool { return a.Stats().Waiting == 1 })
		time.Sleep(time.Until(t0.Add(100 * time.Millisecond)))
		if s := a.Stats(); s.Waiting != 1 || s.InUse != 2 {
			t.Fatalf("before the release: Stats = %+v, want Waiting 1, InUse 2", s)
		}
		_ = l1.Close()

		r := <-done
		if r.err != nil {
			t.Fatalf("waiting PASV failed after %v: %v", r.took, r.err)
		}
		defer r.l.Close()
		if r.port != p1 {
			t.Fatalf("waiting PASV got %d, want the released %d", r.port, p1)
		}
		if r.took < 90*time.Millisecond {
			t.Errorf("waiting PASV returned after %v, before the release at 100ms", r.took)
		}
		if s := a.Stats(); s.Waiting != 0 || s.InUse != 2 || s.Exhaustions != 0 {
			t.Errorf("after: Stats = %+v", s)
		}
	})

	t.Run("nobody releases", func(t *testing.T) {
		start, end := freeRange(t, 2)
		a, logs := newTestAllocator(t, start, end, wait, nil)
		_, l1 := lease(t, a)
		defer l1.Close()
		_, l2 := lease(t, a)
		defer l2.Close()

		t0 := time.Now()
		_, _, _, err := libPASV(a, a.WrapPassiveListener)
		took := time.Since(t0)
		if err == nil {
			t.Fatal("PASV on a full range succeeded")
		}
		if took < wait-10*time.Millisecond || took > wait+time.Second {
			t.Errorf("failed after %v, want about %v", took, wait)
		}
		if s := a.Stats(); s.Waiting != 0 || s.Exhaustions != 1 {
			t.Errorf("Stats = %+v, want Waiting 0, Exhaustions 1", s)
		}
		if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
			t.Errorf("%d warnings, want 1", n)
		}
	})
}

// TestConcurrentSessions: many sessions on a small range with a wait never
// fail, never share a port, and leave nothing leased.
func TestConcurrentSessions(t *testing.T) {
	const (
		sessions   = 50
		iterations = 40
		size       = 20
	)
	start, end := freeRange(t, size)
	a, logs := newTestAllocator(t, start, end, 2*time.Second, nil)

	var (
		owned   [size]atomic.Bool
		maxUsed atomic.Int64
		inUse   atomic.Int64
		errMu   sync.Mutex
		errs    []error
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			for range iterations {
				p, l, _, err := libPASV(a, a.WrapPassiveListener)
				if err != nil {
					fail(err)
					continue
				}
				if p < start || p > end {
					fail(errors.New("port out of range"))
					_ = l.Close()
					continue
				}
				if !owned[p-start].CompareAndSwap(false, true) {
					fail(errors.New("port leased twice at once"))
				}
				n := inUse.Add(1)
				for {
					m := maxUsed.Load()
					if n <= m || maxUsed.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
				inUse.Add(-1)
				owned[p-start].Store(false)
				_ = l.Close()
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	if _, ok := ftptest.Receive(finished, time.Minute); !ok {
		t.Fatalf("sessions still running after a minute (stats %+v)", a.Stats())
	}

	if len(errs) > 0 {
		t.Errorf("%d of %d PASVs failed; first: %v (stats %+v)", len(errs), sessions*iterations, errs[0], a.Stats())
	}
	if s := a.Stats(); s.InUse != 0 || s.Waiting != 0 || s.Exhaustions != 0 {
		t.Errorf("afterwards Stats = %+v, want nothing in use, waiting or exhausted", s)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d error log entries, first: %v", n, logs.FilterLevelExact(zapcore.ErrorLevel).All()[0].Message)
	}
	t.Logf("max ports held at once: %d of %d", maxUsed.Load(), size)
}

// TestForeignProcess: ports held by another process are learned as
// suspects, tried last, and used again once that process lets them go.
func TestForeignProcess(t *testing.T) {
	const size = 10
	start, end := freeRange(t, size)
	a, _ := newTestAllocator(t, start, end, 0, nil)

	var foreign []net.Listener
	isForeign := map[int]bool{}
	for p := start; p <= end; p += 2 {
		foreign = append(foreign, holdPort(t, p))
		isForeign[p] = true
	}

	for round := range 4 {
		var held []net.Listener
		got := map[int]bool{}
		calls := 0
		for s := range size / 2 {
			p, l, n, err := libPASV(a, a.WrapPassiveListener)
			if err != nil {
				t.Fatalf("round %d session %d: %v", round, s, err)
			}
			if isForeign[p] || got[p] {
				t.Fatalf("round %d session %d got port %d (foreign %v, taken %v)", round, s, p, isForeign[p], got[p])
			}
			got[p] = true
			held = append(held, l)
			calls += n
			if round > 0 && n != 1 {
				t.Errorf("round %d session %d needed %d listen calls, want 1 once the suspects are known", round, s, n)
			}
		}
		t.Logf("round %d: %d listen calls for %d PASVs", round, calls, size/2)
		if round == 0 && calls > size {
			t.Errorf("first round made %d listen calls, want at most %d", calls, size)
		}
		for _, l := range held {
			_ = l.Close()
		}
	}

	// The foreign process goes away: the whole range is usable again.
	for _, l := range foreign {
		_ = l.Close()
	}
	var held []net.Listener
	var ports []int
	for s := range size {
		p, l, n, err := libPASV(a, a.WrapPassiveListener)
		if err != nil {
			t.Fatalf("after the foreign process left, PASV %d: %v", s, err)
		}
		if n != 1 {
			t.Errorf("after the foreign process left, PASV %d needed %d listen calls", s, n)
		}
		ports = append(ports, p)
		held = append(held, l)
	}
	slices.Sort(ports)
	for i, p := range ports {
		if p != start+i {
			t.Fatalf("leased %v, want the whole range %d-%d", ports, start, end)
		}
	}
	if s := a.Stats(); s.InUse != size {
		t.Errorf("InUse = %d, want %d", s.InUse, size)
	}
	for _, l := range held {
		_ = l.Close()
	}
}

// TestWrapsOutOfOrder: two sessions bind the first candidates of their
// rounds and the second one reaches WrapPassiveListener first. The
// allocator must not take the ports the other round listed before its
// bound port for ports held by a foreign process: they stay plain free
// ports, handed out before the ones released since.
func TestWrapsOutOfOrder(t *testing.T) {
	start, end := freeRange(t, 4)
	a, _ := newTestAllocator(t, start, end, 0, nil)

	pA, rawA, _, err := libPASV(a, nil) // round A: [s, s+1, s+2, s+3]
	if err != nil {
		t.Fatal(err)
	}
	pB, rawB, _, err := libPASV(a, nil) // round B: [s+1, s+2, s+3, s] (s is being bound)
	if err != nil {
		t.Fatal(err)
	}
	if pA != start || pB != start+1 {
		t.Fatalf("rounds bound %d and %d, want %d and %d", pA, pB, start, start+1)
	}
	wB, _ := a.WrapPassiveListener(rawB)
	defer wB.Close()
	wA, _ := a.WrapPassiveListener(rawA)
	_ = wA.Close()

	// start+2 and start+3 were never used: they come before start, just
	// released.
	for _, want := range []int{start + 2, start + 3, start} {
		p, l, n, err := libPASV(a, a.WrapPassiveListener)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if p != want || n != 1 {
			t.Fatalf("PASV got %d with %d listen calls, want %d with 1", p, n, want)
		}
	}
}

// TestOverlappingLeases: a port closed by one session is bound by another
// before the first lease is released (the window inside the leased
// listener's Close). The second lease must survive the first release.
func TestOverlappingLeases(t *testing.T) {
	start, _ := freeRange(t, 1)
	a, _ := newTestAllocator(t, start, start, 0, nil)

	_, raw1, _, err := libPASV(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := a.WrapPassiveListener(raw1)
	_ = raw1.Close() // the port is free for the kernel, the lease not yet ended
	raw2, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4zero, Port: start})
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := a.WrapPassiveListener(raw2)
	_ = w1.Close() // ends the first lease

	if s := a.Stats(); s.InUse != 1 {
		t.Fatalf("InUse = %d while the second session holds the port, want 1", s.InUse)
	}
	if _, _, n, err := libPASV(a, a.WrapPassiveListener); err == nil || n != 0 {
		t.Fatalf("PASV while the only port is held: err %v after %d listen calls, want exhaustion", err, n)
	}
	if s := a.Stats(); s.Exhaustions != 1 {
		t.Fatalf("Exhaustions = %d, want 1", s.Exhaustions)
	}
	_ = w2.Close()
	if s := a.Stats(); s.InUse != 0 {
		t.Fatalf("InUse = %d after both closed", s.InUse)
	}
	_, l, _, err := libPASV(a, a.WrapPassiveListener)
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
}

// TestWaitsForPortBeingBound: the only port not leased is the one another
// session has just bound and not yet wrapped. A PASV allowed to wait must
// not try (and lose) that port: it waits for a real release.
func TestWaitsForPortBeingBound(t *testing.T) {
	start, end := freeRange(t, 2)
	a, _ := newTestAllocator(t, start, end, time.Second, nil)
	_, held, _, err := libPASV(a, a.WrapPassiveListener)
	if err != nil {
		t.Fatal(err)
	}
	pX, rawX, _, err := libPASV(a, nil) // bound, not yet wrapped
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		port  int
		l     net.Listener
		calls int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		p, l, n, err := libPASV(a, a.WrapPassiveListener)
		done <- result{p, l, n, err}
	}()
	// Before the fix the PASV tried pX at once, lost it and failed.
	ftptest.MustEventually(t, time.Second, "the PASV to wait", func() bool { return a.Stats().Waiting == 1 })
	wX, _ := a.WrapPassiveListener(rawX)
	defer wX.Close()
	time.Sleep(50 * time.Millisecond)
	_ = held.Close()

	r, ok := ftptest.Receive(done, 3*time.Second)
	if !ok {
		t.Fatal("PASV still waiting")
	}
	if r.err != nil {
		t.Fatalf("PASV failed after %d listen calls: %v", r.calls, r.err)
	}
	defer r.l.Close()
	if r.port == pX || r.calls != 1 {
		t.Fatalf("PASV got %d with %d listen calls, want %d with 1", r.port, r.calls, start)
	}
}

func TestTakenPorts(t *testing.T) {
	start, end := freeRange(t, 6)
	var held []int
	for _, p := range []int{start + 1, start + 4} {
		l := holdPort(t, p)
		defer l.Close()
		held = append(held, p)
	}
	if got := TakenPorts(start, end); !slices.Equal(got, held) {
		t.Fatalf("TakenPorts = %v, want %v", got, held)
	}
	// The check leaves the free ports free.
	if held := ftptest.HeldPorts(ftptest.Range{Start: start + 2, End: start + 3}); len(held) != 0 {
		t.Fatal("TakenPorts left a port bound")
	}
}
