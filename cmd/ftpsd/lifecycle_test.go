package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpsd/internal/testcert"
)

// Process-level tests of ftpsd's life cycle: SIGHUP reloads, graceful and
// cut shutdowns, and the connection caps. They drive the binary with a
// small raw FTPS client whose every read and write has a deadline.

// transferTimeout bounds a data connection held open on purpose.
const transferTimeout = 60 * time.Second

// fixture is the files of one ftpsd process: its configuration, its
// certificate and its storage root, all in one temporary directory.
type fixture struct {
	t                 *testing.T
	dir, root, path   string
	certFile, keyFile string
	ports             string // passive range
	portCount         int
	hashes            map[string]string
}

func newFixture(t *testing.T, passivePorts int) *fixture {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o750); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, root: root, path: filepath.Join(dir, "ftpsd.toml"),
		ports: freePortRange(t, passivePorts), portCount: passivePorts, hashes: map[string]string{}}
	f.certFile, f.keyFile = testcert.SelfSigned(t, "ftpsd test A").Write(t, dir)
	return f
}

// password is the password of the test user name.
func password(name string) string { return name + "-secret" }

// hash returns the same bcrypt hash of name's password on every call, so
// that rewriting a file does not change the users key by itself.
func (f *fixture) hash(name string) string {
	if h, ok := f.hashes[name]; ok {
		return h
	}
	h := mustHash(f.t, password(name))
	f.hashes[name] = h
	return h
}

// config returns the file's text: serverExtra and metricsListen go in
// their tables; each user's home is its name.
func (f *fixture) config(serverExtra, metricsListen string, users ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"127.0.0.1:0\"\nbanner = \"lifecycle test\"\n%s\n", serverExtra)
	fmt.Fprintf(&b, "[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\nrequire = \"all\"\n", f.certFile, f.keyFile)
	fmt.Fprintf(&b, "[passive]\nports = %q\n", f.ports)
	fmt.Fprintf(&b, "[storage]\nbackend = \"os\"\nroot = %q\n", f.root)
	for _, u := range users {
		fmt.Fprintf(&b, "[[users]]\nname = %q\npassword_hash = %q\nhome = %q\n", u, f.hash(u), u)
	}
	fmt.Fprintf(&b, "[log]\nlevel = \"info\"\nformat = \"json\"\n")
	if metricsListen != "" {
		fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", metricsListen)
	}
	return b.String()
}

// write replaces the configuration file.
func (f *fixture) write(text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// start runs ftpsd on the file and returns it with its explicit FTPS
// address, read from the "ftpsd started" log line.
func (f *fixture) start() (*server, string) {
	f.t.Helper()
	s := startFtpsd(f.t, f.dir, "-config", f.path)
	started := s.waitLog(f.t, "ftpsd started", 1, startTimeout)
	addr := started.str("listen")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		f.t.Fatalf("started line lacks the listen address: %v", started)
	}
	return s, addr
}

// logEntry is one JSON log line.
type logEntry map[string]any

func (e logEntry) str(key string) string {
	s, _ := e[key].(string)
	return s
}

// strs returns a string array field; a missing or null field is empty.
func (e logEntry) strs(key string) []string {
	arr, _ := e[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// logs returns the JSON lines of stderr whose msg is msg.
func (s *server) logs(msg string) []logEntry {
	var out []logEntry
	for line := range strings.Lines(s.stderr.String()) {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.str("msg") == msg {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits until stderr holds n lines with msg and returns the nth.
func (s *server) waitLog(t *testing.T, msg string, n int, timeout time.Duration) logEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := s.logs(msg); len(l) >= n {
			return l[n-1]
		}
		select {
		case <-s.done:
			if l := s.logs(msg); len(l) >= n {
				return l[n-1]
			}
			t.Fatalf("ftpsd exited (%v) before logging %q (#%d)", s.waitErr, msg, n)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ftpsd did not log %q (#%d) within %v", msg, n, timeout)
		}
	}
}

// waitExit waits for the process to end within timeout and returns how
// long that took from since; it fails unless the exit status is 0.
func (s *server) waitExit(t *testing.T, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("ftpsd did not exit within %v", timeout)
	}
	took := time.Since(since)
	if s.waitErr != nil {
		t.Fatalf("ftpsd exited with %v, want status 0", s.waitErr)
	}
	if !strings.Contains(s.stderr.String(), "ftpsd stopped") {
		t.Errorf("stderr lacks the \"ftpsd stopped\" log line")
	}
	return took
}

func (s *server) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal ftpsd: %v", err)
	}
}

// ftpReply is one (possibly multi-line) reply.
type ftpReply struct {
	code int
	text string
}

func (r ftpReply) String() string { return r.text }

// ftpClient is a raw FTPS client. Its TLS config, shared by the control
// and the data connections, lets data connections resume the control
// session as ftpsd requires.
type ftpClient struct {
	raw net.Conn
	ctl net.Conn // raw, or TLS over raw
	tc  *tls.Conn
	r   *bufio.Reader
	tls *tls.Config
}

// dialFTP connects to addr from the local address local (nil: any) and
// reads the greeting, whatever its code.
func dialFTP(addr string, local net.Addr) (*ftpClient, ftpReply, error) {
	d := net.Dialer{Timeout: ftpTimeout, LocalAddr: local}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, ftpReply{}, err
	}
	c := &ftpClient{raw: raw, ctl: raw, r: bufio.NewReader(raw), tls: clientTLS()}
	greeting, err := c.read()
	if err != nil {
		_ = raw.Close()
		return nil, greeting, err
	}
	return c, greeting, nil
}

// mustDial connects and expects the 220 greeting.
func mustDial(t *testing.T, addr string) *ftpClient {
	t.Helper()
	c, greeting, err := dialFTP(addr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if greeting.code != 220 {
		c.close()
		t.Fatalf("greeting of %s: %q, want 220", addr, greeting)
	}
	return c
}

// login connects, protects the control channel and logs in with PROT P.
func login(t *testing.T, addr, user, pass string) *ftpClient {
	t.Helper()
	c := mustDial(t, addr)
	if _, err := c.authTLS(); err != nil {
		c.close()
		t.Fatalf("AUTH TLS: %v", err)
	}
	if err := c.login(user, pass); err != nil {
		c.close()
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func (c *ftpClient) close() { _ = c.raw.Close() }

func (c *ftpClient) read() (ftpReply, error) {
	_ = c.raw.SetReadDeadline(time.Now().Add(ftpTimeout))
	readLine := func() (string, error) {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if line != "" {
				return "", fmt.Errorf("partial line %q: %w", line, err)
			}
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	first, err := readLine()
	if err != nil {
		return ftpReply{}, err
	}
	code, err := strconv.Atoi(first[:min(3, len(first))])
	if err != nil || len(first) < 4 {
		return ftpReply{}, fmt.Errorf("not a reply: %q", first)
	}
	lines := []string{first}
	if first[3] == '-' {
		for {
			l, err := readLine()
			if err != nil {
				return ftpReply{}, err
			}
			lines = append(lines, l)
			if strings.HasPrefix(l, first[:3]+" ") {
				break
			}
		}
	}
	return ftpReply{code: code, text: strings.Join(lines, "\n")}, nil
}

func (c *ftpClient) send(line string) error {
	_ = c.raw.SetWriteDeadline(time.Now().Add(ftpTimeout))
	_, err := io.WriteString(c.ctl, line+"\r\n")
	return err
}

func (c *ftpClient) cmd(line string) (ftpReply, error) {
	if err := c.send(line); err != nil {
		return ftpReply{}, err
	}
	return c.read()
}

// expect sends line and returns an error unless the reply has code.
func (c *ftpClient) expect(line string, code int) (ftpReply, error) {
	r, err := c.cmd(line)
	if err != nil {
		return r, fmt.Errorf("%s: %w", strings.Fields(line)[0], err)
	}
	if r.code != code {
		return r, fmt.Errorf("%s: got %q, want %d", strings.Fields(line)[0], r, code)
	}
	return r, nil
}

// authTLS upgrades the control channel and returns the server's leaf.
func (c *ftpClient) authTLS() (*x509.Certificate, error) {
	if _, err := c.expect("AUTH TLS", 234); err != nil {
		return nil, err
	}
	tc := tls.Client(c.raw, c.tls)
	_ = c.raw.SetDeadline(time.Now().Add(ftpTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("control handshake: %w", err)
	}
	_ = c.raw.SetDeadline(time.Time{})
	c.tc, c.ctl, c.r = tc, tc, bufio.NewReader(tc)
	return tc.ConnectionState().PeerCertificates[0], nil
}

// login sends USER, PASS, PBSZ 0 and PROT P.
func (c *ftpClient) login(user, pass string) error {
	if _, err := c.expect("USER "+user, 331); err != nil {
		return err
	}
	if _, err := c.expect("PASS "+pass, 230); err != nil {
		return err
	}
	if _, err := c.expect("PBSZ 0", 200); err != nil {
		return err
	}
	_, err := c.expect("PROT P", 200)
	return err
}

// ccc clears the control channel: 200 under TLS, our close_notify, then
// the server's.
func (c *ftpClient) ccc() error {
	if _, err := c.expect("CCC", 200); err != nil {
		return err
	}
	if err := c.tc.CloseWrite(); err != nil {
		return fmt.Errorf("send close_notify: %w", err)
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(ftpTimeout))
	if n, err := c.tc.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("after CCC: read %d bytes, %v; want the server's close_notify", n, err)
	}
	c.tc, c.ctl, c.r = nil, c.raw, bufio.NewReader(c.raw)
	return nil
}

// quit sends QUIT, expects 221 and closes.
func (c *ftpClient) quit() error {
	defer c.close()
	_, err := c.expect("QUIT", 221)
	return err
}

// openTransfer opens a passive data connection, sends command (STOR,
// RETR...), expects 150 and completes the data TLS handshake.
func (c *ftpClient) openTransfer(command string) (*tls.Conn, error) {
	r, err := c.expect("EPSV", 229)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(r.text, "(|||")
	port, _, ok := strings.Cut(rest, "|)")
	if !ok {
		return nil, fmt.Errorf("EPSV reply %q has no port", r)
	}
	raw, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), ftpTimeout)
	if err != nil {
		return nil, fmt.Errorf("data connection: %w", err)
	}
	if r, err := c.cmd(command); err != nil || (r.code != 150 && r.code != 125) {
		_ = raw.Close()
		return nil, fmt.Errorf("%s: %q, %v; want 150", command, r, err)
	}
	_ = raw.SetDeadline(time.Now().Add(transferTimeout))
	tc := tls.Client(raw, c.tls)
	if err := tc.Handshake(); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("data handshake: %w", err)
	}
	return tc, nil
}

// finish closes a data connection (with close_notify) and reads the
// transfer's final reply.
func (c *ftpClient) finish(data *tls.Conn) (ftpReply, error) {
	if err := data.Close(); err != nil {
		return ftpReply{}, fmt.Errorf("close data connection: %w", err)
	}
	return c.read()
}

// upload stores content as name and expects 226.
func (c *ftpClient) upload(name string, content []byte) error {
	data, err := c.openTransfer("STOR " + name)
	if err != nil {
		return err
	}
	if _, err := data.Write(content); err != nil {
		_ = data.Close()
		return fmt.Errorf("write data: %w", err)
	}
	r, err := c.finish(data)
	if err != nil || r.code != 226 {
		return fmt.Errorf("end of STOR %s: %q, %v; want 226", name, r, err)
	}
	return nil
}

// download retrieves name and expects 226.
func (c *ftpClient) download(name string) ([]byte, error) {
	data, err := c.openTransfer("RETR " + name)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(data)
	if err != nil {
		_ = data.Close()
		return nil, fmt.Errorf("read data: %w", err)
	}
	r, err := c.finish(data)
	if err != nil || r.code != 226 {
		return nil, fmt.Errorf("end of RETR %s: %q, %v; want 226", name, r, err)
	}
	return got, nil
}

// expectClosed reads what the server says before closing the control
// connection: a reply with code, then the end of the connection.
func (c *ftpClient) expectClosed(t *testing.T, code int, text string) {
	t.Helper()
	r, err := c.read()
	if err != nil || r.code != code || !strings.Contains(r.text, text) {
		t.Fatalf("want %d %q, got %q, %v", code, text, r, err)
	}
	if r, err := c.read(); err == nil {
		t.Fatalf("connection still open after %d: read %q", code, r)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// uploadTemps lists the hidden partial uploads left in dir.
func uploadTemps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var temps []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ftpsd-upload-") {
			temps = append(temps, e.Name())
		}
	}
	return temps
}

// leafOf connects anew, upgrades to TLS and returns the server's leaf.
func leafOf(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c := mustDial(t, addr)
	defer c.close()
	leaf, err := c.authTLS()
	if err != nil {
		t.Fatalf("AUTH TLS: %v", err)
	}
	return leaf
}

// TestReloadKeepsTransfers reloads users and the certificate with SIGHUP
// while an upload runs; a bad file is rejected; a key that needs a
// restart is reported.
func TestReloadKeepsTransfers(t *testing.T) {
	f := newFixture(t, 4)
	f.write(f.config("", "", "alice"))
	s, addr := f.start()

	certA, err := os.ReadFile(f.certFile)
	if err != nil {
		t.Fatal(err)
	}
	leafA := leafOf(t, addr)
	if !bytes.Equal(leafA.Raw, pemLeaf(t, certA)) {
		t.Fatalf("the first handshake does not present cert A")
	}

	// Bob does not exist yet.
	c := mustDial(t, addr)
	if _, err := c.authTLS(); err != nil {
		t.Fatal(err)
	}
	if err := c.login("bob", password("bob")); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob before the reload: %v, want 530", err)
	}
	c.close()

	// Alice starts an upload and keeps it open.
	alice := login(t, addr, "alice", password("alice"))
	defer alice.close()
	content := randomBytes(256 << 10)
	data, err := alice.openTransfer("STOR big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write(content[:64<<10]); err != nil {
		t.Fatal(err)
	}

	// New users and a new certificate, then SIGHUP.
	pairB := testcert.SelfSigned(t, "ftpsd test B")
	pairB.Write(t, f.dir)
	f.write(f.config("", "", "alice", "bob"))
	s.signal(t, syscall.SIGHUP)
	reloaded := s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	t.Logf("reload: changed %v, need_restart %v, certificate_sha256 %s",
		reloaded.strs("changed"), reloaded.strs("need_restart"), reloaded.str("certificate_sha256"))
	if !slices.Contains(reloaded.strs("changed"), "users") {
		t.Errorf("changed = %v, want users", reloaded.strs("changed"))
	}
	if nr := reloaded.strs("need_restart"); len(nr) != 0 {
		t.Errorf("need_restart = %v, want none", nr)
	}
	if got, want := normFingerprint(reloaded.str("certificate_sha256")), sha256Hex(pairB.Cert.Raw); got != want {
		t.Errorf("certificate_sha256 = %s, want cert B's %s", got, want)
	}

	// The upload started before the reload completes.
	if _, err := data.Write(content[64<<10:]); err != nil {
		t.Fatalf("upload after the reload: %v", err)
	}
	if r, err := alice.finish(data); err != nil || r.code != 226 {
		t.Fatalf("end of the upload across the reload: %q, %v; want 226", r, err)
	}
	got, err := os.ReadFile(filepath.Join(f.root, "alice", "big.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("alice/big.bin: %d bytes (%v), want the %d uploaded", len(got), err, len(content))
	}
	if _, err := alice.expect("NOOP", 200); err != nil {
		t.Fatalf("alice's session after the reload: %v", err)
	}

	// Bob logs in and has a home; new handshakes present cert B.
	bob := login(t, addr, "bob", password("bob"))
	if err := bob.upload("b.txt", []byte("bob was here\n")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(f.root, "bob", "b.txt")); err != nil || string(got) != "bob was here\n" {
		t.Errorf("bob/b.txt = %q, %v", got, err)
	}
	_ = bob.quit()
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, pairB.Cert.Raw) {
		t.Fatalf("a handshake after the reload presents %q, want cert B", leaf.Subject.CommonName)
	}

	// A bad file is rejected and everything stays.
	f.write("[server]\nlisten = \"127.0.0.1:0\"\n[[users]\nname = 'broken'\n")
	s.signal(t, syscall.SIGHUP)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, 10*time.Second)
	t.Logf("bad file: %s", rejected.str("error"))
	for _, u := range []string{"alice", "bob"} {
		c := login(t, addr, u, password(u))
		_ = c.quit()
	}
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, pairB.Cert.Raw) {
		t.Fatalf("a handshake after the rejected reload presents %q, want cert B", leaf.Subject.CommonName)
	}

	// A key that needs a restart is reported.
	f.write(f.config("idle_timeout = \"7m\"", "", "alice", "bob"))
	s.signal(t, syscall.SIGHUP)
	second := s.waitLog(t, "configuration reloaded", 2, 10*time.Second)
	if nr := second.strs("need_restart"); !slices.Equal(nr, []string{"server.idle_timeout"}) {
		t.Errorf("need_restart = %v, want [server.idle_timeout]", nr)
	}
	if ch := second.strs("changed"); !slices.Contains(ch, "server.idle_timeout") {
		t.Errorf("changed = %v, want server.idle_timeout among them", ch)
	}
	_ = alice.quit()
	s.stop(t, syscall.SIGTERM)
}

// pemLeaf returns the DER of the first certificate of a PEM file.
func pemLeaf(t *testing.T, pemData []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no certificate first in %q", pemData)
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

	uploader := login(t, addr, "alice", password("alice"))
	defer uploader.close()
	idle := login(t, addr, "alice", password("alice"))
	defer idle.close()
	content := randomBytes(512 << 10)
	data, err := uploader.openTransfer("STOR graceful.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write(content[:128<<10]); err != nil {
		t.Fatal(err)
	}

	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	idle.expectClosed(t, 421, "Server shutting down")
	t.Logf("idle session got 421 after %v", time.Since(sigterm).Round(time.Millisecond))

	if c, greeting, err := dialFTP(addr, nil); err == nil {
		c.close()
		if greeting.code == 220 {
			t.Fatalf("a new connection during the shutdown was greeted: %q", greeting)
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
	if _, err := data.Write(content[128<<10:]); err != nil {
		t.Fatalf("upload during the shutdown: %v", err)
	}
	r, err := uploader.finish(data)
	if err != nil || r.code != 226 {
		t.Fatalf("end of the upload during the shutdown: %q, %v; want 226", r, err)
	}
	uploader.expectClosed(t, 421, "Server shutting down")
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("exit %v after SIGTERM", took.Round(time.Millisecond))
	if limit := 3*time.Second + raceExitDelay(); took > limit {
		t.Errorf("exit took %v after SIGTERM, want it soon after the transfer ended (at most %v)", took, limit)
	}
	got, err := os.ReadFile(filepath.Join(f.root, "alice", "graceful.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("alice/graceful.bin: %d bytes (%v), want the %d uploaded", len(got), err, len(content))
	}
	if temps := uploadTemps(t, filepath.Join(f.root, "alice")); len(temps) > 0 {
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

	var uploaders []*ftpClient
	for _, name := range []string{"keep.txt", "quit.txt"} {
		c := login(t, addr, "alice", password("alice"))
		defer c.close()
		data, err := c.openTransfer("STOR " + name)
		if err != nil {
			t.Fatal(err)
		}
		defer data.Close()
		if _, err := data.Write(randomBytes(64 << 10)); err != nil {
			t.Fatal(err)
		}
		uploaders = append(uploaders, c)
	}
	if err := uploaders[1].send("QUIT"); err != nil {
		t.Fatal(err)
	}
	// The server has the bytes once its partial files have grown.
	waitUntil(t, 10*time.Second, "the partial uploads to grow", func() bool {
		grown := 0
		for _, name := range uploadTemps(t, home) {
			if fi, err := os.Stat(filepath.Join(home, name)); err == nil && fi.Size() > 0 {
				grown++
			}
		}
		return grown == 2
	})

	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	for _, c := range uploaders {
		c.expectClosed(t, 421, "transfer aborted")
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
	if temps := uploadTemps(t, home); len(temps) > 0 {
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
		c       *ftpClient
		data    *tls.Conn
		content []byte
	}
	var uploads []upload
	for i := range sessions {
		c := login(t, addr, "alice", password("alice"))
		defer c.close()
		data, err := c.openTransfer(fmt.Sprintf("STOR many%02d.bin", i))
		if err != nil {
			t.Fatal(err)
		}
		defer data.Close()
		content := randomBytes(2000 + i)
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
		if r, err := u.c.read(); err != nil || r.code != 226 {
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

// waitUntil polls cond every 20ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
				c, greeting, err := dialFTP(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
				if err != nil {
					t.Logf("no second loopback address to test from: %v", err)
				} else {
					if greeting.code != 220 {
						t.Errorf("from 127.0.0.2 while 127.0.0.1 is at its cap: %q, want 220", greeting)
					}
					_ = c.quit()
				}
			}
			refused := s.logs("connection refused")
			if len(refused) == 0 || refused[0].str("reason") != tc.reason {
				t.Errorf("want \"connection refused\" lines with reason %s, got %v", tc.reason, refused)
			}
			s.stop(t, syscall.SIGTERM)
		})
	}
}

// testLimit opens limit connections, checks that one more is refused with
// reason, closes one and checks that a new one is greeted. It leaves
// limit connections open until it returns.
func testLimit(t *testing.T, addr string, limit int, reason string) {
	t.Helper()
	var open []*ftpClient
	defer func() {
		for _, c := range open {
			c.close()
		}
	}()
	for range limit {
		open = append(open, mustDial(t, addr))
	}
	want := "421 Too many connections (" + reason + "); try again later."
	c, greeting, err := dialFTP(addr, nil)
	if err != nil {
		t.Fatalf("connection over the cap: %v, want %q", err, want)
	}
	if greeting.text != want {
		c.close()
		t.Fatalf("connection over the cap: %q, want %q", greeting, want)
	}
	if r, err := c.read(); err == nil {
		t.Errorf("connection over the cap still open: read %q", r)
	}
	c.close()

	if err := open[0].quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	open = open[1:]
	// The server forgets the closed connection asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, greeting, err := dialFTP(addr, nil)
		if err == nil && greeting.code == 220 {
			open = append(open, c)
			return
		}
		if c != nil {
			c.close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection greeted after one closed: last %q, %v", greeting, err)
		}
		time.Sleep(50 * time.Millisecond)
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
	var clients []*ftpClient
	for range sessions {
		c := login(t, addr, "alice", password("alice"))
		defer c.close()
		clients = append(clients, c)
	}
	for _, c := range clients {
		if err := c.send("QUIT"); err != nil {
			t.Fatal(err)
		}
	}
	sigterm := time.Now()
	s.signal(t, syscall.SIGTERM)
	codes := map[int]int{}
	for _, c := range clients {
		r, err := c.read()
		if err != nil {
			t.Errorf("QUIT during the shutdown: %v, want 221 or 421", err)
			continue
		}
		codes[r.code]++
		if r.code != 221 && r.code != 421 {
			t.Errorf("QUIT during the shutdown: %q, want 221 or 421", r)
		}
	}
	took := s.waitExit(t, sigterm, stopTimeout)
	t.Logf("replies %v; exit %v after SIGTERM", codes, took.Round(time.Millisecond))
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Errorf("the race detector found a data race in ftpsd")
	}
}
