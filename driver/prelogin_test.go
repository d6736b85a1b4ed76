package driver_test

import (
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Before login: server.login_timeout, server.max_unauthenticated, and the
// log lines of refused connections. Clients come from several loopback
// addresses (127.0.0.2 and up) so that per-address state shows.

// loopback returns 127.0.0.n.
func loopback(n int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(n)}) }

// TestLoginTimeout: a connection that has not logged in within
// login_timeout is answered 421 and closed, in clear text and under TLS;
// a session that logged in earlier stays.
func TestLoginTimeout(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Server.LoginTimeout = config.Duration(2 * time.Second) })
	in := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	clear := ftptest.MustDial(t, ts.Addr)
	protected := ftptest.MustDial(t, ts.Addr)
	protected.AuthTLS()
	started := time.Now()
	for name, c := range map[string]*ftptest.MustClient{"clear": clear, "TLS": protected} {
		c.Timeout = 10 * time.Second
		r := c.Expect(421, "reply to a silent client")
		if !strings.Contains(r.Msg, "login") {
			t.Errorf("%s: 421 %q does not name the login timeout", name, r.Msg)
		}
		c.ExpectClosed()
	}
	if waited := time.Since(started); waited > 5*time.Second {
		t.Errorf("the silent clients were closed after %v, want about the 2s of login_timeout", waited)
	}
	in.Do(200, "NOOP") // logged in before the others connected: not cut
	in.Quit()
}

// TestMaxUnauthenticated: connections that have not logged in are capped;
// one over the cap is answered 421 and closed; logged-in sessions do not
// count, and a login frees a slot.
func TestMaxUnauthenticated(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Server.MaxUnauthenticated = 3 })
	for range 2 {
		ftptest.MustLogin(t, ts.Addr, userName, userPass)
	}
	waiting := []*ftptest.MustClient{ftptest.MustDial(t, ts.Addr), ftptest.MustDial(t, ts.Addr), ftptest.MustDial(t, ts.Addr)}
	over := mustConnect(t, ftptest.Dialer{}, ts.Addr)
	if g := over.Greeting(); g.Code != 421 || !strings.Contains(g.Msg, "max_unauthenticated") {
		t.Fatalf("greeting over the cap: %q, want 421 naming max_unauthenticated", g)
	}
	over.ExpectClosed()
	waiting[0].AuthTLS()
	waiting[0].Login(userName, userPass)
	again := ftptest.MustDial(t, ts.Addr) // the login freed a slot
	again.AuthTLS()
	if got := metricValue(t, ts, `ftpsd_connections_refused_total{reason="max_unauthenticated"}`); got != 1 {
		t.Errorf("refusals counted for max_unauthenticated: %v, want 1", got)
	}
}

// TestRefusedConnectionsLogOncePerAddress: refusals are logged once per
// client address and minute, with their count; the metric counts each.
func TestRefusedConnectionsLogOncePerAddress(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Server.MaxConnections = 1 })
	ftptest.MustLogin(t, ts.Addr, userName, userPass)
	const refusals = 200
	for i := range refusals {
		c := mustConnect(t, ftptest.Dialer{Local: loopback(2 + i%2)}, ts.Addr)
		if g := c.Greeting(); g.Code != 421 {
			t.Fatalf("connection %d over max_connections: greeting %q, want 421", i, g)
		}
		c.Close()
	}
	series := `ftpsd_connections_refused_total{reason="max_connections"}`
	ftptest.MustEventually(t, 5*time.Second, "every refusal counted", func() bool { return metricValue(t, ts, series) == refusals })
	if n := ts.countLogs("connection refused", nil); n != 2 {
		t.Fatalf("%d connection refused lines for %d refusals from 2 addresses, want 2", n, refusals)
	}
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		if n := ts.countLogs("connection refused", map[string]any{"client": a, "refused": 1, "reason": "max_connections"}); n != 1 {
			t.Errorf("lines for %s with its first refusal: %d, want 1", a, n)
		}
	}
}

// mustConnect is Dialer.Connect (any greeting) for a test goroutine.
func mustConnect(t *testing.T, d ftptest.Dialer, addr string) *ftptest.MustClient {
	t.Helper()
	c, err := d.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.Must(t)
}

// TestFloodBeforeLogin: 1,000 silent connections from 10 addresses and 300
// stalled TLS handshakes (AUTH TLS, then nothing) neither keep a real
// client from logging in and transferring at once, nor outlive
// login_timeout; the server's goroutines and descriptors return to where
// they were.
func TestFloodBeforeLogin(t *testing.T) {
	const silent, stalled, loginTimeout = 1000, 300, 2 * time.Second
	raiseFDLimit(t, 4*(silent+stalled))
	ts := startServer(t, func(c *config.Config) {
		c.Server.LoginTimeout = config.Duration(loginTimeout)
		c.Server.MaxConnections, c.Server.MaxUnauthenticated = 0, 0 // this test is about the timeout
	})
	ftptest.MustLogin(t, ts.Addr, userName, userPass).Quit() // the server's lasting goroutines start
	ftptest.MustEventually(t, 5*time.Second, "warm-up session ended", func() bool { return ts.Server.Sessions() == 0 })
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	var stuck []*ftptest.Client
	t.Cleanup(func() { closeAll(stuck) })
	for i := range silent + stalled {
		c, err := ftptest.Dialer{Local: loopback(2 + i%10), Timeout: 10 * time.Second}.Dial(ts.Addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		stuck = append(stuck, c)
		if i >= silent {
			if err := c.Send("AUTH TLS"); err != nil {
				t.Fatal(err)
			}
		}
	}
	flooded := time.Now()

	data := ftptest.RandomData(t, 64<<10)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Stor("during-flood.bin", data)
	ftptest.MustSameData(t, "download during the flood", c.Retr("during-flood.bin"), data)
	if took := time.Since(flooded); took > 2*time.Second {
		t.Errorf("login and transfers during the flood took %v, want under 2s", took)
	}
	c.Quit()

	ftptest.MustEventually(t, loginTimeout+3*time.Second-time.Since(flooded), "flood connections closed by login_timeout",
		func() bool { return ts.Server.Sessions() == 0 })
	for i, c := range stuck {
		c.Timeout = time.Second
		if i < silent {
			if r, err := c.Reply(); err != nil || r.Code != 421 {
				t.Fatalf("silent connection %d: %v %v, want 421", i, r, err)
			}
		} else if r, err := c.Reply(); err != nil || r.Code != 234 {
			t.Fatalf("stalled connection %d: %v %v, want 234 to AUTH TLS", i, r, err)
		}
		if err := c.ExpectClosed(); err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
	}
	closeAll(stuck)
	stuck = nil
	ftptest.MustEventually(t, 10*time.Second, "goroutines and descriptors back to their baseline", func() bool {
		return runtime.NumGoroutine() <= goroutines+5 && openFDs(t) <= fds+5
	})
}

func closeAll(cs []*ftptest.Client) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// raiseFDLimit raises the soft limit of open files to at least n, within
// the hard limit, for the rest of the test binary.
func raiseFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("the hard limit of open files is %d, this test needs %d (ulimit -Hn)", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// metricValue returns the value of one series of the server's /metrics,
// written as in the exposition format: name{label="value"}; 0 when absent.
func metricValue(t *testing.T, ts *testServer, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	for _, m := range families[name].GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+`="`+l.GetValue()+`"`)
		}
		if strings.Join(got, ",") != labels {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return 0
}
