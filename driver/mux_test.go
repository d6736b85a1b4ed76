package driver_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// passive.multiplex: one data port serves many sessions at once.

// muxRefused is the log line of a data connection no waiting session
// takes.
const muxRefused = "multiplexed data connection refused"

// startMux starts a server with passive.multiplex on a range of n ports,
// changed by edit (may be nil).
func startMux(t *testing.T, n int, edit func(*config.Config)) *testServer {
	t.Helper()
	return startServer(t, func(cfg *config.Config) {
		setPassivePorts(cfg, ftptest.PortRange(t, n))
		cfg.Passive.Multiplex = true
		cfg.Passive.MaxPortsPerIP = 0
		if edit != nil {
			edit(cfg)
		}
	})
}

// muxSession is a logged-in session waiting on its passive reply.
type muxSession struct {
	c    *ftptest.Client
	addr string // the data address announced
	port int
	want []byte // the content of its file
	name string
}

// waitOnPassive logs a session in from local, writes it a file of its own
// and sends PASV (epsv false) or EPSV; the session then waits for its data
// connection.
func waitOnPassive(t *testing.T, ts *testServer, local netip.Addr, i int, epsv bool) *muxSession {
	t.Helper()
	content := ftptest.RandomData(t, 256<<10+i)
	ftptest.WriteFile(t, ts.AliceDir(), fmt.Sprintf("mux%d.bin", i), content)
	s, err := waitOn(ts, local, i, epsv)
	if s != nil {
		t.Cleanup(func() { _ = s.c.Close() })
		s.want = content
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tryWaitOnPassive is waitOnPassive, safe in any goroutine, with EPSV
// and a file of 64 KiB.
func tryWaitOnPassive(ts *testServer, local netip.Addr, i int) (*muxSession, error) {
	content := bytes.Repeat(fmt.Appendf(nil, "session %d; ", i), 64<<10/12)
	if err := os.WriteFile(filepath.Join(ts.AliceDir(), fmt.Sprintf("mux%d.bin", i)), content, 0o600); err != nil {
		return nil, err
	}
	s, err := waitOn(ts, local, i, true)
	if s != nil {
		s.want = content
	}
	return s, err
}

func waitOn(ts *testServer, local netip.Addr, i int, epsv bool) (*muxSession, error) {
	c, err := openLoggedIn(ts.Addr, local)
	if err != nil {
		return nil, fmt.Errorf("session %d from %s: %w", i, local, err)
	}
	s := &muxSession{c: c, name: fmt.Sprintf("mux%d.bin", i)}
	p, err := c.Pasv(epsv)
	if err != nil || (p.Code != 227 && p.Code != 229) {
		return s, fmt.Errorf("session %d from %s: passive reply %v, %v", i, local, p.Reply, err)
	}
	s.addr, s.port = p.Addr, p.Port
	if p.Code == 227 {
		// The announced address is the server's; the tests dial loopback.
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	}
	return s, nil
}

// retrieve downloads the session's file over its announced address and
// checks its checksum.
func (s *muxSession) retrieve() error {
	got, err := s.c.RetrAt(s.addr, s.name)
	if err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(s.want) {
		return fmt.Errorf("%s: got %d bytes with another checksum, want its %d bytes", s.name, len(got), len(s.want))
	}
	return nil
}

// retrieveAll runs every session's download at once.
func retrieveAll(t *testing.T, sessions []*muxSession) {
	t.Helper()
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.retrieve()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("session %d: %v", i, err)
		}
	}
}

// Sessions from three addresses wait on the one port of the range at
// once, and each gets its own file.
func TestMultiplexDistinctAddressesShareOnePort(t *testing.T) {
	ts := startMux(t, 1, nil)
	var sessions []*muxSession
	for i := range 6 {
		sessions = append(sessions, waitOnPassive(t, ts, loopback(1+i%3), i, i%2 == 0))
	}
	for i, s := range sessions {
		if s.port != ts.Cfg.Passive.Ports.Start {
			t.Fatalf("session %d was announced port %d, want the range's one port %d", i, s.port, ts.Cfg.Passive.Ports.Start)
		}
	}
	// Twice each address: they resume their own session (the default
	// requires it), which tells them apart.
	retrieveAll(t, sessions)
	if n := ts.countLogs(muxRefused, nil); n != 0 {
		t.Errorf("%d data connections refused, want none", n)
	}
}

// Two sessions of one address wait on the one port; their data
// connections, made in the other order, each reach their own session by
// the TLS session they resume.
func TestMultiplexOneAddressToldApartByTicket(t *testing.T) {
	ts := startMux(t, 1, nil)
	a := waitOnPassive(t, ts, loopback(1), 0, true)
	b := waitOnPassive(t, ts, loopback(1), 1, false)
	if a.port != b.port {
		t.Fatalf("ports %d and %d, want both on the range's one port", a.port, b.port)
	}
	if err := b.retrieve(); err != nil {
		t.Fatalf("second session first: %v", err)
	}
	if err := a.retrieve(); err != nil {
		t.Fatalf("first session: %v", err)
	}
	retrieveAgain := []*muxSession{waitOnPassive(t, ts, loopback(1), 2, true), waitOnPassive(t, ts, loopback(1), 3, true)}
	retrieveAll(t, retrieveAgain)
}

// When the data connections of one address's sessions could not be told
// apart (tls.require_session_reuse off: a client may not resume), a second
// session of that address gets another port, and none when the range has
// no other.
func TestMultiplexOneAddressWithoutResumptionGetsAnotherPort(t *testing.T) {
	ts := startMux(t, 2, func(cfg *config.Config) { cfg.TLS.RequireSessionReuse = false })
	a := waitOnPassive(t, ts, loopback(1), 0, true)
	b := waitOnPassive(t, ts, loopback(1), 1, true)
	if a.port == b.port {
		t.Fatalf("both sessions of 127.0.0.1 were announced port %d, want two ports", a.port)
	}
	c, err := openLoggedIn(ts.Addr, loopback(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Cmd("EPSV"); err != nil || r.Code != 425 {
		t.Fatalf("third session of 127.0.0.1 on a 2-port range: %v %v, want 425", r, err)
	}
	other := waitOnPassive(t, ts, loopback(2), 2, true) // another address shares either port
	retrieveAll(t, []*muxSession{a, b, other})
}

// A data connection from an address with no session waiting is closed,
// logged, and disturbs no one.
func TestMultiplexRefusesStranger(t *testing.T) {
	ts := startMux(t, 1, nil)
	a := waitOnPassive(t, ts, loopback(1), 0, true)
	b := waitOnPassive(t, ts, loopback(2), 1, true)
	stranger, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: loopback(4).AsSlice()}}).Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	_ = stranger.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := stranger.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
		t.Fatalf("stranger's data connection read %d bytes, %v; want it closed", n, err)
	}
	retrieveAll(t, []*muxSession{a, b})
	if !ftptest.Eventually(2*time.Second, func() bool {
		return ts.countLogs(muxRefused, map[string]any{"remote": stranger.LocalAddr().String()}) == 1
	}) {
		t.Errorf("no %q line names the stranger %s", muxRefused, stranger.LocalAddr())
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// A ClientHello from the same address that offers the ticket of a third
// session, not waiting, is matched to neither waiting session.
func TestMultiplexForeignTicketMatchesNoSession(t *testing.T) {
	ts := startMux(t, 1, nil)
	a := waitOnPassive(t, ts, loopback(1), 0, true)
	b := waitOnPassive(t, ts, loopback(1), 1, true)
	third, err := openLoggedIn(ts.Addr, loopback(1))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	// third's data connection, offering third's ticket, to the port a and
	// b wait on.
	raw, err := third.DialData(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := third.Attach(raw, "stray"); err == nil {
		got, _ := io.ReadAll(x.Conn)
		t.Fatalf("a ClientHello offering a third session's ticket was taken (read %d bytes)", len(got))
	}
	if !ftptest.Eventually(2*time.Second, func() bool { return ts.countLogs(muxRefused, nil) == 1 }) {
		t.Errorf("%d %q lines, want 1", ts.countLogs(muxRefused, nil), muxRefused)
	}
	retrieveAll(t, []*muxSession{a, b})
	if got := bytes.Count([]byte(fmt.Sprint(ts.Logs.All())), []byte(muxRefused)); got != 1 {
		t.Errorf("%d refusals in the end, want 1", got)
	}
}

// muxFigures are how many sessions wait on the one port at once in
// TestMultiplexManySessionsOnePort: from distinct addresses, and from one
// address. FTPSD_MUX_SESSIONS=distinct,one raises them (the figures of
// docs/firewall.md).
func muxFigures(t *testing.T) (distinct, one int) {
	distinct, one = 40, 12
	if v := os.Getenv("FTPSD_MUX_SESSIONS"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &distinct, &one); err != nil {
			t.Fatalf("FTPSD_MUX_SESSIONS=%q: want DISTINCT,ONE", v)
		}
	}
	return distinct, one
}

// Many sessions wait on the one port of the range at once, from distinct
// addresses and from one, then all download at once: each gets its own
// file.
func TestMultiplexManySessionsOnePort(t *testing.T) {
	distinct, one := muxFigures(t)
	ts := startMux(t, 1, func(cfg *config.Config) { cfg.Passive.MaxPortsPerIP = one + 1 })
	sessions := make([]*muxSession, distinct+one)
	errs := make(chan error, len(sessions))
	var wg sync.WaitGroup
	for i := range sessions {
		local := loopback(1)
		if i < distinct {
			local = loopback(2 + i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := tryWaitOnPassive(ts, local, i)
			sessions[i] = s
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, s := range sessions {
			if s != nil {
				_ = s.c.Quit()
			}
		}
	})
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	retrieveAll(t, sessions)
	t.Logf("%d sessions from %d addresses and %d from one address downloaded %d KiB each at once on one port in %v",
		distinct, distinct, one, len(sessions[0].want)>>10, time.Since(start).Round(time.Millisecond))
}

// Under multiplex, max_ports_per_ip caps the sessions of one address
// waiting at once, whatever the ports: the next gets 425, another address
// does not.
func TestMultiplexAddressCap(t *testing.T) {
	ts := startMux(t, 1, func(cfg *config.Config) { cfg.Passive.MaxPortsPerIP = 2 })
	waitOnPassive(t, ts, loopback(1), 0, true)
	waitOnPassive(t, ts, loopback(1), 1, true)
	c, err := openLoggedIn(ts.Addr, loopback(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Cmd("EPSV"); err != nil || r.Code != 425 || !strings.Contains(r.Msg, "max_ports_per_ip") {
		t.Fatalf("third waiting session of 127.0.0.1 with max_ports_per_ip = 2: %v %v, want 425 naming the key", r, err)
	}
	retrieveAll(t, []*muxSession{waitOnPassive(t, ts, loopback(2), 2, true)})
}

// rclone (4 transfers and 8 checkers at once, on control connections of
// one address sharing one TLS session cache) round-trips 20 files through
// a multiplexed range with more ports than it runs transfers: sessions of
// one address are put on ports of their own while there are. (On a single
// port its data connections, offering the newest ticket of any of its
// sessions, are refused when two of its sessions wait there: the reason
// multiplex is off by default, see docs/firewall.md.)
func TestMultiplexRclone(t *testing.T) {
	rcloneRoundTrips(t, func(t *testing.T) *testServer { return startMux(t, 6, nil) })
}
