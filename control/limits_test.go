package control

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/guard"
	"ftpsd/internal/ftptest"
)

type countingEvents struct {
	mu       sync.Mutex
	refused  map[string]int
	failed   int
	cleared  int
	timedOut int
}

func (e *countingEvents) ConnectionRefused(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refused == nil {
		e.refused = map[string]int{}
	}
	e.refused[reason]++
}

func (e *countingEvents) HandshakeFailed() { e.mu.Lock(); e.failed++; e.mu.Unlock() }
func (e *countingEvents) LoginTimedOut()   { e.mu.Lock(); e.timedOut++; e.mu.Unlock() }
func (e *countingEvents) ControlCleared()  { e.mu.Lock(); e.cleared++; e.mu.Unlock() }

func (e *countingEvents) get(reason string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused[reason]
}

// dialFrom connects a test client from the address local and checks that
// its greeting starts with greeting.
func dialFrom(t *testing.T, local, addr, greeting string) *ftptest.MustClient {
	t.Helper()
	c, err := ftptest.Dialer{Local: netip.MustParseAddr(local)}.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if g := c.Greeting().String(); !strings.HasPrefix(g, greeting) {
		t.Fatalf("greeting %q, want prefix %q", g, greeting)
	}
	return c.Must(t)
}

func TestConnectionCaps(t *testing.T) {
	ev := &countingEvents{}
	s := startEchoWith(t, Options{MaxConns: 3, MaxPerIP: 2, Events: ev})
	a := dialFrom(t, "127.0.0.1", s.addr, "220")
	dialFrom(t, "127.0.0.1", s.addr, "220")
	dialFrom(t, "127.0.0.1", s.addr, "421 Too many connections (max_connections_per_ip)").ExpectClosed()
	dialFrom(t, "127.0.0.2", s.addr, "220")
	dialFrom(t, "127.0.0.3", s.addr, "421 Too many connections (max_connections)").ExpectClosed()
	if ev.get("max_connections_per_ip") != 1 || ev.get("max_connections") != 1 {
		t.Fatalf("refusals counted: %v", ev.refused)
	}
	// A slot frees when a client leaves.
	_ = a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.registry.Len() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	again := dialFrom(t, "127.0.0.1", s.addr, "220")
	cmd(t, again, "NOOP", "200 got NOOP")
}

// TestBanOutlivesAFloodOfRefusals: with a guard as the Gate, refusals of
// more addresses than the guard observes at once (a connection cap
// refuses them) do not lift the ban of an address: it still gets the ban's
// 421 afterwards.
func TestBanOutlivesAFloodOfRefusals(t *testing.T) {
	const observed, flood = 64, 200
	g := guard.New(guard.Options{MaxFailures: 1, Window: time.Minute, BanTime: time.Hour, MaxAddresses: observed})
	s := startEchoWith(t, Options{MaxConns: 1, Gate: g})
	dialFrom(t, "127.0.0.1", s.addr, "220") // holds the one connection
	banned := netip.MustParseAddr("127.0.0.9")
	if !g.Failed(banned).BanStarted {
		t.Fatal("no ban")
	}
	for i := range flood {
		from := netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}).String()
		dialFrom(t, from, s.addr, "421 Too many connections (max_connections)").ExpectClosed()
	}
	dialFrom(t, banned.String(), s.addr, "421 Too many failed logins").ExpectClosed()
}
