package main

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
)

// scrape reads /metrics into a map from series ("name{labels}", labels as
// printed, in the order of the text format) to value.
func scrape(t *testing.T, metricsAddr string) map[string]float64 {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	series := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("scrape: bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad value in %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return series
}

// value returns a series that must be present.
func value(t *testing.T, m map[string]float64, series string) float64 {
	t.Helper()
	v, ok := m[series]
	if !ok {
		t.Fatalf("no series %s in /metrics", series)
	}
	return v
}

// startWithMetrics starts ftpsd with a metrics endpoint on a free port,
// trying another port when the chosen one was taken in between.
func startWithMetrics(t *testing.T, f *fixture, serverExtra string) (srv *server, addr, metricsAddr string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", ftptest.FreePort(t))
		f.write(f.config(serverExtra, metricsAddr, "alice"))
		s := startFtpsd(t, f.dir, "-config", f.path)
		var started []logEntry
		if !s.await(t, startTimeout, "start", func() bool {
			started = s.logs("ftpsd started")
			return len(started) > 0
		}) {
			return s, started[0].str("listen"), metricsAddr
		}
		if attempt >= 3 || !strings.Contains(s.stderr.String(), "address already in use") {
			t.Fatalf("ftpsd exited (%v) before it started:\n%s", s.waitErr, s.stderr)
		}
		t.Logf("metrics port %s was taken, trying another", metricsAddr)
	}
}

// TestMetricsEndpoint scrapes /healthz and /metrics around a scripted
// session and checks what the counters and gauges moved by.
func TestMetricsEndpoint(t *testing.T) {
	const passivePorts = 3
	f := newFixture(t, passivePorts)
	s, addr, metricsAddr := startWithMetrics(t, f, "max_connections = 2")

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + metricsAddr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("/healthz: %s %q, want 200 ok", resp.Status, body)
	}

	before := scrape(t, metricsAddr)
	if got := value(t, before, "ftpsd_passive_ports"); got != passivePorts {
		t.Errorf("ftpsd_passive_ports = %v, want %d", got, passivePorts)
	}
	leaf, err := x509.ParseCertificate(f.leaf())
	if err != nil {
		t.Fatal(err)
	}
	if got := value(t, before, "ftpsd_certificate_expiry_timestamp_seconds"); got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("ftpsd_certificate_expiry_timestamp_seconds = %v, want the certificate's NotAfter %d", got, leaf.NotAfter.Unix())
	}

	// One failed login.
	bad := ftptest.MustDial(t, addr)
	bad.AuthTLS()
	if err := bad.Client.Login("alice", "wrong"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("login with a wrong password: %v, want 530", err)
	}
	_ = bad.Close()

	// One good login, an upload and a download of n bytes, then CCC.
	const n = 100_000
	content := ftptest.RandomData(t, n)
	c := ftptest.MustLogin(t, addr, "alice", password("alice"))
	c.Stor("m.bin", content)
	ftptest.MustSameData(t, "download of the upload", c.Retr("m.bin"), content)
	during := scrape(t, metricsAddr)
	if v := value(t, during, "ftpsd_sessions_open"); v != 1 {
		t.Errorf("ftpsd_sessions_open = %v with one session open, want 1", v)
	}
	c.CCC()
	c.Do(200, "NOOP") // in clear text
	c.Quit()

	// Fill max_connections = 2 once every session has gone; two more are
	// refused.
	waitGauge(t, metricsAddr, "ftpsd_sessions_open", 0)
	const refused = 2
	var open []*ftptest.MustClient
	for range 2 {
		open = append(open, ftptest.MustDial(t, addr))
	}
	for range refused {
		c, err := ftptest.Dialer{}.Connect(addr)
		if err != nil {
			t.Fatalf("connection over max_connections: %v; want a 421 greeting", err)
		}
		_ = c.Close()
		if g := c.Greeting(); g.Code != 421 {
			t.Fatalf("connection over max_connections: %q; want 421", g)
		}
	}
	for _, c := range open {
		_ = c.Client.Quit()
	}

	waitGauge(t, metricsAddr, "ftpsd_sessions_open", 0)
	waitGauge(t, metricsAddr, "ftpsd_passive_ports_in_use", 0)
	after := scrape(t, metricsAddr)
	for _, tc := range []struct {
		series string
		delta  float64
	}{
		{`ftpsd_logins_total{result="ok"}`, 1},
		{`ftpsd_logins_total{result="failed"}`, 1},
		{`ftpsd_transfers_total{direction="upload",result="ok"}`, 1},
		{`ftpsd_transfers_total{direction="upload",result="failed"}`, 0},
		{`ftpsd_transfer_bytes_total{direction="upload",result="ok"}`, n},
		{`ftpsd_transfers_total{direction="download",result="ok"}`, 1},
		{`ftpsd_transfers_total{direction="download",result="failed"}`, 0},
		{`ftpsd_transfer_bytes_total{direction="download",result="ok"}`, n},
		{`ftpsd_connections_refused_total{reason="max_connections"}`, refused},
		{`ftpsd_connections_refused_total{reason="max_connections_per_ip"}`, 0},
		{`ftpsd_ccc_total`, 1},
		{`ftpsd_tls_handshake_failures_total`, 0},
		{`ftpsd_passive_exhaustions_total`, 0},
	} {
		if d := value(t, after, tc.series) - value(t, before, tc.series); d != tc.delta {
			t.Errorf("%s moved by %v, want %v", tc.series, d, tc.delta)
		}
	}
	for series, want := range map[string]float64{
		"ftpsd_sessions_open":        0,
		"ftpsd_passive_ports":        passivePorts,
		"ftpsd_passive_ports_in_use": 0,
		"ftpsd_passive_waiting":      0,
	} {
		if got := value(t, after, series); got != want {
			t.Errorf("%s = %v at the end, want %v", series, got, want)
		}
	}
	if t.Failed() {
		t.Logf("before: %v\nafter: %v", ftpsdSeries(before), ftpsdSeries(after))
	}
	s.terminate(t)
}

// waitGauge polls /metrics until series equals want.
func waitGauge(t *testing.T, metricsAddr, series string, want float64) {
	t.Helper()
	var last float64
	if !ftptest.Eventually(5*time.Second, func() bool {
		last = value(t, scrape(t, metricsAddr), series)
		return last == want
	}) {
		t.Fatalf("%s = %v after 5s, want %v", series, last, want)
	}
}

// ftpsdSeries keeps the ftpsd_ series of a scrape, for failure messages.
func ftpsdSeries(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, "ftpsd_") {
			fmt.Fprintf(&b, "\n  %s %v", k, v)
		}
	}
	return b.String()
}
