package driver_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Passive and active mode: bursts of sessions against a small port range,
// the port a session holds, the address announced behind NAT, EPSV turned
// off, and PORT/EPRT.

// busyText is in the 425 reply to a PASV/EPSV that found no free port.
const busyText = "the server is busy"

// exhaustedWarning starts the allocator's warning when the range runs dry.
const exhaustedWarning = "passive port range exhausted"

// sessionTimeout bounds every exchange of one session here: a burst runs
// 200 sessions at once.
const sessionTimeout = 60 * time.Second

// openLoggedIn logs alice in over explicit FTPS from local (zero: any),
// with PROT P. Its data connections must resume the control connection's
// TLS session.
func openLoggedIn(addr string, local netip.Addr) (*ftptest.Client, error) {
	return ftptest.Dialer{Local: local, Timeout: sessionTimeout, RequireResume: true}.Login(addr, userName, userPass)
}

// assertRangeFree fails unless every passive port can be bound again
// within 5s (the sessions wind down after their QUIT).
func assertRangeFree(t *testing.T, ts *testServer) {
	t.Helper()
	r := ts.Cfg.Passive.Ports
	var held []int
	var leased float64
	if !ftptest.Eventually(5*time.Second, func() bool {
		held = ftptest.HeldPorts(ftptest.Range{Start: r.Start, End: r.End})
		// A listener's socket closes before its lease ends
		// (leasedListener.Close): the range is free for the next PASV
		// once both have.
		leased = metricValue(t, ts, "ftpsd_passive_ports_in_use")
		return len(held) == 0 && leased == 0
	}) {
		t.Errorf("passive ports %v of %s are still held (%v leased) 5s after every session quit", held, r, leased)
	}
}

// burstResult is what one session of a burst did.
type burstResult struct {
	err  error // failure other than a busy reply
	busy bool  // got the 425 busy reply to its PASV/EPSV
	ok   bool  // got its own file
	port int   // announced passive port
}

// pasvBurst logs n sessions in, then releases them at once: session i
// sends PASV (even i) or EPSV (odd i), RETRs f<i>.txt over PROT P and
// quits. It returns each session's result.
func pasvBurst(t *testing.T, ts *testServer, n int) []burstResult {
	t.Helper()
	ports := ts.Cfg.Passive.Ports
	contents := make([][]byte, n)
	for i := range n {
		contents[i] = fmt.Appendf(nil, "session %d %x\n", i, ftptest.RandomData(t, 16))
		ftptest.WriteFile(t, ts.AliceDir(), fmt.Sprintf("f%d.txt", i), contents[i])
	}

	results := make([]burstResult, n)
	start := make(chan struct{})
	var loggedIn, done sync.WaitGroup
	loggedIn.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			res := &results[i]
			s, err := openLoggedIn(ts.Addr, netip.Addr{})
			loggedIn.Done()
			if err != nil {
				res.err = fmt.Errorf("login: %w", err)
				return
			}
			defer s.Close()
			<-start
			epsv := i%2 == 1
			r, err := s.Pasv(epsv)
			switch {
			case err != nil:
				res.err = err
				return
			case r.Code == 425 && strings.Contains(r.Msg, busyText):
				res.busy = true
				res.err = s.Quit()
				return
			case r.Code != 227 && r.Code != 229:
				res.err = fmt.Errorf("passive (epsv=%v): got %d %q", epsv, r.Code, r.Msg)
				return
			case epsv != (r.Code == 229):
				res.err = fmt.Errorf("passive (epsv=%v): got reply %d %q", epsv, r.Code, r.Msg)
				return
			}
			res.port = r.Port
			if !ports.Contains(r.Port) {
				res.err = fmt.Errorf("announced port %d is outside the passive range %s (reply %q)", r.Port, ports, r.Msg)
				return
			}
			if r.Code == 227 && r.Host != "127.0.0.1" {
				res.err = fmt.Errorf("227 announces %s, want 127.0.0.1", r.Host)
				return
			}
			got, err := s.RetrAt(r.Addr, fmt.Sprintf("f%d.txt", i))
			if err != nil {
				res.err = err
				return
			}
			if !bytes.Equal(got, contents[i]) {
				res.err = fmt.Errorf("RETR f%d.txt over port %d returned %q, want its own %q", i, r.Port, got, contents[i])
				return
			}
			res.ok = true
			res.err = s.Quit()
		}()
	}
	began := time.Now()
	loggedIn.Wait()
	released := time.Now()
	close(start)
	done.Wait()
	t.Logf("%d sessions logged in in %s, ran in %s", n, released.Sub(began).Round(time.Millisecond), time.Since(released).Round(time.Millisecond))
	return results
}

// tally counts a burst's results and reports its failures (at most 10).
func tally(t *testing.T, results []burstResult) (ok, busy int) {
	t.Helper()
	var failed int
	for i, r := range results {
		if r.ok {
			ok++
		}
		if r.busy {
			busy++
		}
		if r.err != nil {
			if failed++; failed <= 10 {
				t.Errorf("session %d: %v", i, r.err)
			}
		}
	}
	if failed > 10 {
		t.Errorf("... %d sessions failed in all", failed)
	}
	return ok, busy
}

// TestE2EPasvBurst releases 200 logged-in sessions at once against the
// 20-port range, half with PASV and half with EPSV, twice: every session
// waits for a port and gets its own file, every announced port is in the
// range, and all ports are free once the sessions quit. passive.wait is a
// minute: the default 5s holds on an idle machine, but how long 200
// transfers take is no test (under load some waited longer).
func TestE2EPasvBurst(t *testing.T) {
	testenv.FullTier(t, "200 sessions at once, twice")
	const sessions = 200
	ts := startServer(t, func(c *config.Config) { c.Passive.Wait = config.Duration(time.Minute) })
	if n := ts.Cfg.Passive.Ports.Len(); n != 20 {
		t.Fatalf("passive range has %d ports, want 20", n)
	}
	for round := range 2 {
		began := time.Now()
		results := pasvBurst(t, ts, sessions)
		ok, busy := tally(t, results)
		t.Logf("round %d: %d of %d sessions got their file, %d busy, in %s", round, ok, sessions, busy, time.Since(began).Round(time.Millisecond))
		if ok != sessions {
			t.Errorf("round %d: %d of %d sessions succeeded (%d got a busy reply despite passive.wait)", round, ok, sessions, busy)
		}
		assertRangeFree(t, ts)
		if t.Failed() {
			break
		}
	}
}

// TestE2EPasvBurstNoWait runs the burst with passive.wait = 0: a session
// that finds no free port gets the 425 busy reply at once, the others
// their own file; the exhaustion warning is not logged per refusal.
func TestE2EPasvBurstNoWait(t *testing.T) {
	testenv.FullTier(t, "200 sessions at once, twice")
	const sessions = 200
	ts := startServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
	for round := range 2 {
		began := time.Now()
		warnedBefore := ts.Logs.FilterMessageSnippet(exhaustedWarning).Len()
		results := pasvBurst(t, ts, sessions)
		ok, busy := tally(t, results)
		warnings := ts.Logs.FilterMessageSnippet(exhaustedWarning).Len() - warnedBefore
		t.Logf("round %d: %d ok, %d busy, %d exhaustion warnings, in %s", round, ok, busy, warnings, time.Since(began).Round(time.Millisecond))
		if ok+busy != sessions {
			t.Errorf("round %d: %d ok + %d busy != %d sessions", round, ok, busy, sessions)
		}
		if ok < 20 {
			t.Errorf("round %d: only %d sessions succeeded, want at least one per port (20)", round, ok)
		}
		if busy > 0 && warnings == 0 {
			t.Errorf("round %d: %d sessions were refused but %q was never logged", round, busy, exhaustedWarning)
		}
		// Once per dry spell, not per refusal: a spell ends only when a
		// port is released, and each session that got its file released
		// one port once. (Usually the whole burst is one spell; when some
		// sessions arrive after the first releases there are a few.)
		if warnings > ok+1 {
			t.Errorf("round %d: %q logged %d times for %d refusals and %d releases, want at most one per dry spell",
				round, exhaustedWarning, warnings, busy, ok)
		}
		assertRangeFree(t, ts)
		if t.Failed() {
			break
		}
	}
}

// TestE2EPasvBurstOnePort releases 30 sessions at once against a range of
// one port: each session waits its turn for
// the port, none is refused while another session is about to bind it.
func TestE2EPasvBurstOnePort(t *testing.T) {
	const sessions = 30
	ts := startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, 1))
		c.Passive.Wait = config.Duration(time.Minute) // see TestE2EPasvBurst
	})
	if n := ts.Cfg.Passive.Ports.Len(); n != 1 {
		t.Fatalf("passive range has %d ports, want 1", n)
	}
	ok, busy := tally(t, pasvBurst(t, ts, sessions))
	if ok != sessions {
		t.Errorf("%d of %d sessions got their file, %d were refused as busy within passive.wait", ok, sessions, busy)
	}
	assertRangeFree(t, ts)
}

// TestE2EPasvWaitsPastForeignPorts holds two ports of the range in another
// listener (a foreign process): once the server leased the 18 others, a
// PASV waits for one of them (passive.wait) instead of failing at once on
// the two ports it cannot bind.
func TestE2EPasvWaitsPastForeignPorts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.Passive.Wait = config.Duration(10 * time.Second) })
	ports := ts.Cfg.Passive.Ports
	for _, p := range []int{ports.Start, ports.Start + 1} {
		l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
	}
	var held []*ftptest.Client
	t.Cleanup(func() {
		for _, s := range held {
			s.Close()
		}
	})
	for i := range ports.Len() - 2 {
		s, err := openLoggedIn(ts.Addr, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
		r, err := s.Pasv(i%2 == 1)
		if err != nil || (r.Code != 227 && r.Code != 229) {
			t.Fatalf("session %d: %d %q %v", i, r.Code, r.Msg, err)
		}
		if r.Port < ports.Start+2 || r.Port > ports.End {
			t.Fatalf("session %d got port %d, held by the foreign listener or out of %s", i, r.Port, ports)
		}
	}

	late, err := openLoggedIn(ts.Addr, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, late)
	const quitAfter = time.Second
	go func() {
		time.Sleep(quitAfter)
		_ = held[0].Quit()
	}()
	began := time.Now()
	r, err := late.Pasv(false)
	waited := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 227 || !ports.Contains(r.Port) {
		t.Fatalf("PASV while every bindable port was leased got %d %q after %s, want 227 once a session quit (after %s)",
			r.Code, r.Msg, waited.Round(time.Millisecond), quitAfter)
	}
	if waited < quitAfter/2 {
		t.Errorf("PASV answered after %s, before any port was released", waited)
	}
	ftptest.WriteFile(t, ts.AliceDir(), "late.txt", []byte("late\n"))
	got, err := late.RetrAt(r.Addr, "late.txt")
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR late.txt", got, []byte("late\n"))
}

// TestE2EPasvTwiceHoldsOnePort shows that a session that sends PASV twice
// without transferring holds one port: 20 such sessions lease the whole
// 20-port range, a 21st session is refused (passive.wait = 0), and gets a
// port once one of the 20 quits.
func TestE2EPasvTwiceHoldsOnePort(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
	ports := ts.Cfg.Passive.Ports
	ftptest.WriteFile(t, ts.AliceDir(), "late.txt", []byte("the late session's file\n"))

	var held []*ftptest.Client
	t.Cleanup(func() {
		for _, s := range held {
			s.Close()
		}
	})
	leased := map[int]int{} // port -> session
	for i := range ports.Len() {
		s, err := openLoggedIn(ts.Addr, netip.Addr{})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		held = append(held, s)
		var last ftptest.Passive
		for try := range 2 {
			r, err := s.Pasv(false)
			if err != nil {
				t.Fatalf("session %d PASV #%d: %v", i, try+1, err)
			}
			if r.Code != 227 {
				t.Fatalf("session %d PASV #%d (%d sessions hold a port): got %d %q, want 227",
					i, try+1, i, r.Code, r.Msg)
			}
			if !ports.Contains(r.Port) {
				t.Fatalf("session %d: port %d outside %s", i, r.Port, ports)
			}
			last = r
		}
		if other, dup := leased[last.Port]; dup {
			t.Fatalf("sessions %d and %d both hold port %d", other, i, last.Port)
		}
		leased[last.Port] = i
	}

	late, err := openLoggedIn(ts.Addr, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, late)
	for _, epsv := range []bool{false, true} {
		r, err := late.Pasv(epsv)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 425 || !strings.Contains(r.Msg, busyText) {
			t.Fatalf("21st session (epsv=%v) while 20 sessions hold the 20 ports: got %d %q, want 425 %q",
				epsv, r.Code, r.Msg, busyText)
		}
	}

	if err := held[0].Quit(); err != nil {
		t.Fatalf("session 0 QUIT: %v", err)
	}
	fresh, err := openLoggedIn(ts.Addr, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, fresh)
	var r ftptest.Passive
	if !ftptest.Eventually(5*time.Second, func() bool { // the lib ends the session after its 221
		r, err = fresh.Pasv(false)
		return err != nil || r.Code != 425
	}) {
		t.Fatalf("no port 5s after a session holding one quit: %d %q", r.Code, r.Msg)
	}
	if err != nil || r.Code != 227 || !ports.Contains(r.Port) {
		t.Fatalf("PASV of a new session after one quit: %d %q %v", r.Code, r.Msg, err)
	}
	got, err := fresh.RetrAt(r.Addr, "late.txt")
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR late.txt", got, []byte("the late session's file\n"))
	for _, s := range held[1:] {
		if err := s.Quit(); err != nil {
			t.Errorf("QUIT: %v", err)
		}
	}
	assertRangeFree(t, ts)
}

// TestE2EPasvPipelined sends a transfer command and the next PASV in one
// write: the lib runs the transfer first, on the listener of the previous
// PASV, and only then answers the new PASV; the second PASV must not take
// that listener away from the transfer (passive.wait = 0, full range).
func TestE2EPasvPipelined(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
	content := []byte("pipelined\n")
	ftptest.WriteFile(t, ts.AliceDir(), "p.txt", content)
	s, err := openLoggedIn(ts.Addr, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		r, err := s.Pasv(i%2 == 1)
		if err != nil || (r.Code != 227 && r.Code != 229) {
			t.Fatalf("passive: %d %q %v", r.Code, r.Msg, err)
		}
		data, err := s.DialData(r.Addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = data.SetDeadline(time.Now().Add(sessionTimeout))
		if err := s.Write([]byte("RETR p.txt\r\nPASV\r\n")); err != nil { // one write: pipelined
			t.Fatal(err)
		}
		if _, err := s.Expect(150, "pipelined RETR"); err != nil {
			t.Fatal(err)
		}
		got, err := receive(s, data, "pipelined RETR")
		_ = data.Close()
		if err != nil {
			t.Fatal(err)
		}
		ftptest.MustSameData(t, "pipelined RETR", got, content)
		if _, err := s.Expect(227, "pipelined PASV"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Quit(); err != nil {
		t.Fatal(err)
	}
	assertRangeFree(t, ts)
}

// TestE2EPasvNATAddress checks the address of 227 replies behind NAT: the
// public address for clients outside passive.internal_networks, the
// server's own address for clients inside, and EPSV (no address) for both.
func TestE2EPasvNATAddress(t *testing.T) {
	const public = "203.0.113.7"
	content := []byte("nat test file\n")
	ts := startServer(t, func(c *config.Config) {
		c.Passive.PublicAddress = public
		setInternalNetworks(c, "127.0.0.2/32")
	})
	ftptest.WriteFile(t, ts.AliceDir(), "nat.txt", content)
	ports := ts.Cfg.Passive.Ports

	check := func(t *testing.T, s *ftptest.Client, epsv bool, wantHost string, transfer bool) {
		t.Helper()
		r, err := s.Pasv(epsv)
		if err != nil {
			t.Fatal(err)
		}
		wantCode := map[bool]int{false: 227, true: 229}[epsv]
		if r.Code != wantCode || r.Host != wantHost || !ports.Contains(r.Port) {
			t.Fatalf("epsv=%v: got %d %q (host %q, port %d), want %d with host %q and a port in %s",
				epsv, r.Code, r.Msg, r.Host, r.Port, wantCode, wantHost, ports)
		}
		if !transfer {
			return
		}
		got, err := s.RetrAt(r.Addr, "nat.txt")
		if err != nil {
			t.Fatal(err)
		}
		ftptest.MustSameData(t, "RETR nat.txt", got, content)
	}
	open := func(t *testing.T, addr string, local netip.Addr) *ftptest.Client {
		t.Helper()
		s, err := openLoggedIn(addr, local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("outside client gets the public address", func(t *testing.T) {
		s := open(t, ts.Addr, netip.Addr{})
		if a := s.Raw().LocalAddr().(*net.TCPAddr).IP.String(); a != "127.0.0.1" {
			t.Fatalf("client address %s, want 127.0.0.1", a)
		}
		// Only the reply is checked: the public address is not reachable.
		check(t, s, false, public, false)
		check(t, s, true, "", true)
		if err := s.Quit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("internal client gets the server's address", func(t *testing.T) {
		s := open(t, ts.Addr, netip.MustParseAddr("127.0.0.2"))
		if a := s.Raw().LocalAddr().(*net.TCPAddr).IP.String(); a != "127.0.0.2" {
			t.Fatalf("client address %s, want 127.0.0.2", a)
		}
		check(t, s, false, "127.0.0.1", true)
		check(t, s, true, "", true)
		if err := s.Quit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no public address", func(t *testing.T) {
		plain := startServer(t, nil)
		ftptest.WriteFile(t, plain.AliceDir(), "nat.txt", content)
		ports := plain.Cfg.Passive.Ports
		s := open(t, plain.Addr, netip.Addr{})
		r, err := s.Pasv(false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 227 || r.Host != "127.0.0.1" || !ports.Contains(r.Port) {
			t.Fatalf("PASV without public address: got %d %q, want 227 with 127,0,0,1", r.Code, r.Msg)
		}
		got, err := s.RetrAt(r.Addr, "nat.txt")
		if err != nil {
			t.Fatal(err)
		}
		ftptest.MustSameData(t, "RETR nat.txt", got, content)
		if err := s.Quit(); err != nil {
			t.Fatal(err)
		}
	})
}

// activeListener listens on ip for the server's active data connection.
func activeListener(t *testing.T, ip string) *net.TCPListener {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// activeCommands returns the PORT and the EPRT command that name l.
func activeCommands(l *net.TCPListener) []string {
	addr := l.Addr().(*net.TCPAddr)
	ip := addr.IP.To4()
	return []string{
		fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], addr.Port>>8, addr.Port&0xff),
		fmt.Sprintf("EPRT |1|%s|%d|", ip, addr.Port),
	}
}

// acceptWithin accepts one connection on l within d.
func acceptWithin(l *net.TCPListener, d time.Duration) (net.Conn, error) {
	_ = l.SetDeadline(time.Now().Add(d))
	return l.Accept()
}

// TestE2EActiveMode checks PORT/EPRT: refused by default, and with
// active.enabled a PORT to the client's own address carries a LIST over
// PROT P (the server connects out and stays the TLS server), while a PORT
// naming another address is refused (no FTP bounce).
func TestE2EActiveMode(t *testing.T) {
	login := func(t *testing.T, ts *testServer) *ftptest.MustClient {
		t.Helper()
		return ftptest.Dialer{Timeout: sessionTimeout, RequireResume: true}.MustLogin(t, ts.Addr, userName, userPass)
	}

	t.Run("disabled by default", func(t *testing.T) {
		ts := startServer(t, nil)
		if ts.Cfg.Active.Enabled {
			t.Fatal("active.enabled is on by default")
		}
		s := login(t, ts)
		l := activeListener(t, "127.0.0.1")
		for _, line := range activeCommands(l) {
			if r := s.Cmd("%s", line); r.Code < 500 || r.Code > 599 {
				t.Errorf("%s with active mode disabled: got %d %q, want a 5xx refusal", line, r.Code, r.Msg)
			}
		}
		// The session goes on (a 421 would have told the client it ends).
		s.Do(257, "PWD")
		if c, err := acceptWithin(l, 200*time.Millisecond); err == nil {
			_ = c.Close()
			t.Error("the server connected to the PORT address although active mode is disabled")
		}
		s.Quit()
	})

	t.Run("enabled", func(t *testing.T) {
		ts := startServer(t, func(c *config.Config) {
			c.Active.Enabled = true
			c.Passive.Wait = 0
		})
		ftptest.WriteFile(t, ts.AliceDir(), "active-marker.txt", []byte("active\n"))
		s := login(t, ts)

		list := func(t *testing.T, l *net.TCPListener) {
			t.Helper()
			s.Do(150, "LIST")
			conn, err := acceptWithin(l, 10*time.Second)
			if err != nil {
				t.Fatalf("the server did not connect to the PORT address: %v", err)
			}
			defer conn.Close()
			// The server remains the TLS server on the connection it opened.
			got, err := receive(s.Client, conn, "LIST")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte("active-marker.txt")) {
				t.Fatalf("LIST over the active connection lacks the file:\n%s", got)
			}
		}

		l := activeListener(t, "127.0.0.1")
		port, eprt := activeCommands(l)[0], activeCommands(l)[1]
		s.Do(200, "%s", port)
		list(t, l)
		s.Do(200, "%s", eprt)
		list(t, l)

		// A PASV left unused for a PORT must not keep its port: more such
		// rounds than the range has ports (passive.wait = 0).
		for i := range ts.Cfg.Passive.Ports.Len() + 1 {
			if r := s.Pasv(i%2 == 1); r.Code != 227 && r.Code != 229 {
				t.Fatalf("PASV/EPSV #%d, each followed by PORT: %d %q", i+1, r.Code, r.Msg)
			}
			s.Do(200, "%s", port)
			list(t, l)
		}

		// Another host: the lib requires the client's own address.
		other := activeListener(t, "127.0.0.3")
		for _, line := range activeCommands(other) {
			if r := s.Cmd("%s", line); r.Code < 400 || r.Code > 599 {
				t.Errorf("%s from 127.0.0.1: got %d %q, want a 4xx/5xx refusal", line, r.Code, r.Msg)
			}
			// No transfer may go to the other host.
			r := s.Cmd("LIST")
			if r.Code == 150 {
				_, _ = s.Client.Reply()
			}
			if c, err := acceptWithin(other, 300*time.Millisecond); err == nil {
				_ = c.Close()
				t.Fatalf("after %s the server connected to 127.0.0.3 (LIST got %d %q)", line, r.Code, r.Msg)
			}
		}
		s.Quit()
		assertRangeFree(t, ts)
	})
}

// receive runs the client side of a data connection whose transfer has
// been answered 150 and on which the server sends: it reads the data and
// then the final 226.
func receive(c *ftptest.Client, data net.Conn, what string) ([]byte, error) {
	x, err := c.Attach(data, what)
	if err != nil {
		return nil, err
	}
	return x.Receive()
}

// TestE2EEPSVDisabled: with passive.epsv = false, EPSV gets 502, FEAT does
// not list it, and curl falls back to PASV and downloads.
func TestE2EEPSVDisabled(t *testing.T) {
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, func(cfg *config.Config) { cfg.Passive.EPSV = false }, "epsv.bin", 64*1024+7)
	work := t.TempDir()
	out := filepath.Join(work, "epsv.bin")
	_, trace := runTool(t, work, curl, append(curlBase(userName, userPass), "-o", out, "ftp://"+ts.Addr+"/epsv.bin")...)
	if !strings.Contains(trace, "< 502 EPSV is disabled") || !slices.Contains(sentCommands(trace), "PASV") {
		t.Fatalf("curl did not get 502 for EPSV and fall back to PASV:\n%s", trace)
	}
	ftptest.MustSameFile(t, out, data)

	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if slices.Contains(featLines(c), "EPSV") {
		t.Fatalf("FEAT lists EPSV with passive.epsv = false")
	}
	c.Quit()
}

// needIPv6 skips the test when the IPv6 loopback address ::1 cannot be
// bound here (it fails it under CI=true).
func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, "the IPv6 loopback address ::1 is not available: %v", err)
		return
	}
	_ = ln.Close()
}

// mustRefuseProtocol fails unless each command gets 522 (RFC 2428: the
// network protocol is not supported) naming the one that is, and the
// session goes on.
func mustRefuseProtocol(t *testing.T, c *ftptest.MustClient, use string, commands ...string) {
	t.Helper()
	for _, cmd := range commands {
		if r := c.Cmd("%s", cmd); r.Code != 522 || !strings.Contains(r.Msg, "("+use+")") {
			t.Errorf("%s: %q, want 522 naming (%s)", cmd, r, use)
		}
		c.Do(200, "NOOP")
	}
}

// TestDataSetupOnIPv6: on an IPv6 control connection, PASV (whose 227
// carries an IPv4 address), EPSV 1, PORT (IPv4 only) and EPRT |1| are
// refused with 522 (RFC 2428) and the session goes on: EPSV, EPSV 2 and
// EPRT |2| work. The lib answered PASV 421 ("closing") while the session
// stayed, and kept the passive port it had leased for it; it answered
// EPSV 1 with 229 and PORT/EPRT |1| with 501.
func TestDataSetupOnIPv6(t *testing.T) {
	needIPv6(t)
	ts := startServer(t, func(c *config.Config) {
		c.Server.Listen = "[::1]:0"
		c.Server.ImplicitListen = ""
		c.Active.Enabled = true
	})
	data := ftptest.RandomData(t, 10_000)
	ftptest.WriteFile(t, ts.AliceDir(), "f.bin", data)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	mustRefuseProtocol(t, c, "2", "PASV", "EPSV 1", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|")
	if got := metricValue(t, ts, "ftpsd_passive_ports_in_use"); got != 0 {
		t.Errorf("%v passive ports leased after the refused commands, want 0", got)
	}
	c.Do(229, "EPSV 2")
	ftptest.MustSameData(t, "RETR f.bin after EPSV", c.Retr("f.bin"), data)
	c.Do(200, "EPRT |2|::1|1025|")
	c.Quit()
	assertRangeFree(t, ts)
}

// TestDataSetupNetworkProtocol: on an IPv4 control connection EPSV 2 and
// EPRT |2| get 522 naming (1), another protocol number 522 as well, and
// an EPSV argument that is no number 501; EPSV 1 works.
func TestDataSetupNetworkProtocol(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Active.Enabled = true })
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	mustRefuseProtocol(t, c, "1", "EPSV 2", "EPRT |2|::1|1025|", "EPSV 3")
	c.Do(501, "EPSV x")
	c.Do(229, "EPSV 1")
	c.Quit()
}
