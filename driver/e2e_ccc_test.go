package driver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/control"
)

// cccLogMsg is the session log line of an accepted CCC.
const cccLogMsg = "control channel cleared (CCC)"

// cccCount returns how many CCCs the server accepted so far.
func cccCount(ts *testServer) int { return ts.Logs.FilterMessage(cccLogMsg).Len() }

// waitCCCCount waits until the server logged want accepted CCCs in all.
func waitCCCCount(t *testing.T, ts *testServer, want int) {
	t.Helper()
	if !eventually(5*time.Second, func() bool { return cccCount(ts) >= want }) {
		t.Fatalf("the server logged %d %q lines, want %d", cccCount(ts), cccLogMsg, want)
	}
	if got := cccCount(ts); got != want {
		t.Fatalf("the server logged %d %q lines, want exactly %d", got, cccLogMsg, want)
	}
}

// lastCCCClientFirst returns the client_closed_first field of the latest
// CCC log line.
func lastCCCClientFirst(t *testing.T, ts *testServer) bool {
	t.Helper()
	all := ts.Logs.FilterMessage(cccLogMsg).All()
	if len(all) == 0 {
		t.Fatal("no CCC log line")
	}
	v, ok := all[len(all)-1].ContextMap()["client_closed_first"].(bool)
	if !ok {
		t.Fatalf("CCC log line without a client_closed_first bool: %v", all[len(all)-1].ContextMap())
	}
	return v
}

// curlCCCAccepted fails unless curl's -v trace shows CCC sent after PROT P
// and answered with 200.
func curlCCCAccepted(t *testing.T, what, trace string) {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(trace, "\r", ""), "\n")
	for i, l := range lines {
		// --trace-time prefixes every line with "15:04:05.000000 ".
		if stamp, rest, ok := strings.Cut(l, " "); ok {
			if _, err := time.Parse("15:04:05.000000", stamp); err == nil {
				lines[i] = rest
			}
		}
	}
	i := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "> CCC" })
	if i < 0 {
		t.Fatalf("%s: curl did not send CCC:\n%s", what, trace)
	}
	if !slices.Contains(lines[:i], "> PROT P") {
		t.Fatalf("%s: curl sent CCC before PROT P:\n%s", what, trace)
	}
	for _, l := range lines[i+1:] {
		if strings.HasPrefix(l, "< ") {
			if !strings.HasPrefix(l, "< 200") {
				t.Fatalf("%s: CCC answered with %q, want 200:\n%s", what, l, trace)
			}
			return
		}
	}
	t.Fatalf("%s: no reply to CCC in the trace:\n%s", what, trace)
}

// noReuse turns tls.require_session_reuse off: the clients that cannot
// resume the control connection's TLS session after CCC need it.
func noReuse(cfg *config.Config) { cfg.TLS.RequireSessionReuse = false }

// TestE2ECurlCCC lists and downloads with curl after CCC, in curl's passive
// CCC mode (curl waits for the server's close_notify) and in its active
// mode (curl sends its close_notify first).
//
// curl's passive mode frees its TLS control connection without sending a
// close_notify, and OpenSSL then marks that session as not resumable
// (ssl_clear_bad_session): curl's data connections after a passive CCC
// start new TLS sessions, which tls.require_session_reuse refuses. The
// passive mode therefore runs against a server with that policy off, and
// the refusal under the default policy is checked separately.
func TestE2ECurlCCC(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	reuse := startServer(t, nil)
	noreuse := startServer(t, noReuse)
	data := randomData(t, 900*1024+11)
	for _, ts := range []*testServer{reuse, noreuse} {
		writeFile(t, ts.AliceDir(), "ccc.bin", data)
		writeFile(t, ts.AliceDir(), "listed-after-ccc.txt", []byte("x"))
	}
	work := t.TempDir()

	passive := []string{"--ftp-ssl-ccc"}
	active := []string{"--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", "active"}
	modes := []struct {
		name             string
		ts               *testServer
		args             []string
		clientCloseFirst bool
	}{
		{name: "active reuse required", ts: reuse, args: active, clientCloseFirst: true},
		{name: "active reuse off", ts: noreuse, args: active, clientCloseFirst: true},
		{name: "passive reuse off", ts: noreuse, args: passive, clientCloseFirst: false},
		// curl's default CCC mode drops its TLS session: on the defaults its
		// data connections are accepted by address after CCC.
		{name: "passive defaults", ts: reuse, args: passive, clientCloseFirst: false},
	}
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ts := m.ts
			base := "ftp://" + ts.Addr + "/"
			args := append(curlBase(userName, userPass), m.args...)
			before := cccCount(ts)
			refusedBefore := len(logsWith(ts.Logs, "data connection refused", nil))

			list, trace := runTool(t, work, curl, append(args, base)...)
			curlCCCAccepted(t, "list", trace)
			for _, name := range []string{"ccc.bin", "listed-after-ccc.txt"} {
				if !strings.Contains(list, name) {
					t.Fatalf("LIST after CCC lacks %q:\n%s", name, list)
				}
			}
			waitCCCCount(t, ts, before+1)
			if got := lastCCCClientFirst(t, ts); got != m.clientCloseFirst {
				t.Errorf("list: client_closed_first = %v, want %v", got, m.clientCloseFirst)
			}

			out := filepath.Join(work, fmt.Sprintf("ccc-%d.bin", i))
			_, trace = runTool(t, work, curl, append(args, "-o", out, base+"ccc.bin")...)
			curlCCCAccepted(t, "download", trace)
			if !strings.Contains(trace, "> RETR ccc.bin") {
				t.Fatalf("download: no RETR in the trace:\n%s", trace)
			}
			assertDiskFile(t, out, data)
			waitCCCCount(t, ts, before+2)
			if got := lastCCCClientFirst(t, ts); got != m.clientCloseFirst {
				t.Errorf("download: client_closed_first = %v, want %v", got, m.clientCloseFirst)
			}
			if n := len(logsWith(ts.Logs, "data connection refused", nil)) - refusedBefore; n != 0 {
				t.Fatalf("%d data connections refused", n)
			}
		})
	}

	t.Run("passive strict after CCC", func(t *testing.T) {
		// tls.require_session_reuse_after_ccc = true refuses curl's
		// non-resumed data connections, cleanly: the data connection ends
		// with close_notify and curl reports the 425 with its reason.
		ts := startServer(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuseAfterCCC = true })
		writeFile(t, ts.AliceDir(), "ccc.bin", data)
		before := cccCount(ts)
		args := append(curlBase(userName, userPass), passive...)
		// A listing: curl reads the data connection to its end, then the
		// 425 with the reason.
		list, trace, err := runToolErr(t, work, curl, append(args, "ftp://"+ts.Addr+"/")...)
		curlCCCAccepted(t, "list", trace)
		waitCCCCount(t, ts, before+1)
		if err == nil || strings.Contains(list, "ccc.bin") {
			t.Fatalf("curl's non-resumed data connection was accepted with tls.require_session_reuse_after_ccc = true:\n%s", trace)
		}
		if !strings.Contains(trace, "< 425 ") || !strings.Contains(trace, reuseRefusal) {
			t.Fatalf("curl did not read the 425 with %q:\n%s", reuseRefusal, trace)
		}
		// A download of a file whose size curl knows: curl stops at the
		// short transfer ("transfer closed with N bytes remaining") before
		// reading the 425; never a certificate error, never a byte.
		out := filepath.Join(work, "strict.bin")
		_, trace2, err := runToolErr(t, work, curl, append(args, "-o", out, "ftp://"+ts.Addr+"/ccc.bin")...)
		if err == nil {
			t.Fatalf("refused download succeeded:\n%s", trace2)
		}
		for _, tr := range []string{trace, trace2} {
			if strings.Contains(tr, "bad certificate") || !strings.Contains(tr, "TLS alert, close notify") {
				t.Fatalf("the refusal is not a clean close_notify to curl:\n%s", tr)
			}
		}
		if b, _ := os.ReadFile(out); len(b) != 0 {
			t.Fatalf("a refused download delivered %d bytes", len(b))
		}
		if !eventually(5*time.Second, func() bool { return len(logsWith(ts.Logs, "data connection refused", nil)) == 2 }) {
			t.Fatalf("%d \"data connection refused\" lines, want 2", len(logsWith(ts.Logs, "data connection refused", nil)))
		}
	})
}

// cccExchange returns how long curl spent on CCC, from its --trace-time
// -v trace: from reading the 200 reply to sending its next command.
func cccExchange(t *testing.T, trace string) time.Duration {
	t.Helper()
	var replied time.Time
	for _, line := range strings.Split(strings.ReplaceAll(trace, "\r", ""), "\n") {
		stamp, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		at, err := time.Parse("15:04:05.000000", stamp)
		if err != nil {
			continue
		}
		switch {
		case replied.IsZero() && strings.HasPrefix(rest, "< 200 CCC"):
			replied = at
		case !replied.IsZero() && strings.HasPrefix(rest, "> "):
			d := at.Sub(replied)
			if d < 0 { // past midnight
				d += 24 * time.Hour
			}
			return d
		}
	}
	t.Fatalf("no CCC exchange in the trace:\n%s", trace)
	return 0
}

// TestE2ECurlCCCTiming measures what CCC costs a curl download. The
// server does not require session reuse (see TestE2ECurlCCC).
//
// The server's part is its wait for a close_notify that curl's passive
// mode never sends (control.DefaultCCCWait); curl's trace shows it as the
// time between the 200 reply and curl's next command, and it must stay
// well under half a second. The whole download is compared with one
// without CCC (median of 5): in active mode the difference must stay under
// half a second too. In passive mode curl 7.88 adds a stall of its own:
// while its data connection's TLS handshake is pending (ftpserverlib
// handshakes on the transfer command) curl's FTP state machine waits on
// the data socket only, and after the 200 ms blocking CCC wait its only
// timer that would wake it has passed, so it sits out its 1 s poll
// timeout before reading the next control reply. That total is logged,
// not asserted.
func TestE2ECurlCCCTiming(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	ts := startServer(t, noReuse)
	data := randomData(t, 256*1024+3)
	writeFile(t, ts.AliceDir(), "timed.bin", data)
	work := t.TempDir()
	url := "ftp://" + ts.Addr + "/timed.bin"

	const runs = 5
	modes := []struct {
		name string
		args []string
	}{
		{"no CCC", nil},
		{"CCC passive", []string{"--ftp-ssl-ccc"}},
		{"CCC active", []string{"--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", "active"}},
	}
	times := make([][]time.Duration, len(modes))
	exchanges := make([][]time.Duration, len(modes))
	for i := range runs {
		for j, m := range modes {
			args := append(append(curlBase(userName, userPass), "--trace-time"), m.args...)
			out := filepath.Join(work, fmt.Sprintf("timed-%d-%d.bin", i, j))
			start := time.Now()
			_, trace := runTool(t, work, curl, append(args, "-o", out, url)...)
			times[j] = append(times[j], time.Since(start))
			assertDiskFile(t, out, data)
			if m.args == nil {
				if strings.Contains(trace, "> CCC") {
					t.Fatalf("curl sent CCC without --ftp-ssl-ccc:\n%s", trace)
				}
				continue
			}
			curlCCCAccepted(t, m.name, trace)
			exchanges[j] = append(exchanges[j], cccExchange(t, trace))
		}
	}
	waitCCCCount(t, ts, 2*runs)
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	plain := median(times[0])
	t.Logf("curl download of %d bytes, %s: %v (median %v)", len(data), modes[0].name, times[0], plain)
	for j := 1; j < len(modes); j++ {
		m, total := modes[j], median(times[j])
		t.Logf("curl download of %d bytes, %s: %v (median %v, %v more than without CCC); CCC exchange %v",
			len(data), m.name, times[j], total, total-plain, exchanges[j])
		for _, d := range exchanges[j] {
			if d > 500*time.Millisecond {
				t.Errorf("%s: the CCC exchange took %v, want under 0.5s", m.name, d)
			}
		}
		if total-plain > 500*time.Millisecond {
			t.Errorf("%s slows a curl download by %v (median %v vs %v), want at most 0.5s", m.name, total-plain, total, plain)
		}
	}
	if d := median(exchanges[1]); d < control.MinCCCWait*8/10 {
		t.Errorf("passive CCC exchange took %v: the server did not wait for curl's close_notify (MinCCCWait %v)", d, control.MinCCCWait)
	}
}

// lftpCCCScript is an lftp command list with CCC after login.
func lftpCCCScript(addr string, cmds ...string) string {
	return strings.Join(append([]string{
		"set ssl:verify-certificate no",
		"set ftp:ssl-force true",
		"set ftp:ssl-protect-data true",
		"set ftp:ssl-use-ccc yes",
		"set ftp:passive-mode true",
		"set net:max-retries 1",
		"set net:timeout 10",
		"set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
		"debug 5",
		fmt.Sprintf("open -u %s,%s ftp://%s", userName, userPass, addr),
	}, cmds...), "; ")
}

// lftpCCCAccepted fails unless lftp's trace shows CCC answered by 200 and
// returns the trace's lines and the index of the CCC line.
func lftpCCCAccepted(t *testing.T, what, trace string) ([]string, int) {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(trace, "\r", ""), "\n")
	ci := slices.IndexFunc(lines, func(l string) bool { return strings.HasSuffix(strings.TrimSpace(l), "---> CCC") })
	if ci < 0 {
		t.Fatalf("%s: lftp did not send CCC:\n%s", what, trace)
	}
	ri := slices.IndexFunc(lines[ci+1:], func(l string) bool { return strings.Contains(l, "<--- ") })
	if ri < 0 || !strings.Contains(lines[ci+1+ri], "<--- 200") {
		t.Fatalf("%s: CCC not answered with 200:\n%s", what, trace)
	}
	return lines, ci
}

// TestE2ELftpCCC runs lftp with ftp:ssl-use-ccc 20 times in a row, each a
// new process with a listing, a download and an upload.
//
// lftp forgets its control connection's TLS session on CCC (it drops
// control_ssl, from which it copies the session into each data
// connection), so after CCC its data connections start new TLS sessions:
// on the defaults they are accepted by address after CCC (the strict
// setting is checked in TestE2ELftpCCCDefaults).
func TestE2ELftpCCC(t *testing.T) {
	lftp := needTool(t, "lftp", "lftp")
	ts := startServer(t, nil)
	down := randomData(t, 300*1024+9)
	writeFile(t, ts.AliceDir(), "lftp-down.bin", down)
	work := t.TempDir()

	const runs = 20
	start := time.Now()
	var slowest time.Duration
	for i := range runs {
		up := randomData(t, 100*1024+i)
		local := writeFile(t, work, fmt.Sprintf("up-%d.bin", i), up)
		got := filepath.Join(work, fmt.Sprintf("down-%d.bin", i))
		remote := fmt.Sprintf("lftp-up-%d.bin", i)
		runStart := time.Now()
		stdout, trace, err := runToolErr(t, work, lftp, "-c", lftpCCCScript(ts.Addr,
			"ls",
			"get lftp-down.bin -o "+got,
			"put "+local+" -o "+remote))
		d := time.Since(runStart)
		slowest = max(slowest, d)
		if err != nil {
			t.Fatalf("run %d/%d failed after %v: %v\nstdout:\n%s\ntrace:\n%s", i+1, runs, d, err, stdout, trace)
		}
		if !strings.Contains(stdout, "lftp-down.bin") {
			t.Fatalf("run %d: ls lacks lftp-down.bin:\n%s", i+1, stdout)
		}
		assertDiskFile(t, got, down)
		assertDiskFile(t, filepath.Join(ts.AliceDir(), remote), up)
		lines, ci := lftpCCCAccepted(t, fmt.Sprintf("run %d", i+1), trace)
		for _, want := range []string{"---> LIST", "---> RETR lftp-down.bin", "---> STOR " + remote} {
			if wi := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, want) }); wi < ci {
				t.Fatalf("run %d: %q not after CCC in the trace:\n%s", i+1, want, trace)
			}
		}
		waitCCCCount(t, ts, i+1)
		if !lastCCCClientFirst(t, ts) {
			t.Errorf("run %d: client_closed_first = false, want true (lftp sends its close_notify after the 200)", i+1)
		}
	}
	total := time.Since(start)
	t.Logf("lftp with CCC: %d/%d runs passed in %v (slowest run %v); %d %q log lines",
		runs, runs, total, slowest, cccCount(ts), cccLogMsg)
	if total > 40*time.Second {
		t.Errorf("%d lftp runs took %v, want under 40s", runs, total)
	}
	if left := uploadTemps(t, ts.AliceDir()); len(left) != 0 {
		t.Fatalf("partial uploads left: %v", left)
	}
}

// TestE2ELftpCCCDefaults: lftp drops its TLS session at CCC, so its data
// connections after CCC do not resume. On the defaults they are accepted
// by address (logged once per session); with
// tls.require_session_reuse_after_ccc = true they get a clean 425.
func TestE2ELftpCCCDefaults(t *testing.T) {
	lftp := needTool(t, "lftp", "lftp")
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			ts := startServer(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuseAfterCCC = strict })
			down := randomData(t, 10*1024)
			writeFile(t, ts.AliceDir(), "lftp-down.bin", down)
			work := t.TempDir()
			got := filepath.Join(work, "down.bin")
			_, trace, err := runToolErr(t, work, lftp, "-c", lftpCCCScript(ts.Addr, "get lftp-down.bin -o "+got))
			lftpCCCAccepted(t, "get", trace)
			waitCCCCount(t, ts, 1)
			if !strict {
				if err != nil {
					t.Fatalf("lftp CCC on the defaults: %v\n%s", err, trace)
				}
				assertDiskFile(t, got, down)
				if n := len(logsWith(ts.Logs, acceptedByAddressLog, nil)); n != 1 {
					t.Fatalf("%d %q lines, want 1", n, acceptedByAddressLog)
				}
				return
			}
			if err == nil {
				t.Fatalf("lftp's non-resumed data connection was accepted under the strict setting:\n%s", trace)
			}
			if !strings.Contains(trace, "<--- 425 ") || !strings.Contains(trace, reuseRefusal) || strings.Contains(trace, "bad certificate") {
				t.Fatalf("lftp did not get a clean 425 with %q:\n%s", reuseRefusal, trace)
			}
		})
	}
}

// ftplibCCCResult adds the CCC and session-reuse fields of
// testdata/ftplib_client.py to ftplibResult.
type ftplibCCCResult struct {
	ftplibResult
	CCC                  string `json:"ccc"`
	ControlPlainAfterCCC *bool  `json:"control_plain_after_ccc"`
	PWDAfterCCC          string `json:"pwd_after_ccc"`
	DataError            string `json:"data_error"`
	DataTLSError         string `json:"data_tls_error"`
}

// runFtplibFlags runs testdata/ftplib_client.py as alice with extra flags.
func runFtplibFlags(t *testing.T, ts *testServer, upload, remote, download string, flags ...string) ftplibCCCResult {
	t.Helper()
	py := needTool(t, "python3", "python3")
	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{script, "--host", host, "--port", port,
		"--user", userName, "--password", userPass, "--upload", upload, "--remote", remote, "--download", download}, flags...)
	stdout, _ := runTool(t, t.TempDir(), py, args...)
	var res ftplibCCCResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("ftplib_client.py output is not JSON: %v\n%s", err, stdout)
	}
	return res
}

func TestE2EPythonFtplibCCC(t *testing.T) {
	ts := startServer(t, nil)
	writeFile(t, ts.AliceDir(), "existing.txt", []byte("hello"))
	work := t.TempDir()
	data := randomData(t, 1<<20+33)
	local := writeFile(t, work, "up.bin", data)
	back := filepath.Join(work, "back.bin")

	res := runFtplibFlags(t, ts, local, "py-ccc.bin", back, "--ccc")
	for _, c := range []struct{ what, reply, code string }{
		{"welcome", res.Welcome, "220"},
		{"AUTH TLS", res.Auth, "234"},
		{"login", res.Login, "230"},
		{"PROT P", res.PBSZProt, "200"},
		{"CCC", res.CCC, "200"},
		{"PWD after CCC", res.PWDAfterCCC, "257"},
		{"STOR", res.Stor, "226"},
		{"RETR", res.Retr, "226"},
		{"QUIT", res.Quit, "221"},
	} {
		if !strings.HasPrefix(c.reply, c.code) {
			t.Errorf("%s: reply %q, want %s (result %+v)", c.what, c.reply, c.code, res)
		}
	}
	if res.ControlPlainAfterCCC == nil || !*res.ControlPlainAfterCCC {
		t.Fatalf("control_plain_after_ccc = %v, want true", res.ControlPlainAfterCCC)
	}
	if res.RetrSHA256 != sha256Hex(data) || res.RetrBytes != len(data) {
		t.Fatalf("RETR after CCC: python got %d bytes sha256 %s, want %d bytes %s",
			res.RetrBytes, res.RetrSHA256, len(data), sha256Hex(data))
	}
	assertDiskFile(t, back, data)
	assertDiskFile(t, filepath.Join(ts.AliceDir(), "py-ccc.bin"), data)
	if !slices.Contains(res.NLST, "py-ccc.bin") || !slices.Contains(res.NLST, "existing.txt") {
		t.Fatalf("NLST after CCC: %v, want py-ccc.bin and existing.txt", res.NLST)
	}
	waitCCCCount(t, ts, 1)
	if !lastCCCClientFirst(t, ts) {
		t.Error("client_closed_first = false, want true (ftplib's unwrap sends close_notify first)")
	}
	if n := len(logsWith(ts.Logs, "data connection refused", nil)); n != 0 {
		t.Fatalf("%d data connections refused after CCC", n)
	}
}

// tcpRelay forwards one TCP connection to a target and records both
// directions, like a capture on the path of the control connection.
type tcpRelay struct {
	ln       net.Listener
	mu       sync.Mutex
	c2s, s2c bytes.Buffer
	wg       sync.WaitGroup
	connsMu  sync.Mutex
	conns    []net.Conn
}

func startRelay(t *testing.T, target string) *tcpRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRelay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", target, dialTimeout)
		if err != nil {
			_ = client.Close()
			return
		}
		r.connsMu.Lock()
		r.conns = append(r.conns, client, server)
		r.connsMu.Unlock()
		var pipes sync.WaitGroup
		pipes.Add(2)
		go func() { defer pipes.Done(); r.pipe(server, client, &r.c2s) }()
		go func() { defer pipes.Done(); r.pipe(client, server, &r.s2c) }()
		pipes.Wait()
		_ = client.Close()
		_ = server.Close()
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.connsMu.Lock()
		for _, c := range r.conns {
			_ = c.Close()
		}
		r.connsMu.Unlock()
		r.wg.Wait()
	})
	return r
}

// pipe copies src to dst, recording, and half-closes dst at the end.
func (r *tcpRelay) pipe(dst, src net.Conn, rec *bytes.Buffer) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			rec.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (r *tcpRelay) Addr() string { return r.ln.Addr().String() }

// recorded returns copies of what the client sent and what the server sent.
func (r *tcpRelay) recorded() (c2s, s2c []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.c2s.Bytes()), bytes.Clone(r.s2c.Bytes())
}

// recordLimitConn hands its reader at most the rest of the current TLS
// record, so that a tls.Client over it never reads past the record that
// ends TLS on the control channel (the close_notify); whatever follows on
// the socket is clear text.
type recordLimitConn struct {
	net.Conn
	header    []byte // rest of the current record's header, not yet handed out
	remaining int    // bytes of the current record's body not yet read
}

func (c *recordLimitConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.header) == 0 && c.remaining == 0 {
		h := make([]byte, 5)
		if _, err := io.ReadFull(c.Conn, h); err != nil {
			return 0, err
		}
		c.header, c.remaining = h, int(binary.BigEndian.Uint16(h[3:5]))
	}
	if len(c.header) > 0 {
		n := copy(p, c.header)
		c.header = c.header[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p[:min(len(p), c.remaining)])
	c.remaining -= n
	return n, err
}

// dialCCCClient connects a rawClient to addr whose control TLS goes
// through a recordLimitConn, so that it can clear the channel with CCC.
func dialCCCClient(t *testing.T, addr string, maxVersion uint16) *rawClient {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(e2eTimeout))
	cfg := clientTLS()
	cfg.MaxVersion = maxVersion
	c := &rawClient{t: t, addr: addr, raw: raw, conn: raw, tlsCfg: cfg,
		r: textproto.NewReader(bufio.NewReader(raw))}
	t.Cleanup(func() { _ = c.raw.Close() })
	c.expect(220, "greeting")
	c.must(234, "AUTH TLS")
	tc := tls.Client(&recordLimitConn{Conn: raw}, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("control TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	return c
}

// How a client ends TLS on the control channel after the 200 reply to CCC.
type cccOrder int

const (
	// clientFirst sends the client's close_notify at once, then reads the
	// server's (Python's ftplib, lftp, curl's active mode).
	clientFirst cccOrder = iota
	// serverOnly waits for the server's close_notify and never sends one
	// (curl's default passive mode).
	serverOnly
	// serverThenClient waits for the server's close_notify and answers it.
	serverThenClient
)

func (o cccOrder) String() string {
	return [...]string{"client first", "server only", "server then client"}[o]
}

// clearControl sends CCC, reads the 200, sends the client's close_notify,
// reads the server's and goes on in clear text.
func clearControl(t *testing.T, c *rawClient) { clearControlOrder(t, c, clientFirst) }

// clearControlOrder clears the control channel with the close_notify
// exchange in the given order and returns how long the client waited for
// the server's close_notify.
func clearControlOrder(t *testing.T, c *rawClient, order cccOrder) time.Duration {
	t.Helper()
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		t.Fatal("clearControl: the control channel is not TLS")
	}
	c.must(200, "CCC")
	if c.r.R.Buffered() != 0 {
		t.Fatalf("%d bytes buffered after the 200 reply to CCC", c.r.R.Buffered())
	}
	closeWrite := func() {
		if err := tc.CloseWrite(); err != nil {
			t.Fatalf("send close_notify: %v", err)
		}
		// CloseWrite leaves the socket's write deadline at "now".
		_ = c.raw.SetWriteDeadline(time.Now().Add(e2eTimeout))
	}
	if order == clientFirst {
		closeWrite()
	}
	start := time.Now()
	var buf [64]byte
	if n, err := tc.Read(buf[:]); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("want the server's close_notify after CCC, got %d bytes, %v", n, err)
	}
	waited := time.Since(start)
	if order == serverThenClient {
		closeWrite()
	}
	c.conn = c.raw
	c.r = textproto.NewReader(bufio.NewReader(c.raw))
	return waited
}

// resumedData runs one data command over PROT P and returns the raw bytes
// the server sent on the data connection, the decrypted stream and whether
// the data TLS session was resumed.
func resumedData(t *testing.T, c *rawClient, command string) (raw, plain []byte, resumed bool) {
	t.Helper()
	data := c.dialData(c.pasv())
	rec := &recorder{Conn: data}
	c.must(150, "%s", command)
	tc := tls.Client(rec, c.tlsCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("%s: data TLS handshake: %v", command, err)
	}
	plain, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("%s: read protected data: %v", command, err)
	}
	c.expect(226, command)
	resumed = tc.ConnectionState().DidResume
	_ = tc.Close()
	return rec.bytes(), plain, resumed
}

// TestE2ECCCCapture puts a recording relay on the path of the control
// connection: before CCC the relay sees TLS only; after it, the PASV reply
// is readable (what an FTP-aware firewall needs), while the data
// connection, which resumes the control connection's TLS session, never
// shows the file in clear.
func TestE2ECCCCapture(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ts := startServer(t, nil)
			content := markerContent()
			writeFile(t, ts.AliceDir(), "marker.txt", content)
			relay := startRelay(t, ts.Addr)

			c := dialCCCClient(t, relay.Addr(), version)
			if v := c.conn.(*tls.Conn).ConnectionState().Version; v != version {
				t.Fatalf("control channel negotiated %s, want %s", tls.VersionName(v), tls.VersionName(version))
			}
			c.login(userName, userPass)
			c.protP()

			// Under TLS: a transfer whose PASV reply the relay cannot read.
			raw, plain, resumed := resumedData(t, c, "RETR marker.txt")
			assertTLSRecords(t, "RETR before CCC", raw, plainMarker)
			assertSameData(t, "RETR before CCC", plain, content)
			if !resumed {
				t.Fatal("data connection before CCC did not resume the control session")
			}

			clearControl(t, c)
			waitCCCCount(t, ts, 1)
			if !lastCCCClientFirst(t, ts) {
				t.Error("client_closed_first = false, want true")
			}
			if msg := c.must(257, "PWD"); !strings.Contains(msg, "/") {
				t.Fatalf("PWD after CCC: %q", msg)
			}

			// In clear on the control channel, protected on the data one.
			raw, plain, resumed = resumedData(t, c, "RETR marker.txt")
			assertTLSRecords(t, "RETR after CCC", raw, plainMarker)
			assertSameData(t, "RETR after CCC", plain, content)
			if !resumed {
				t.Fatal("data connection after CCC did not resume the control session")
			}

			up := append([]byte(plainMarker), randomData(t, 50_000)...)
			data := c.dialData(c.pasv())
			c.must(150, "STOR after-ccc.bin")
			tc := tls.Client(data, c.tlsCfg)
			if _, err := tc.Write(up); err != nil {
				t.Fatalf("STOR after CCC: %v", err)
			}
			if !tc.ConnectionState().DidResume {
				t.Fatal("STOR data connection after CCC did not resume the control session")
			}
			if err := tc.Close(); err != nil {
				t.Fatalf("STOR close: %v", err)
			}
			c.expect(226, "STOR")
			assertDiskFile(t, filepath.Join(ts.AliceDir(), "after-ccc.bin"), up)

			// CCC again on the now clear channel: 533.
			if code, msg := c.cmd("CCC"); code != 533 {
				t.Fatalf("second CCC: %d %q, want 533", code, msg)
			}
			c.quit()

			c2s, s2c := relay.recorded()
			t.Logf("relay saw %d bytes client->server, %d bytes server->client", len(c2s), len(s2c))
			// Before AUTH TLS and after CCC the channel is clear; between them
			// nothing is readable.
			for _, want := range []string{"220 ", "234 ", "227 Entering Passive Mode (", "257 ", "150 ", "226 ", "533 ", "221 "} {
				if !bytes.Contains(s2c, []byte(want)) {
					t.Errorf("server->client: %q not seen in clear", want)
				}
			}
			if n := bytes.Count(s2c, []byte("227 Entering Passive Mode")); n != 2 {
				t.Errorf("server->client: %d clear 227 replies, want 2 (the two PASVs after CCC, not the one before)", n)
			}
			for _, secret := range []string{"230 ", "200 CCC", "331 "} {
				if bytes.Contains(s2c, []byte(secret)) {
					t.Errorf("server->client: %q (sent under TLS) seen in clear", secret)
				}
			}
			if n := bytes.Count(c2s, []byte("PASV\r\n")); n != 2 {
				t.Errorf("client->server: %d clear PASV commands, want 2", n)
			}
			for _, want := range []string{"AUTH TLS\r\n", "PWD\r\n", "RETR marker.txt\r\n", "STOR after-ccc.bin\r\n", "QUIT\r\n"} {
				if !bytes.Contains(c2s, []byte(want)) {
					t.Errorf("client->server: %q not seen in clear", want)
				}
			}
			for _, secret := range []string{userPass, "USER ", "PROT P"} {
				if bytes.Contains(c2s, []byte(secret)) {
					t.Errorf("client->server: %q (sent under TLS) seen in clear", secret)
				}
			}
			if n := bytes.Count(c2s, []byte("CCC\r\n")); n != 1 {
				t.Errorf("client->server: %d clear CCC commands, want 1 (the second one, after the first cleared the channel)", n)
			}
			if bytes.Contains(s2c, []byte(plainMarker)) || bytes.Contains(c2s, []byte(plainMarker)) {
				t.Error("the marker crossed the control connection")
			}
		})
	}
}

// TestE2ECCCCloseNotifyOrders clears the control channel with the three
// orders of close_notify that real clients use, through the whole server:
// the server waits for the client's close_notify at most
// control.DefaultCCCWait, consumes a late one, and the session goes on in
// clear text with protected, resumed data connections.
func TestE2ECCCCloseNotifyOrders(t *testing.T) {
	ts := startServer(t, nil)
	content := markerContent()
	writeFile(t, ts.AliceDir(), "marker.txt", content)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, order := range []cccOrder{clientFirst, serverOnly, serverThenClient} {
			t.Run(tls.VersionName(version)+" "+order.String(), func(t *testing.T) {
				before := cccCount(ts)
				c := dialCCCClient(t, ts.Addr, version)
				c.login(userName, userPass)
				c.protP()
				waited := clearControlOrder(t, c, order)
				waitCCCCount(t, ts, before+1)
				first := lastCCCClientFirst(t, ts)
				if order == clientFirst {
					if !first || waited > control.DefaultCCCWait/2 {
						t.Errorf("client closed first: client_closed_first=%v, server's close_notify after %v; want true and no wait", first, waited)
					}
				} else {
					t.Logf("the server sent its close_notify after %v (between MinCCCWait %v and DefaultCCCWait %v)", waited, control.MinCCCWait, control.DefaultCCCWait)
					if first || waited < control.MinCCCWait*8/10 || waited > 500*time.Millisecond {
						t.Errorf("client waited: client_closed_first=%v, server's close_notify after %v; want false after %v to %v", first, waited, control.MinCCCWait, control.DefaultCCCWait)
					}
				}
				// The next bytes are clear text, whatever came before.
				if msg := c.must(257, "PWD"); !strings.Contains(msg, "/") {
					t.Fatalf("PWD after CCC: %q", msg)
				}
				c.must(200, "NOOP")
				raw, plain, resumed := resumedData(t, c, "RETR marker.txt")
				assertTLSRecords(t, "RETR after CCC", raw, plainMarker)
				assertSameData(t, "RETR after CCC", plain, content)
				if !resumed {
					t.Fatal("data connection after CCC did not resume the control session")
				}
				c.quit()
			})
		}
	}
}

// TestE2ECCCRefusals checks the CCC refusals through the whole server.
func TestE2ECCCRefusals(t *testing.T) {
	t.Run("before login", func(t *testing.T) {
		ts := startServer(t, nil)
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		if code, msg := c.cmd("CCC"); code != 503 {
			t.Fatalf("CCC before login: %d %q, want 503", code, msg)
		}
		// Still TLS and still serving.
		c.login(userName, userPass)
		c.must(257, "PWD")
		c.quit()
		if n := cccCount(ts); n != 0 {
			t.Fatalf("%d CCC log lines after a refused CCC", n)
		}
	})

	t.Run("clear control channel", func(t *testing.T) {
		ts := startServer(t, func(cfg *config.Config) { cfg.TLS.Require = config.RequireNone })
		c := dialRaw(t, ts.Addr, false)
		if code, msg := c.cmd("CCC"); code != 533 {
			t.Fatalf("CCC on a clear channel before login: %d %q, want 533", code, msg)
		}
		c.login(userName, userPass)
		if code, msg := c.cmd("CCC"); code != 533 {
			t.Fatalf("CCC on a clear channel after login: %d %q, want 533", code, msg)
		}
		c.must(257, "PWD")
		c.quit()
	})

	t.Run("deny", func(t *testing.T) {
		ts := startServer(t, func(cfg *config.Config) { cfg.TLS.CCC = config.CCCDeny })
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		if feat := featLines(t, c); slices.Contains(feat, "CCC") || !slices.Contains(feat, "PROT") {
			t.Fatalf("FEAT with tls.ccc = deny: %q, want PROT and no CCC", feat)
		}
		c.login(userName, userPass)
		code, msg := c.cmd("CCC")
		if code != 534 {
			t.Fatalf("CCC with tls.ccc = deny: %d %q, want 534", code, msg)
		}
		// Still TLS: a protected transfer works.
		c.protP()
		writeFile(t, ts.AliceDir(), "deny.txt", []byte("still protected"))
		_, plain, resumed := resumedData(t, c, "RETR deny.txt")
		if string(plain) != "still protected" || !resumed {
			t.Fatalf("RETR after a denied CCC: %q resumed=%v", plain, resumed)
		}
		c.quit()
		if n := cccCount(ts); n != 0 {
			t.Fatalf("%d CCC log lines with tls.ccc = deny", n)
		}
	})

	t.Run("allow lists CCC", func(t *testing.T) {
		ts := startServer(t, nil)
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		if feat := featLines(t, c); !slices.Contains(feat, "CCC") || !slices.Contains(feat, "PROT") {
			t.Fatalf("FEAT with tls.ccc = allow: %q, want PROT and CCC", feat)
		}
		c.quit()
	})
}

// featLines sends FEAT and returns its feature lines, trimmed.
func featLines(t *testing.T, c *rawClient) []string {
	t.Helper()
	msg := c.must(211, "FEAT")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}
