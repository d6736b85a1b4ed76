package pasv

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// errNoPort is what libPASV returns when no candidate could be bound, like
// the lib's ErrNoAvailableListeningPort.
var errNoPort = errors.New("could not find any port to listen to")

// libPASV does what ftpserverlib v0.32.3 does for one PASV/EPSV with a
// PassiveTransferPortRange (getPassivePortCandidates, then
// findListenerWithinPortRange), then what our driver does with the
// listener that bound (MainDriverExtensionPassiveWrapper). wrap may be nil
// (no wrapper, as with the lib's PortRange). listenCalls counts the
// net.ListenTCP calls.
func libPASV(a ftpserver.PasvPortGetter, wrap func(net.Listener) (net.Listener, error)) (port int, l net.Listener, listenCalls int, err error) {
	nb := min(max(a.NumberAttempts(), 10), 1000)
	maxFetches := nb * 4
	candidates := make([]int, 0, nb)
	tried := make(map[int]struct{}, nb)
	for i := 0; len(candidates) < nb && i < maxFetches; i++ {
		_, listened, ok := a.FetchNext()
		if !ok {
			break
		}
		if _, dup := tried[listened]; dup {
			continue
		}
		tried[listened] = struct{}{}
		candidates = append(candidates, listened)
	}
	for _, p := range candidates {
		listenCalls++
		tl, errListen := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4zero, Port: p})
		if errListen != nil {
			continue
		}
		if wrap == nil {
			return p, tl, listenCalls, nil
		}
		wl, errWrap := wrap(tl)
		if errWrap != nil {
			_ = tl.Close()
			return 0, nil, listenCalls, errWrap
		}
		return p, wl, listenCalls, nil
	}
	return 0, nil, listenCalls, errNoPort
}

// freeRange returns an inclusive range of size ports that can all be
// bound on 0.0.0.0 right now. It probes consecutive blocks of size ports
// starting at 20000+pid%20000 (never fixed ports), skipping the kernel's
// ephemeral range: a client socket of any process on the host may take a
// port there at any time and make it "foreign" in the middle of a test.
func freeRange(tb testing.TB, size int) (start, end int) {
	tb.Helper()
	const lo, hi = 20000, 65535
	ephLo, ephHi := ephemeralRange()
	span := hi - lo + 1
	first := lo + os.Getpid()%20000
	for i := 0; i < span/size; i++ {
		s := lo + (first-lo+i*size)%(span-size)
		e := s + size - 1
		if e >= ephLo && s <= ephHi {
			continue
		}
		if rangeFree(s, e) {
			return s, e
		}
	}
	tb.Fatalf("no free range of %d ports", size)
	return 0, 0
}

// ephemeralRange returns the kernel's range for automatic local ports
// (Linux), or an empty range where it is unknown.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, -1
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, -1
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return 0, -1
	}
	return lo, hi
}

func rangeFree(start, end int) bool {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for p := start; p <= end; p++ {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4zero, Port: p})
		if err != nil {
			return false
		}
		held = append(held, l)
	}
	return true
}

// holdPort binds port on 0.0.0.0 as a foreign process would.
func holdPort(tb testing.TB, port int) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		tb.Fatalf("hold port %d: %v", port, err)
	}
	return l
}

// observed returns a logger that records every entry, and the records.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// newTestAllocator returns an allocator on [start,end] logging to an
// observer.
func newTestAllocator(tb testing.TB, start, end int, wait time.Duration, now func() time.Time) (*Allocator, *observer.ObservedLogs) {
	tb.Helper()
	logger, logs := observed()
	a, err := NewAllocator(Options{Start: start, End: end, Wait: wait, Logger: logger, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return a, logs
}

// fakeClock is an Options.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lease does one libPASV through the allocator's wrapper and fails the
// test if it does not bind.
func lease(tb testing.TB, a *Allocator) (int, net.Listener) {
	tb.Helper()
	port, l, _, err := libPASV(a, a.WrapPassiveListener)
	if err != nil {
		tb.Fatalf("PASV: %v (stats %+v)", err, a.Stats())
	}
	return port, l
}

// eventually polls cond every few milliseconds until it holds or timeout.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
