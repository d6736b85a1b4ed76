package control

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/guard"
	"ftpsd/internal/ftptest"
	"ftpsd/refusal"
)

type countingEvents struct {
	mu       sync.Mutex
	refused  map[string]int
	failed   int
	cleared  int
	timedOut int
	evicted  int
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
func (e *countingEvents) UnauthenticatedEvicted() {
	e.mu.Lock()
	e.evicted++
	e.mu.Unlock()
}

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

// accepted returns the next connection the echo server accepted.
func (s *echoServer) accepted(t *testing.T) *Conn {
	t.Helper()
	c, ok := ftptest.Receive(s.conns, 5*time.Second)
	if !ok {
		t.Fatal("no connection accepted")
	}
	return c
}

// TestUnauthenticatedPerIP: max_unauthenticated_per_ip caps the
// connections not logged in of one client address (421 naming the key,
// counted), not those of other addresses; a login frees a slot.
func TestUnauthenticatedPerIP(t *testing.T) {
	ev := &countingEvents{}
	s := startEchoWith(t, Options{MaxUnauthenticatedPerIP: 2, Events: ev})
	dialFrom(t, "127.0.0.2", s.addr, "220")
	first := s.accepted(t)
	dialFrom(t, "127.0.0.2", s.addr, "220")
	s.accepted(t)
	dialFrom(t, "127.0.0.2", s.addr, "421 Too many connections (max_unauthenticated_per_ip)").ExpectClosed()
	dialFrom(t, "127.0.0.3", s.addr, "220")
	s.accepted(t)
	first.SetLoggedIn("alice")
	again := dialFrom(t, "127.0.0.2", s.addr, "220")
	cmd(t, again, "NOOP", "200 got NOOP")
	if got := ev.get(refusal.MaxUnauthenticatedPerIP); got != 1 {
		t.Fatalf("refusals counted for max_unauthenticated_per_ip: %d, want 1 (%v)", got, ev.refused)
	}
}

// TestEvictOldestOfBusiest: with max_unauthenticated reached, a newcomer
// from an address that would still hold fewer connections not logged in
// than the busiest address takes the place of that address's oldest one,
// which gets 421 and is closed; a newcomer from an address as busy, or one
// short, is refused; logged-in sessions are never evicted.
func TestEvictOldestOfBusiest(t *testing.T) {
	ev := &countingEvents{}
	s := startEchoWith(t, Options{MaxUnauthenticated: 4, Events: ev})
	var busy []*ftptest.MustClient
	for range 3 {
		busy = append(busy, dialFrom(t, "127.0.0.2", s.addr, "220"))
	}
	other := dialFrom(t, "127.0.0.3", s.addr, "220")
	for range 4 {
		s.accepted(t)
	}

	evicted := func(c *ftptest.MustClient, what string) {
		t.Helper()
		r := c.Expect(421, what)
		if !strings.Contains(r.Msg, "max_unauthenticated") {
			t.Errorf("%s: 421 %q does not name max_unauthenticated", what, r.Msg)
		}
		c.ExpectClosed()
	}
	dialFrom(t, "127.0.0.4", s.addr, "220") // 0 pending here, 3 at 127.0.0.2
	evicted(busy[0], "oldest connection of 127.0.0.2")
	cmd(t, busy[1], "NOOP", "200 got NOOP")
	// 127.0.0.3 holds 1, 127.0.0.2 2: with the newcomer both would hold 2.
	dialFrom(t, "127.0.0.3", s.addr, "421 Too many connections (max_unauthenticated)").ExpectClosed()
	dialFrom(t, "127.0.0.5", s.addr, "220")
	evicted(busy[1], "second connection of 127.0.0.2")
	// One each at 127.0.0.2-5: nobody is busier than a newcomer's address.
	dialFrom(t, "127.0.0.6", s.addr, "421 Too many connections (max_unauthenticated)").ExpectClosed()

	for range 2 {
		s.accepted(t)
	}
	for _, c := range s.registry.Conns() {
		if c.Client() == netip.MustParseAddr("127.0.0.2") {
			c.SetLoggedIn("alice") // busy[2], the last of 127.0.0.2: its slot frees
		}
	}
	dialFrom(t, "127.0.0.6", s.addr, "220")
	dialFrom(t, "127.0.0.7", s.addr, "421 Too many connections (max_unauthenticated)").ExpectClosed()
	cmd(t, busy[2], "NOOP", "200 got NOOP")
	cmd(t, other, "NOOP", "200 got NOOP")
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.evicted != 2 || ev.refused[refusal.MaxUnauthenticated] != 3 {
		t.Fatalf("evictions %d, refusals %v; want 2 evictions, 3 refusals for max_unauthenticated", ev.evicted, ev.refused)
	}
}

// TestImplicitRefusalOverTLS: a connection to the implicit port over a cap
// reads its 421 over TLS, then the connection closes.
func TestImplicitRefusalOverTLS(t *testing.T) {
	ev := &countingEvents{}
	s := startEchoWith(t, Options{Implicit: true, MaxConns: 1, Events: ev})
	d := ftptest.Dialer{Implicit: true, Timeout: 5 * time.Second}
	in, err := d.Connect(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	over, err := d.Connect(s.addr)
	if err != nil {
		t.Fatalf("connection over max_connections on the implicit port: %v; want a 421 over TLS", err)
	}
	defer over.Close()
	if g := over.Greeting().String(); !strings.HasPrefix(g, "421 Too many connections (max_connections)") {
		t.Fatalf("greeting over the cap: %q, want 421 naming max_connections", g)
	}
	if err := over.ExpectClosed(); err != nil {
		t.Fatal(err)
	}
	if ev.get(refusal.MaxConnections) != 1 {
		t.Fatalf("refusals counted: %v", ev.refused)
	}
}

// TestProxiedUnauthenticatedPerIP: under the PROXY protocol the address in
// the header counts towards max_unauthenticated_per_ip, not the
// balancer's; on the implicit port the refusal is read over TLS.
func TestProxiedUnauthenticatedPerIP(t *testing.T) {
	s := startEchoWith(t, Options{Implicit: true, MaxUnauthenticatedPerIP: 1,
		Proxy: &ProxyOptions{Trusted: []netip.Prefix{netip.PrefixFrom(testBalancer, 32)}}})
	via := func(client netip.Addr) *ftptest.Client {
		t.Helper()
		c, err := ftptest.Dialer{Implicit: true, Proxy: testBalancer, Local: client, Timeout: 5 * time.Second}.Connect(s.addr)
		if err != nil {
			t.Fatalf("client %s through the balancer: %v", client, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	if g := via(ftptest.ClientAddr).Greeting(); g.Code != 220 {
		t.Fatalf("first connection of %s: %q, want 220", ftptest.ClientAddr, g)
	}
	over := via(ftptest.ClientAddr)
	if g := over.Greeting().String(); !strings.HasPrefix(g, "421 Too many connections (max_unauthenticated_per_ip)") {
		t.Fatalf("second connection of %s: %q, want 421 naming max_unauthenticated_per_ip", ftptest.ClientAddr, g)
	}
	if g := via(ftptest.StrangerAddr).Greeting(); g.Code != 220 {
		t.Fatalf("connection of %s through the same balancer: %q, want 220", ftptest.StrangerAddr, g)
	}
}
