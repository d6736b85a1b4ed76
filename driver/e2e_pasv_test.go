package driver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
)

// Passive-mode tests: bursts of sessions against a small port range, the
// port a session holds, the address announced behind NAT, and active mode.

// busyText is in the 425 reply to a PASV/EPSV that found no free port.
const busyText = "the server is busy"

// exhaustedWarning starts the allocator's warning when the range runs dry.
const exhaustedWarning = "passive port range exhausted"

// sessionTimeout bounds every network operation of one ftpsSession.
const sessionTimeout = 60 * time.Second

// ftpsSession is a small explicit-FTPS client whose methods return errors
// instead of failing the test, so that many of them can run in goroutines.
// Like rawClient, it uses one TLS config for the control and the data
// connections, so that data connections resume the control session.
type ftpsSession struct {
	dialer *net.Dialer // also dials the data connections (same source address)
	raw    net.Conn
	conn   net.Conn // raw, or the TLS client over it
	r      *textproto.Reader
	tlsCfg *tls.Config
}

// passiveReply is the reply to PASV or EPSV; addr is the data address to
// dial, "" unless the reply was 227 or 229.
type passiveReply struct {
	code int
	msg  string
	host string // announced host of a 227; "" for 229
	port int
	addr string
}

// openSession connects to addr, from the address local when it is not nil,
// and reads the greeting.
func openSession(addr string, local net.IP) (*ftpsSession, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial control: %w", err)
	}
	_ = raw.SetDeadline(time.Now().Add(sessionTimeout))
	s := &ftpsSession{dialer: d, raw: raw, conn: raw, r: textproto.NewReader(bufio.NewReader(raw)), tlsCfg: clientTLS()}
	if _, err := s.expect(220, "greeting"); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return s, nil
}

// openLoggedIn opens a session, protects it with AUTH TLS, logs in as
// alice and asks for PROT P.
func openLoggedIn(addr string, local net.IP) (*ftpsSession, error) {
	s, err := openSession(addr, local)
	if err != nil {
		return nil, err
	}
	if err := s.login(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *ftpsSession) close() { _ = s.raw.Close() }

func (s *ftpsSession) cmd(format string, args ...any) (int, string, error) {
	if _, err := fmt.Fprintf(s.conn, format+"\r\n", args...); err != nil {
		return 0, "", fmt.Errorf("send %s: %w", verbOf(format, args...), err)
	}
	code, msg, err := s.r.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, "", fmt.Errorf("reply to %s: %w", verbOf(format, args...), err)
	}
	return code, msg, nil
}

func verbOf(format string, args ...any) string {
	return strings.SplitN(fmt.Sprintf(format, args...), " ", 2)[0]
}

// must sends a command and returns an error unless the reply has code.
func (s *ftpsSession) must(code int, format string, args ...any) (string, error) {
	got, msg, err := s.cmd(format, args...)
	if err != nil {
		return "", err
	}
	if got != code {
		return msg, fmt.Errorf("%s: got %d %q, want %d", verbOf(format, args...), got, msg, code)
	}
	return msg, nil
}

// expect reads one reply and returns an error unless it has code.
func (s *ftpsSession) expect(code int, what string) (string, error) {
	got, msg, err := s.r.ReadResponse(0)
	if err != nil && got == 0 {
		return "", fmt.Errorf("%s: read reply: %w", what, err)
	}
	if got != code {
		return msg, fmt.Errorf("%s: got %d %q, want %d", what, got, msg, code)
	}
	return msg, nil
}

func (s *ftpsSession) login() error {
	if _, err := s.must(234, "AUTH TLS"); err != nil {
		return err
	}
	tc := tls.Client(s.raw, s.tlsCfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("control TLS handshake: %w", err)
	}
	s.conn = tc
	s.r = textproto.NewReader(bufio.NewReader(tc))
	for _, step := range []struct {
		code int
		line string
	}{{331, "USER " + userName}, {230, "PASS " + userPass}, {200, "PBSZ 0"}, {200, "PROT P"}} {
		if _, err := s.must(step.code, "%s", step.line); err != nil {
			return err
		}
	}
	return nil
}

var epsvRE = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// passive sends EPSV (epsv) or PASV. A reply other than 227/229 is
// returned without an error; a 227/229 that cannot be parsed is an error.
func (s *ftpsSession) passive(epsv bool) (passiveReply, error) {
	verb := "PASV"
	if epsv {
		verb = "EPSV"
	}
	code, msg, err := s.cmd("%s", verb)
	if err != nil {
		return passiveReply{}, err
	}
	r := passiveReply{code: code, msg: msg}
	switch code {
	case 227:
		m := pasvRE.FindStringSubmatch(msg)
		if m == nil {
			return r, fmt.Errorf("cannot parse 227 reply %q", msg)
		}
		hi, _ := strconv.Atoi(m[5])
		lo, _ := strconv.Atoi(m[6])
		r.host, r.port = strings.Join(m[1:5], "."), hi*256+lo
		r.addr = net.JoinHostPort(r.host, strconv.Itoa(r.port))
	case 229:
		m := epsvRE.FindStringSubmatch(msg)
		if m == nil {
			return r, fmt.Errorf("cannot parse 229 reply %q", msg)
		}
		r.port, _ = strconv.Atoi(m[1])
		host, _, _ := net.SplitHostPort(s.raw.RemoteAddr().String())
		r.addr = net.JoinHostPort(host, m[1])
	}
	return r, nil
}

// retr fetches name over a PROT P passive data connection to dataAddr and
// returns the content. The data TLS session must resume the control one.
func (s *ftpsSession) retr(dataAddr, name string) ([]byte, error) {
	data, err := s.dialer.Dial("tcp", dataAddr)
	if err != nil {
		return nil, fmt.Errorf("dial data %s: %w", dataAddr, err)
	}
	defer data.Close()
	_ = data.SetDeadline(time.Now().Add(sessionTimeout))
	if _, err := s.must(150, "RETR %s", name); err != nil {
		return nil, err
	}
	return s.readProtected(data, "RETR "+name)
}

// readProtected runs the client side of a PROT P data connection that
// the server sends on, then reads the transfer's 226.
func (s *ftpsSession) readProtected(data net.Conn, what string) ([]byte, error) {
	tc := tls.Client(data, s.tlsCfg)
	if err := tc.Handshake(); err != nil {
		_, _, _ = s.r.ReadResponse(0)
		return nil, fmt.Errorf("%s: data TLS handshake: %w", what, err)
	}
	if !tc.ConnectionState().DidResume {
		return nil, fmt.Errorf("%s: the data TLS session did not resume the control session", what)
	}
	got, err := io.ReadAll(tc)
	_ = tc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: read data: %w", what, err)
	}
	if _, err := s.expect(226, what); err != nil {
		return got, err
	}
	return got, nil
}

func (s *ftpsSession) quit() error {
	defer s.close()
	_, err := s.must(221, "QUIT")
	return err
}

// startPasvServer is startServer with a passive range of 20 ports outside
// the kernel's ephemeral port range: the tests' own client sockets (and any
// other process's) take ephemeral ports, and one of them inside the range
// would hold a passive port as a foreign process does.
func startPasvServer(t *testing.T, edit func(*config.Config)) *testServer {
	t.Helper()
	r := pasvRange(t, 20)
	return startServer(t, func(c *config.Config) {
		c.Passive.Ports = r
		if edit != nil {
			edit(c)
		}
	})
}

// pasvRange returns n consecutive ports that are free now and outside the
// ephemeral port range, starting the search at a point that depends on
// the process id (test binaries of other packages run in parallel).
func pasvRange(t testing.TB, n int) config.PortRange {
	t.Helper()
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				ephLo, ephHi = lo, hi
			}
		}
	}
	const lo, hi = 20000, 65535
	blocks := (hi - lo + 1) / n
	first := os.Getpid() % blocks
	for i := range blocks {
		start := lo + ((first+i)%blocks)*n
		end := start + n - 1
		if end >= ephLo && start <= ephHi {
			continue
		}
		if rangeFree(start, n) {
			return config.PortsOf(start, end)
		}
	}
	t.Fatalf("no %d free ports outside the ephemeral range %d-%d", n, ephLo, ephHi)
	return config.PortRange{}
}

// unboundPorts returns the ports of r on which a listener cannot be opened
// now, as the lib opens them (all interfaces).
func unboundPorts(r config.PortRange) []int {
	var held []int
	for p := r.Start; p <= r.End; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(p)))
		if err != nil {
			held = append(held, p)
			continue
		}
		_ = l.Close()
	}
	return held
}

// assertRangeFree fails unless every passive port can be bound again
// within 5s (the sessions wind down after their QUIT).
func assertRangeFree(t *testing.T, ts *testServer) {
	t.Helper()
	r := ts.Cfg.Passive.Ports
	var held []int
	if !eventually(5*time.Second, func() bool { held = unboundPorts(r); return len(held) == 0 }) {
		t.Errorf("passive ports %v of %s are still held 5s after every session quit", held, r)
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
		contents[i] = fmt.Appendf(nil, "session %d %x\n", i, randomData(t, 16))
		writeFile(t, ts.AliceDir(), fmt.Sprintf("f%d.txt", i), contents[i])
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
			s, err := openLoggedIn(ts.Addr, nil)
			loggedIn.Done()
			if err != nil {
				res.err = fmt.Errorf("login: %w", err)
				return
			}
			defer s.close()
			<-start
			epsv := i%2 == 1
			r, err := s.passive(epsv)
			switch {
			case err != nil:
				res.err = err
				return
			case r.code == 425 && strings.Contains(r.msg, busyText):
				res.busy = true
				res.err = s.quit()
				return
			case r.code != 227 && r.code != 229:
				res.err = fmt.Errorf("passive (epsv=%v): got %d %q", epsv, r.code, r.msg)
				return
			case epsv != (r.code == 229):
				res.err = fmt.Errorf("passive (epsv=%v): got reply %d %q", epsv, r.code, r.msg)
				return
			}
			res.port = r.port
			if !ports.Contains(r.port) {
				res.err = fmt.Errorf("announced port %d is outside the passive range %s (reply %q)", r.port, ports, r.msg)
				return
			}
			if r.code == 227 && r.host != "127.0.0.1" {
				res.err = fmt.Errorf("227 announces %s, want 127.0.0.1", r.host)
				return
			}
			got, err := s.retr(r.addr, fmt.Sprintf("f%d.txt", i))
			if err != nil {
				res.err = err
				return
			}
			if !bytes.Equal(got, contents[i]) {
				res.err = fmt.Errorf("RETR f%d.txt over port %d returned %q, want its own %q", i, r.port, got, contents[i])
				return
			}
			res.ok = true
			res.err = s.quit()
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
// 20-port range, half with PASV and half with EPSV, twice: with the
// default passive.wait every session waits for a port and gets its own
// file, every announced port is in the range, and all ports are free once
// the sessions quit.
func TestE2EPasvBurst(t *testing.T) {
	const sessions = 200
	ts := startPasvServer(t, nil)
	if w := ts.Cfg.Passive.Wait.Std(); w != 5*time.Second {
		t.Fatalf("passive.wait is %s, want the default 5s", w)
	}
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
	const sessions = 200
	ts := startPasvServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
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
// one port with the default passive.wait: each session waits its turn for
// the port, none is refused while another session is about to bind it.
func TestE2EPasvBurstOnePort(t *testing.T) {
	const sessions = 30
	ts := startPasvServer(t, func(c *config.Config) { c.Passive.Ports = pasvRange(t, 1) })
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
	ts := startPasvServer(t, func(c *config.Config) { c.Passive.Wait = config.Duration(10 * time.Second) })
	ports := ts.Cfg.Passive.Ports
	for _, p := range []int{ports.Start, ports.Start + 1} {
		l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
	}
	var held []*ftpsSession
	t.Cleanup(func() {
		for _, s := range held {
			s.close()
		}
	})
	for i := range ports.Len() - 2 {
		s, err := openLoggedIn(ts.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
		r, err := s.passive(i%2 == 1)
		if err != nil || (r.code != 227 && r.code != 229) {
			t.Fatalf("session %d: %d %q %v", i, r.code, r.msg, err)
		}
		if r.port < ports.Start+2 || r.port > ports.End {
			t.Fatalf("session %d got port %d, held by the foreign listener or out of %s", i, r.port, ports)
		}
	}

	late, err := openLoggedIn(ts.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, late)
	const quitAfter = time.Second
	go func() {
		time.Sleep(quitAfter)
		_ = held[0].quit()
	}()
	began := time.Now()
	r, err := late.passive(false)
	waited := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 227 || !ports.Contains(r.port) {
		t.Fatalf("PASV while every bindable port was leased got %d %q after %s, want 227 once a session quit (after %s)",
			r.code, r.msg, waited.Round(time.Millisecond), quitAfter)
	}
	if waited < quitAfter/2 {
		t.Errorf("PASV answered after %s, before any port was released", waited)
	}
	writeFile(t, ts.AliceDir(), "late.txt", []byte("late\n"))
	got, err := late.retr(r.addr, "late.txt")
	if err != nil {
		t.Fatal(err)
	}
	assertSameData(t, "RETR late.txt", got, []byte("late\n"))
}

// TestE2EPasvTwiceHoldsOnePort shows that a session that sends PASV twice
// without transferring holds one port: 20 such sessions lease the whole
// 20-port range, a 21st session is refused (passive.wait = 0), and gets a
// port once one of the 20 quits.
func TestE2EPasvTwiceHoldsOnePort(t *testing.T) {
	ts := startPasvServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
	ports := ts.Cfg.Passive.Ports
	writeFile(t, ts.AliceDir(), "late.txt", []byte("the late session's file\n"))

	var held []*ftpsSession
	t.Cleanup(func() {
		for _, s := range held {
			s.close()
		}
	})
	leased := map[int]int{} // port -> session
	for i := range ports.Len() {
		s, err := openLoggedIn(ts.Addr, nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		held = append(held, s)
		var last passiveReply
		for try := range 2 {
			r, err := s.passive(false)
			if err != nil {
				t.Fatalf("session %d PASV #%d: %v", i, try+1, err)
			}
			if r.code != 227 {
				t.Fatalf("session %d PASV #%d (%d sessions hold a port): got %d %q, want 227",
					i, try+1, i, r.code, r.msg)
			}
			if !ports.Contains(r.port) {
				t.Fatalf("session %d: port %d outside %s", i, r.port, ports)
			}
			last = r
		}
		if other, dup := leased[last.port]; dup {
			t.Fatalf("sessions %d and %d both hold port %d", other, i, last.port)
		}
		leased[last.port] = i
	}

	late, err := openLoggedIn(ts.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, late)
	for _, epsv := range []bool{false, true} {
		r, err := late.passive(epsv)
		if err != nil {
			t.Fatal(err)
		}
		if r.code != 425 || !strings.Contains(r.msg, busyText) {
			t.Fatalf("21st session (epsv=%v) while 20 sessions hold the 20 ports: got %d %q, want 425 %q",
				epsv, r.code, r.msg, busyText)
		}
	}

	if err := held[0].quit(); err != nil {
		t.Fatalf("session 0 QUIT: %v", err)
	}
	fresh, err := openLoggedIn(ts.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, fresh)
	var r passiveReply
	if !eventually(5*time.Second, func() bool { // the lib ends the session after its 221
		r, err = fresh.passive(false)
		return err != nil || r.code != 425
	}) {
		t.Fatalf("no port 5s after a session holding one quit: %d %q", r.code, r.msg)
	}
	if err != nil || r.code != 227 || !ports.Contains(r.port) {
		t.Fatalf("PASV of a new session after one quit: %d %q %v", r.code, r.msg, err)
	}
	got, err := fresh.retr(r.addr, "late.txt")
	if err != nil {
		t.Fatal(err)
	}
	assertSameData(t, "RETR late.txt", got, []byte("the late session's file\n"))
	for _, s := range held[1:] {
		if err := s.quit(); err != nil {
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
	ts := startPasvServer(t, func(c *config.Config) { c.Passive.Wait = 0 })
	content := []byte("pipelined\n")
	writeFile(t, ts.AliceDir(), "p.txt", content)
	s, err := openLoggedIn(ts.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := range 3 {
		r, err := s.passive(i%2 == 1)
		if err != nil || (r.code != 227 && r.code != 229) {
			t.Fatalf("passive: %d %q %v", r.code, r.msg, err)
		}
		data, err := s.dialer.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = data.SetDeadline(time.Now().Add(sessionTimeout))
		if _, err := fmt.Fprintf(s.conn, "RETR p.txt\r\nPASV\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.expect(150, "pipelined RETR"); err != nil {
			t.Fatal(err)
		}
		got, err := s.readProtected(data, "pipelined RETR")
		_ = data.Close()
		if err != nil {
			t.Fatal(err)
		}
		assertSameData(t, "pipelined RETR", got, content)
		if _, err := s.expect(227, "pipelined PASV"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.quit(); err != nil {
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
	ts := startPasvServer(t, func(c *config.Config) {
		c.Passive.PublicAddress = public
		c.Passive.InternalNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	})
	writeFile(t, ts.AliceDir(), "nat.txt", content)
	ports := ts.Cfg.Passive.Ports

	check := func(t *testing.T, s *ftpsSession, epsv bool, wantHost string, transfer bool) {
		t.Helper()
		r, err := s.passive(epsv)
		if err != nil {
			t.Fatal(err)
		}
		wantCode := map[bool]int{false: 227, true: 229}[epsv]
		if r.code != wantCode || r.host != wantHost || !ports.Contains(r.port) {
			t.Fatalf("epsv=%v: got %d %q (host %q, port %d), want %d with host %q and a port in %s",
				epsv, r.code, r.msg, r.host, r.port, wantCode, wantHost, ports)
		}
		if !transfer {
			return
		}
		got, err := s.retr(r.addr, "nat.txt")
		if err != nil {
			t.Fatal(err)
		}
		assertSameData(t, "RETR nat.txt", got, content)
	}
	open := func(t *testing.T, addr string, local net.IP) *ftpsSession {
		t.Helper()
		s, err := openLoggedIn(addr, local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		return s
	}

	t.Run("outside client gets the public address", func(t *testing.T) {
		s := open(t, ts.Addr, nil)
		if a := s.raw.LocalAddr().(*net.TCPAddr).IP.String(); a != "127.0.0.1" {
			t.Fatalf("client address %s, want 127.0.0.1", a)
		}
		// Only the reply is checked: the public address is not reachable.
		check(t, s, false, public, false)
		check(t, s, true, "", true)
		if err := s.quit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("internal client gets the server's address", func(t *testing.T) {
		s := open(t, ts.Addr, net.ParseIP("127.0.0.2"))
		if a := s.raw.LocalAddr().(*net.TCPAddr).IP.String(); a != "127.0.0.2" {
			t.Fatalf("client address %s, want 127.0.0.2", a)
		}
		check(t, s, false, "127.0.0.1", true)
		check(t, s, true, "", true)
		if err := s.quit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no public address", func(t *testing.T) {
		plain := startPasvServer(t, nil)
		writeFile(t, plain.AliceDir(), "nat.txt", content)
		ports := plain.Cfg.Passive.Ports
		s := open(t, plain.Addr, nil)
		r, err := s.passive(false)
		if err != nil {
			t.Fatal(err)
		}
		if r.code != 227 || r.host != "127.0.0.1" || !ports.Contains(r.port) {
			t.Fatalf("PASV without public address: got %d %q, want 227 with 127,0,0,1", r.code, r.msg)
		}
		got, err := s.retr(r.addr, "nat.txt")
		if err != nil {
			t.Fatal(err)
		}
		assertSameData(t, "RETR nat.txt", got, content)
		if err := s.quit(); err != nil {
			t.Fatal(err)
		}
	})
}

// portArg returns the PORT argument "h1,h2,h3,h4,p1,p2" of addr (IPv4).
func portArg(addr *net.TCPAddr) string {
	ip := addr.IP.To4()
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], addr.Port>>8, addr.Port&0xff)
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
	t.Run("disabled by default", func(t *testing.T) {
		ts := startPasvServer(t, nil)
		if ts.Cfg.Active.Enabled {
			t.Fatal("active.enabled is on by default")
		}
		s, err := openLoggedIn(ts.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		l := activeListener(t, "127.0.0.1")
		addr := l.Addr().(*net.TCPAddr)
		for _, line := range []string{"PORT " + portArg(addr), fmt.Sprintf("EPRT |1|127.0.0.1|%d|", addr.Port)} {
			code, msg, err := s.cmd("%s", line)
			if err != nil {
				t.Fatal(err)
			}
			if code < 500 || code > 599 {
				t.Errorf("%s with active mode disabled: got %d %q, want a 5xx refusal", line, code, msg)
			}
		}
		// The session goes on (a 421 would have told the client it ends).
		if _, err := s.must(257, "PWD"); err != nil {
			t.Fatalf("session after the refused PORT: %v", err)
		}
		if c, err := acceptWithin(l, 200*time.Millisecond); err == nil {
			_ = c.Close()
			t.Error("the server connected to the PORT address although active mode is disabled")
		}
		if err := s.quit(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("enabled", func(t *testing.T) {
		ts := startPasvServer(t, func(c *config.Config) {
			c.Active.Enabled = true
			c.Passive.Wait = 0
		})
		writeFile(t, ts.AliceDir(), "active-marker.txt", []byte("active\n"))
		s, err := openLoggedIn(ts.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()

		list := func(t *testing.T, l *net.TCPListener) {
			t.Helper()
			if _, err := s.must(150, "LIST"); err != nil {
				t.Fatal(err)
			}
			conn, err := acceptWithin(l, 10*time.Second)
			if err != nil {
				t.Fatalf("the server did not connect to the PORT address: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(sessionTimeout))
			// The server remains the TLS server on the connection it opened.
			got, err := s.readProtected(conn, "LIST")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte("active-marker.txt")) {
				t.Fatalf("LIST over the active connection lacks the file:\n%s", got)
			}
		}

		l := activeListener(t, "127.0.0.1")
		port := l.Addr().(*net.TCPAddr).Port
		if _, err := s.must(200, "PORT %s", portArg(l.Addr().(*net.TCPAddr))); err != nil {
			t.Fatal(err)
		}
		list(t, l)
		if _, err := s.must(200, "EPRT |1|127.0.0.1|%d|", port); err != nil {
			t.Fatal(err)
		}
		list(t, l)

		// A PASV left unused for a PORT must not keep its port: more such
		// rounds than the range has ports (passive.wait = 0).
		for i := range ts.Cfg.Passive.Ports.Len() + 1 {
			if r, err := s.passive(i%2 == 1); err != nil || (r.code != 227 && r.code != 229) {
				t.Fatalf("PASV/EPSV #%d, each followed by PORT: %d %q %v", i+1, r.code, r.msg, err)
			}
			if _, err := s.must(200, "PORT %s", portArg(l.Addr().(*net.TCPAddr))); err != nil {
				t.Fatal(err)
			}
			list(t, l)
		}

		// Another host: the lib requires the client's own address.
		other := activeListener(t, "127.0.0.3")
		oaddr := other.Addr().(*net.TCPAddr)
		for _, line := range []string{"PORT " + portArg(oaddr), fmt.Sprintf("EPRT |1|127.0.0.3|%d|", oaddr.Port)} {
			code, msg, err := s.cmd("%s", line)
			if err != nil {
				t.Fatal(err)
			}
			if code < 400 || code > 599 {
				t.Errorf("%s from 127.0.0.1: got %d %q, want a 4xx/5xx refusal", line, code, msg)
			}
			// No transfer may go to the other host.
			code, msg, err = s.cmd("LIST")
			if err != nil {
				t.Fatal(err)
			}
			if code == 150 {
				_, _, _ = s.r.ReadResponse(0)
			}
			if c, err := acceptWithin(other, 300*time.Millisecond); err == nil {
				_ = c.Close()
				t.Fatalf("after %s the server connected to 127.0.0.3 (LIST got %d %q)", line, code, msg)
			}
		}
		if err := s.quit(); err != nil {
			t.Fatal(err)
		}
		assertRangeFree(t, ts)
	})
}
