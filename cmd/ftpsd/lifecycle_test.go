package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
)

// Process-level tests of ftpsd's life cycle: starts (the first run, a
// configuration file), SIGHUP reloads, graceful and cut shutdowns, and the
// connection caps. They drive the binary with ftptest's raw FTPS client,
// whose every read and write has a deadline, and with jlaffaye/ftp.

// exerciseFTP logs in, uploads a file, lists and downloads it, and checks
// that a wrong password is refused. It returns the uploaded content.
func exerciseFTP(t *testing.T, addr, user, password string, opts ...ftp.DialOption) string {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(ftpTimeout)}, opts...)

	bad, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if err := bad.Login(user, password+"x"); err == nil {
		t.Errorf("login with a wrong password succeeded")
	}
	_ = bad.Quit()

	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer func() { _ = c.Quit() }()
	if err := c.Login(user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	content := "hello from the ftpsd process test " + rand.Text() + "\n"
	if err := c.Stor("hello.txt", strings.NewReader(content)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	entries, err := c.List("/")
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "hello.txt" {
			found = true
			if e.Size != uint64(len(content)) {
				t.Errorf("LIST size of hello.txt = %d, want %d", e.Size, len(content))
			}
		}
	}
	if !found {
		t.Errorf("LIST / does not show hello.txt: %+v", entries)
	}
	resp, err := c.Retr("hello.txt")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	got, err := io.ReadAll(resp)
	_ = resp.Close()
	if err != nil || string(got) != content {
		t.Errorf("RETR = %q, %v; want %q", got, err, content)
	}
	return content
}

// TestServeConfig runs "ftpsd -config FILE" with real certificate files,
// both FTPS listeners on ephemeral ports, JSON logs and an on-disk root.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o750); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir)
	path := writeText(t, dir, "ftpsd.toml", fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
implicit_listen = "127.0.0.1:0"
banner = "process test"
[tls]
self_signed = false
cert_file = %q
key_file = %q
require = "all"
[passive]
ports = "%s"
[storage]
backend = "os"
root = %q
[[users]]
name = "alice"
password_hash = %q
home = "alice"
[log]
level = "info"
format = "json"
`, certFile, keyFile, ftptest.PortRange(t, 20), root, ftptest.HashPassword(t, "alice-secret")))

	s := startFtpsd(t, dir, "-config", path)
	line := s.waitFor(t, s.stderr, regexp.MustCompile(`(?m)^.*"msg":"ftpsd started".*$`), "")[0]
	var started struct {
		Listen         string `json:"listen"`
		ImplicitListen string `json:"implicit_listen"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	if !strings.HasPrefix(started.Listen, "127.0.0.1:") || !strings.HasPrefix(started.ImplicitListen, "127.0.0.1:") {
		t.Fatalf("started line %q lacks the listen addresses", line)
	}
	if s.stdout.String() != "" {
		t.Errorf("stdout not empty with -config (no demo account): %q", s.stdout)
	}

	content := exerciseFTP(t, started.Listen, "alice", "alice-secret", ftp.DialWithExplicitTLS(ftptest.NewTLS()))
	if got, err := os.ReadFile(filepath.Join(root, "alice", "hello.txt")); err != nil || string(got) != content {
		t.Errorf("root/alice/hello.txt = %q, %v; want the uploaded content", got, err)
	}
	exerciseFTP(t, started.ImplicitListen, "alice", "alice-secret", ftp.DialWithTLS(ftptest.NewTLS()))
	s.stop(t, syscall.SIGINT)
}

// leafOf connects anew, upgrades to TLS and returns the server's leaf.
func leafOf(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c := ftptest.MustDial(t, addr)
	defer c.Close()
	c.AuthTLS()
	st, _ := c.TLSState()
	return st.PeerCertificates[0]
}

// expectClosed reads what the server says before closing the control
// connection: a reply with code and text, then the end of the connection.
func expectClosed(t *testing.T, c *ftptest.MustClient, code int, text string) {
	t.Helper()
	if r := c.Expect(code, "last reply"); !strings.Contains(r.Msg, text) {
		t.Fatalf("want %d %q, got %q", code, text, r)
	}
	c.ExpectClosed()
}

// TestReloadKeepsTransfers reloads users and the certificate with SIGHUP
// while an upload runs; a bad file is rejected; a key that needs a
// restart is reported.
func TestReloadKeepsTransfers(t *testing.T) {
	f := newFixture(t, 4)
	f.write(f.config("", "", "alice"))
	s, addr := f.start()

	leafA := leafOf(t, addr)
	if !bytes.Equal(leafA.Raw, f.leaf()) {
		t.Fatalf("the first handshake does not present cert A")
	}

	// Bob does not exist yet.
	c := ftptest.MustDial(t, addr)
	c.AuthTLS()
	if err := c.Client.Login("bob", password("bob")); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob before the reload: %v, want 530", err)
	}
	_ = c.Close()

	// Alice starts an upload and keeps it open.
	alice := ftptest.MustLogin(t, addr, "alice", password("alice"))
	content := ftptest.RandomData(t, 256<<10)
	data := alice.Open("STOR big.bin").Conn
	if _, err := data.Write(content[:64<<10]); err != nil {
		t.Fatal(err)
	}

	// New users and a new certificate, then SIGHUP.
	pairB := testcert.SelfSigned(t, "ftpsd test B")
	pairB.Write(t, f.dir)
	f.write(f.config("", "", "alice", "bob"))
	s.reload(t)
	reloaded := s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	t.Logf("reload: changed %v, need_restart %v, certificate_sha256 %s",
		reloaded.strs("changed"), reloaded.strs("need_restart"), reloaded.str("certificate_sha256"))
	if !slices.Contains(reloaded.strs("changed"), "users") {
		t.Errorf("changed = %v, want users", reloaded.strs("changed"))
	}
	if nr := reloaded.strs("need_restart"); len(nr) != 0 {
		t.Errorf("need_restart = %v, want none", nr)
	}
	if got, want := normFingerprint(reloaded.str("certificate_sha256")), ftptest.SHA256Hex(pairB.Cert.Raw); got != want {
		t.Errorf("certificate_sha256 = %s, want cert B's %s", got, want)
	}

	// The upload started before the reload completes.
	if _, err := data.Write(content[64<<10:]); err != nil {
		t.Fatalf("upload after the reload: %v", err)
	}
	if err := data.Close(); err != nil {
		t.Fatalf("end of the upload across the reload: %v", err)
	}
	alice.Expect(226, "end of the upload across the reload")
	got, err := os.ReadFile(filepath.Join(f.root, "alice", "big.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("alice/big.bin: %d bytes (%v), want the %d uploaded", len(got), err, len(content))
	}
	alice.Do(200, "NOOP") // the session goes on after the reload

	// Bob logs in and has a home; new handshakes present cert B.
	bob := ftptest.MustLogin(t, addr, "bob", password("bob"))
	bob.Stor("b.txt", []byte("bob was here\n"))
	if got, err := os.ReadFile(filepath.Join(f.root, "bob", "b.txt")); err != nil || string(got) != "bob was here\n" {
		t.Errorf("bob/b.txt = %q, %v", got, err)
	}
	_ = bob.Client.Quit()
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, pairB.Cert.Raw) {
		t.Fatalf("a handshake after the reload presents %q, want cert B", leaf.Subject.CommonName)
	}

	// A bad file is rejected and everything stays.
	f.write("[server]\nlisten = \"127.0.0.1:0\"\n[[users]\nname = 'broken'\n")
	s.reload(t)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, 10*time.Second)
	t.Logf("bad file: %s", rejected.str("error"))
	for _, u := range []string{"alice", "bob"} {
		c := ftptest.MustLogin(t, addr, u, password(u))
		_ = c.Client.Quit()
	}
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, pairB.Cert.Raw) {
		t.Fatalf("a handshake after the rejected reload presents %q, want cert B", leaf.Subject.CommonName)
	}

	// A key that needs a restart is reported.
	f.write(f.config("idle_timeout = \"7m\"", "", "alice", "bob"))
	s.reload(t)
	second := s.waitLog(t, "configuration reloaded", 2, 10*time.Second)
	if nr := second.strs("need_restart"); !slices.Equal(nr, []string{"server.idle_timeout"}) {
		t.Errorf("need_restart = %v, want [server.idle_timeout]", nr)
	}
	if ch := second.strs("changed"); !slices.Contains(ch, "server.idle_timeout") {
		t.Errorf("changed = %v, want server.idle_timeout among them", ch)
	}
	_ = alice.Client.Quit()
	s.terminate(t)
}

// leaf returns the DER of the first certificate in the fixture's
// certificate file as it is now.
func (f *fixture) leaf() []byte {
	f.t.Helper()
	pemData, err := os.ReadFile(f.certFile)
	if err != nil {
		f.t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		f.t.Fatalf("no certificate first in %s", f.certFile)
	}
	return block.Bytes
}

// normFingerprint turns "AB:CD:..." into "abcd...".
func normFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, ":", ""))
}

// TestGracefulStop stops ftpsd with SIGTERM during an upload: the upload
// completes, idle sessions get 421, new connections are refused, and the
// process exits 0 once the transfer is done.
func TestGracefulStop(t *testing.T) {
	f := newFixture(t, 4)
	f.write(f.config(`shutdown_timeout = "10s"`, "", "alice"))
	s, addr := f.start()

	uploader := ftptest.MustLogin(t, addr, "alice", password("alice"))
	idle := ftptest.MustLogin(t, addr, "alice", password("alice"))
	content := ftptest.RandomData(t, 512<<10)
	data := uploader.Open("STOR graceful.bin")
	if _, err := data.Conn.Write(content[:128<<10]); err != nil {
		t.Fatal(err)
	}

	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	expectClosed(t, idle, 421, "Server shutting down")
	t.Logf("idle session got 421 after %v", time.Since(sigterm).Round(time.Millisecond))

	if c, err := (ftptest.Dialer{}).Connect(addr); err == nil {
		_ = c.Close()
		if c.Greeting().Code == 220 {
			t.Fatalf("a new connection during the shutdown was greeted: %q", c.Greeting())
		}
	} else {
		t.Logf("new connection during the shutdown: %v", err)
	}

	time.Sleep(500 * time.Millisecond) // the upload is still open meanwhile
	select {
	case <-s.done:
		t.Fatalf("ftpsd exited (%v) while an upload was running", s.waitErr)
	default:
	}
	if _, err := data.Conn.Write(content[128<<10:]); err != nil {
		t.Fatalf("upload during the shutdown: %v", err)
	}
	if r, err := data.Finish(); err != nil || r.Code != 226 {
		t.Fatalf("end of the upload during the shutdown: %q, %v; want 226", r, err)
	}
	expectClosed(t, uploader, 421, "Server shutting down")
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("exit %v after SIGTERM", took.Round(time.Millisecond))
	if limit := 3*time.Second + raceExitDelay(); took > limit {
		t.Errorf("exit took %v after SIGTERM, want it soon after the transfer ended (at most %v)", took, limit)
	}
	got, err := os.ReadFile(filepath.Join(f.root, "alice", "graceful.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("alice/graceful.bin: %d bytes (%v), want the %d uploaded", len(got), err, len(content))
	}
	if temps := ftptest.PartialUploads(t, filepath.Join(f.root, "alice")); len(temps) > 0 {
		t.Errorf("partial uploads left: %v", temps)
	}
	if len(s.logs("shutdown timeout reached")) > 0 {
		t.Errorf("the shutdown timed out although the transfer ended in time")
	}
}

// TestShutdownTimeoutCuts stops ftpsd with SIGTERM while two uploads never
// finish (the client of the second one has already sent QUIT, which the
// server answers once the transfer ends): both sessions are cut at
// shutdown_timeout, the stored files keep their old content and no partial
// upload is left.
func TestShutdownTimeoutCuts(t *testing.T) {
	f := newFixture(t, 4)
	f.write(f.config(`shutdown_timeout = "1s"`, "", "alice"))
	home := filepath.Join(f.root, "alice")
	if err := os.MkdirAll(home, 0o750); err != nil {
		t.Fatal(err)
	}
	old := map[string][]byte{}
	for _, name := range []string{"keep.txt", "quit.txt"} {
		old[name] = []byte("the stored copy of " + name + ", which a cut upload must not touch\n")
		if err := os.WriteFile(filepath.Join(home, name), old[name], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, addr := f.start()

	var uploaders []*ftptest.MustClient
	for _, name := range []string{"keep.txt", "quit.txt"} {
		c := ftptest.MustLogin(t, addr, "alice", password("alice"))
		data := c.Open("STOR " + name)
		// More than one of the server's 256 KiB copy chunks, so that its
		// partial file grows while the upload goes on.
		if _, err := data.Conn.Write(ftptest.RandomData(t, 300<<10)); err != nil {
			t.Fatal(err)
		}
		uploaders = append(uploaders, c)
	}
	uploaders[1].Send("QUIT")
	// The server has the bytes once its partial files have grown.
	ftptest.MustEventually(t, 10*time.Second, "the partial uploads to grow", func() bool {
		grown := 0
		for _, name := range ftptest.PartialUploads(t, home) {
			if fi, err := os.Stat(filepath.Join(home, name)); err == nil && fi.Size() > 0 {
				grown++
			}
		}
		return grown == 2
	})

	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	for _, c := range uploaders {
		expectClosed(t, c, 421, "transfer aborted")
	}
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("control connections cut and exit %v after SIGTERM", took.Round(time.Millisecond))
	if took < time.Second {
		t.Errorf("exit after %v, before the 1s shutdown_timeout", took)
	}
	if limit := time.Second + 2*time.Second + raceExitDelay(); took > limit {
		t.Errorf("exit took %v, want about 1s (at most %v)", took, limit)
	}

	cut := s.logs("session cut at shutdown")
	if len(cut) != 2 || cut[0].str("user") != "alice" || cut[1].str("user") != "alice" {
		t.Errorf("want two \"session cut at shutdown\" lines naming alice, got %v", cut)
	}
	if len(s.logs("shutdown timeout reached")) != 1 {
		t.Errorf("no \"shutdown timeout reached\" line")
	}
	for name, content := range old {
		if got, err := os.ReadFile(filepath.Join(home, name)); err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s = %q, %v; want its old content", name, got, err)
		}
	}
	if temps := ftptest.PartialUploads(t, home); len(temps) > 0 {
		t.Errorf("partial uploads left after exit: %v", temps)
	}
	transfers := s.logs("transfer")
	if len(transfers) != 2 || transfers[0].str("result") != "failed" || transfers[1].str("result") != "failed" {
		t.Errorf("want two failed transfers logged, got %v", transfers)
	}
	if still := s.logs("transfer still running at exit"); len(still) > 0 {
		t.Errorf("transfers outlived the cut: %v", still)
	}
}

// TestGracefulStopManyUploads ends many uploads during a graceful stop, in
// a burst: every one completes with 226 (never 421: a session is not ended
// between the end of its transfer and the transfer's final reply) and is
// stored whole.
func TestGracefulStopManyUploads(t *testing.T) {
	const sessions = 40
	f := newFixture(t, sessions+2)
	f.write(f.config(`shutdown_timeout = "20s"`, "", "alice"))
	s, addr := f.start()
	type upload struct {
		c       *ftptest.MustClient
		data    net.Conn
		content []byte
	}
	var uploads []upload
	for i := range sessions {
		c := ftptest.MustLogin(t, addr, "alice", password("alice"))
		data := c.Open(fmt.Sprintf("STOR many%02d.bin", i)).Conn
		content := ftptest.RandomData(t, 2000+i)
		if _, err := data.Write(content[:1000]); err != nil {
			t.Fatal(err)
		}
		uploads = append(uploads, upload{c, data, content})
	}
	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, "shutting down: no new connections; running transfers may finish", 1, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	for i, u := range uploads {
		if _, err := u.data.Write(u.content[1000:]); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if err := u.data.Close(); err != nil {
			t.Fatalf("upload %d: close: %v", i, err)
		}
		time.Sleep(time.Duration(i%3) * 300 * time.Microsecond)
	}
	for i, u := range uploads {
		if r, err := u.c.Client.Reply(); err != nil || r.Code != 226 {
			t.Errorf("upload %d: final reply %q, %v; want 226", i, r, err)
		}
	}
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("exit %v after SIGTERM", took.Round(time.Millisecond))
	for i, u := range uploads {
		name := filepath.Join(f.root, "alice", fmt.Sprintf("many%02d.bin", i))
		if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, u.content) {
			t.Errorf("%s: %d bytes (%v), want the %d uploaded", name, len(got), err, len(u.content))
		}
	}
}

// raceExitDelay is how long a binary built with -race sleeps before it
// exits (GORACE atexit_sleep_ms, 1s by default).
func raceExitDelay() time.Duration {
	if raceEnabled {
		return time.Second
	}
	return 0
}

// TestConnectionLimits fills server.max_connections and
// server.max_connections_per_ip: one more connection is answered 421 and
// closed; once one closes, a new one is greeted.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		name, server, reason string
		limit                int
	}{
		{"max_connections", "max_connections = 3\nmax_connections_per_ip = 0", "max_connections", 3},
		{"max_connections_per_ip", "max_connections = 100\nmax_connections_per_ip = 2", "max_connections_per_ip", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2)
			f.write(f.config(tc.server, "", "alice"))
			s, addr := f.start()
			testLimit(t, addr, tc.limit, tc.reason)
			if tc.reason == "max_connections_per_ip" {
				// Another client address is not counted against 127.0.0.1.
				c, err := ftptest.Dialer{Local: netip.MustParseAddr("127.0.0.2")}.Connect(addr)
				if err != nil {
					t.Logf("no second loopback address to test from: %v", err)
				} else {
					if c.Greeting().Code != 220 {
						t.Errorf("from 127.0.0.2 while 127.0.0.1 is at its cap: %q, want 220", c.Greeting())
					}
					_ = c.Quit()
				}
			}
			refused := s.logs("connection refused")
			if len(refused) == 0 || refused[0].str("reason") != tc.reason {
				t.Errorf("want \"connection refused\" lines with reason %s, got %v", tc.reason, refused)
			}
			s.terminate(t)
		})
	}
}

// testLimit opens limit connections, checks that one more is refused with
// reason, closes one and checks that a new one is greeted. It leaves
// limit connections open until the test ends.
func testLimit(t *testing.T, addr string, limit int, reason string) {
	t.Helper()
	var open []*ftptest.MustClient
	for range limit {
		open = append(open, ftptest.MustDial(t, addr))
	}
	want := "421 Too many connections (" + reason + "); try again later."
	c, err := ftptest.Dialer{}.Connect(addr)
	if err != nil {
		t.Fatalf("connection over the cap: %v, want %q", err, want)
	}
	defer c.Close()
	if g := c.Greeting(); g.String() != want {
		t.Fatalf("connection over the cap: %q, want %q", g, want)
	}
	if err := c.ExpectClosed(); err != nil {
		t.Errorf("connection over the cap: %v", err)
	}

	open[0].Quit()
	// The server forgets the closed connection asynchronously.
	var last error
	if !ftptest.Eventually(5*time.Second, func() bool {
		var c *ftptest.Client
		if c, last = ftptest.Dial(addr); last != nil {
			return false
		}
		t.Cleanup(func() { _ = c.Close() })
		return true
	}) {
		t.Fatalf("no connection greeted after one closed: %v", last)
	}
}

// TestShutdownWhileClientsQuit sends SIGTERM while many clients are
// quitting: the shutdown meets sessions that the lib is ending on its own.
// The process must exit 0 (under -race, a data race makes it exit 66) and
// every client gets 221 or 421 and then the end of the connection.
func TestShutdownWhileClientsQuit(t *testing.T) {
	const sessions = 40
	f := newFixture(t, 2)
	f.write(f.config(`shutdown_timeout = "10s"`, "", "alice"))
	s, addr := f.start()
	var clients []*ftptest.MustClient
	for range sessions {
		clients = append(clients, ftptest.MustLogin(t, addr, "alice", password("alice")))
	}
	for _, c := range clients {
		c.Send("QUIT")
	}
	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	codes := map[int]int{}
	for _, c := range clients {
		r, err := c.Client.Reply()
		if err != nil {
			t.Errorf("QUIT during the shutdown: %v, want 221 or 421", err)
			continue
		}
		codes[r.Code]++
		if r.Code != 221 && r.Code != 421 {
			t.Errorf("QUIT during the shutdown: %q, want 221 or 421", r)
		}
	}
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("replies %v; exit %v after SIGTERM", codes, took.Round(time.Millisecond))
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Errorf("the race detector found a data race in ftpsd")
	}
}
