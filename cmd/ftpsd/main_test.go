package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"golang.org/x/crypto/bcrypt"

	"ftpsd/internal/testcert"

	"ftpsd/internal/testenv"
)

// ftpsdBin is the binary built once by TestMain.
var ftpsdBin string

// Bounds of every wait in these tests.
const (
	commandTimeout = 60 * time.Second // one short-lived command
	startTimeout   = 30 * time.Second // a server printing that it started
	stopTimeout    = 10 * time.Second // a server exiting after a signal
	ftpTimeout     = 10 * time.Second // FTP client operations
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ftpsd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ftpsdBin = filepath.Join(dir, "ftpsd")
	args := []string{"build", "-o", ftpsdBin}
	if raceEnabled {
		args = append(args, "-race") // the served process runs under the detector too
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ftpsd: %v\n", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is the outcome of one finished ftpsd command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runFtpsd runs the binary in a fresh temporary directory with stdin and
// returns its output and exit status.
func runFtpsd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ftpsdBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ftpsd %s: no exit within %v", strings.Join(args, " "), commandTimeout)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run ftpsd: %v", err)
	}
	return r
}

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost,
// and its key, as PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	return testcert.SelfSigned(t, "ftpsd test").Write(t, dir)
}

func TestVersion(t *testing.T) {
	r := runFtpsd(t, "", "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "ftpsd ") {
		t.Fatalf("ftpsd version: want exit 0 and \"ftpsd ...\" on stdout, got %v", r)
	}
}

func TestHashPassword(t *testing.T) {
	r := runFtpsd(t, "s3cret\n", "hash-password")
	if r.code != exitOK {
		t.Fatalf("hash-password: %v", r)
	}
	hash := strings.TrimSpace(r.stdout)
	if strings.Count(r.stdout, "\n") != 1 || strings.Contains(r.stdout, "s3cret") {
		t.Errorf("want one hash line and no password on stdout, got %q", r.stdout)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Errorf("hash %q does not match the password: %v", hash, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret\n")); err == nil {
		t.Errorf("hash %q includes the newline", hash)
	}

	// Windows line ending and no trailing newline read the same password.
	for _, in := range []string{"s3cret\r\n", "s3cret"} {
		r := runFtpsd(t, in, "hash-password", "-cost", "4")
		if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(r.stdout)), []byte("s3cret")); r.code != exitOK || err != nil {
			t.Errorf("stdin %q: %v (compare: %v)", in, r, err)
		}
	}
}

func TestHashPasswordEmpty(t *testing.T) {
	for _, in := range []string{"", "\n"} {
		r := runFtpsd(t, in, "hash-password")
		if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "empty password") {
			t.Errorf("stdin %q: want exit 1, no stdout and \"empty password\" on stderr, got %v", in, r)
		}
	}
}

// goodConfig is a valid file; tlsSection completes its [tls] table.
func goodConfig(hash, tlsSection string) string {
	return `[server]
listen = "127.0.0.1:2121"
idle_timeout = "2m"

[tls]
` + tlsSection + `
require = "all"

[passive]
ports = "50000-50019"

[storage]
backend = "memory"

[[users]]
name = "alice"
password_hash = "` + hash + `"
home = "alice"
`
}

func TestCheckGood(t *testing.T) {
	dir := t.TempDir()
	hash := mustHash(t, "alice-secret")
	certFile, keyFile := writeCert(t, dir)
	for name, tc := range map[string]struct{ tls, want string }{
		"self-signed": {"self_signed = true", "self_signed = true"},
		"cert files": {fmt.Sprintf("self_signed = false\ncert_file = %q\nkey_file = %q", certFile, keyFile),
			fmt.Sprintf("cert_file = %q", certFile)},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "good.toml", goodConfig(hash, tc.tls))
			r := runFtpsd(t, "", "check", "-config", path)
			if r.code != exitOK {
				t.Fatalf("check: %v", r)
			}
			for _, want := range []string{"listen", `"127.0.0.1:2121"`, `idle_timeout = "2m0s"`, tc.want,
				`name = "alice"`, "(bcrypt hash, not shown)", path} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			if strings.Contains(r.stdout+r.stderr, hash) || strings.Contains(r.stdout, "$2a$") {
				t.Errorf("check printed the password hash:\n%v", r)
			}
			if r.stderr != "" {
				t.Errorf("stderr not empty: %q", r.stderr)
			}
		})
	}
}

func TestCheckBad(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	otherCert, _ := writeCert(t, t.TempDir())
	missing := filepath.Join(dir, "missing", "cert.pem")
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		"several problems": {
			text: `[server]
idle_timeout = "0s"
[tls]
require = "sometimes"
[passive]
ports = "60000-50000"
[[users]]
name = "alice"
password_hash = "plain"
[log]
level = "loud"
`,
			want: []string{"server.idle_timeout", "tls.require", "passive.ports", "users[0].password_hash", "log.level"},
		},
		"unknown key": {
			text: "[server]\nlisen = \"0.0.0.0:21\"\n",
			want: []string{`unknown key "server.lisen"`},
		},
		"bad duration": {
			text: "[server]\nlisten = \"0.0.0.0:21\"\nidle_timeout = \"5 minutes\"\n",
			want: []string{"line 3", "idle_timeout", `"5 minutes"`},
		},
		"bad port range": {
			text: "[passive]\nports = \"80-90\"\n",
			want: []string{"passive.ports", `"80-90"`},
		},
		"port range over control port": {
			text: "[server]\nlisten = \"0.0.0.0:50005\"\n[passive]\nports = \"50000-50019\"\n",
			want: []string{"passive.ports", "control port of server.listen"},
		},
		"missing cert file": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", missing, keyFile),
			want: []string{missing},
		},
		"key of another cert": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", otherCert, keyFile),
			want: []string{otherCert, keyFile, "does not match"},
		},
		"cert without key": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\n", certFile),
			want: []string{"tls.key_file"},
		},
		"bad user": {
			text: goodConfig("not-a-hash", "self_signed = true"),
			want: []string{"users[0].password_hash", "ftpsd hash-password"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "bad.toml", tc.text)
			r := runFtpsd(t, "", "check", "-config", path)
			if r.code != exitError {
				t.Fatalf("want exit 1, got %v", r)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "ftpsd: config "+path+": ") {
				t.Errorf("stderr does not start with the file name:\n%s", r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestCheckExampleConfig checks ../../config.example.toml with its
// certificate paths pointed at real files.
func TestCheckExampleConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	text := strings.NewReplacer(`"/etc/ftpsd/cert.pem"`, fmt.Sprintf("%q", certFile),
		`"/etc/ftpsd/key.pem"`, fmt.Sprintf("%q", keyFile)).Replace(string(data))
	path := writeFile(t, dir, "ftpsd.toml", text)
	r := runFtpsd(t, "", "check", "-config", path)
	if r.code != exitOK {
		t.Fatalf("check config.example.toml: %v", r)
	}
	for _, want := range []string{`listen = "0.0.0.0:21"`, `ports = "50000-50099"`, certFile} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCheckSeveralProblemsOneALine checks the layout of a multi-problem
// report: one problem a line, the file named once.
func TestCheckSeveralProblemsOneALine(t *testing.T) {
	path := writeFile(t, t.TempDir(), "bad.toml", "[tls]\nmin_version = \"1.0\"\nrequire = \"x\"\n[log]\nformat = \"xml\"\n")
	r := runFtpsd(t, "", "check", "-config", path)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{
		"ftpsd: config " + path + ": tls.min_version: ",
		"  tls.require: ",
		"  log.format: ",
	}
	if r.code != exitError || len(lines) != len(want) {
		t.Fatalf("want exit 1 and %d lines on stderr, got %v", len(want), r)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want[i])
		}
	}
}

func TestCheckMissingConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	r := runFtpsd(t, "", "check", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("want exit 1 naming %s, got %v", path, r)
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.toml", "[server]\nlisen = \"0.0.0.0:21\"\nidle_timeout = \"0s\"\n[passive]\nports = \"abc\"\n")
	missing := filepath.Join(dir, "missing.pem")
	noCert := writeFile(t, dir, "nocert.toml", fmt.Sprintf(
		"[server]\nlisten = \"127.0.0.1:0\"\n[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", missing, missing))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-config", bad}, []string{bad, `unknown key "server.lisen"`, "server.idle_timeout", "passive.ports"}},
		{[]string{"serve", "-config", bad}, []string{bad, `unknown key "server.lisen"`, "server.idle_timeout", "passive.ports"}},
		{[]string{"-config", noCert}, []string{missing}},
	} {
		r := runFtpsd(t, "", tc.args...)
		if r.code != exitError {
			t.Errorf("ftpsd %v: want exit 1, got %v", tc.args, r)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("ftpsd %v: stderr lacks %q:\n%s", tc.args, want, r.stderr)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"check"}, "-config FILE is required"},
		{[]string{"check", "-config"}, "flag needs an argument"},
		{[]string{"check", "-config", "a.toml", "extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"serve", "now"}, `unexpected argument "now"`},
		{[]string{"hash-password", "-cost", "many"}, "invalid value"},
	} {
		r := runFtpsd(t, "", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("ftpsd %v: want exit 2, %q and the usage on stderr, got %v", tc.args, tc.want, r)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"check", "-help"}} {
		r := runFtpsd(t, "", args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "usage:") || !strings.Contains(r.stdout, "hash-password") {
			t.Errorf("ftpsd %v: want exit 0 and the usage on stdout, got %v", args, r)
		}
	}
}

// syncBuffer collects output written from another goroutine.
type syncBuffer = testenv.SyncBuffer

// server is a running ftpsd process.
type server struct {
	cmd            *exec.Cmd
	dir            string
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error         // valid after done
}

// startFtpsd starts the binary in the background in dir. The process is
// killed at the end of the test if it is still running.
func startFtpsd(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	return startFtpsdEnv(t, dir, nil, args...)
}

// startFtpsdEnv is startFtpsd with extra environment variables.
func startFtpsdEnv(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(ftpsdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startServerCmd(t, cmd, dir)
}

// startServerCmd starts cmd (an ftpsd serving) in dir, collects its output
// and kills it at the end of the test if it is still running.
func startServerCmd(t *testing.T, cmd *exec.Cmd, dir string) *server {
	t.Helper()
	s := &server{
		cmd:    cmd,
		dir:    dir,
		stdout: &syncBuffer{},
		stderr: &syncBuffer{},
		done:   make(chan struct{}),
	}
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			select {
			case <-s.done:
			case <-time.After(stopTimeout):
				t.Errorf("ftpsd pid %d did not exit after SIGKILL", s.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("ftpsd stdout:\n%s\nftpsd stderr:\n%s", s.stdout, s.stderr)
		}
	})
	return s
}

// waitFor polls buf until re matches, the process exits or the timeout
// passes, and returns the submatches. busyAddr, when set, skips the test
// if the process exited because that address was taken in the meantime.
func (s *server) waitFor(t *testing.T, buf *syncBuffer, re *regexp.Regexp, busyAddr string) []string {
	t.Helper()
	deadline := time.After(startTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			return m
		}
		select {
		case <-s.done:
			if m := re.FindStringSubmatch(buf.String()); m != nil {
				return m
			}
			if busyAddr != "" && strings.Contains(s.stderr.String(), "listen on "+busyAddr) &&
				strings.Contains(s.stderr.String(), "address already in use") {
				t.Skipf("%s was taken between the check and the start of ftpsd", busyAddr)
			}
			t.Fatalf("ftpsd exited (%v) before printing %v", s.waitErr, re)
		case <-deadline:
			t.Fatalf("ftpsd did not print %v within %v", re, startTimeout)
		case <-tick.C:
		}
	}
}

// stop sends sig and asserts a clean exit (status 0) within stopTimeout.
func (s *server) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal ftpsd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("ftpsd did not exit within %v of %v", stopTimeout, sig)
	}
	if s.waitErr != nil {
		t.Fatalf("ftpsd exited with %v after %v, want status 0", s.waitErr, sig)
	}
	if !strings.Contains(s.stderr.String(), "ftpsd stopped") {
		t.Errorf("stderr lacks the \"ftpsd stopped\" log line:\n%s", s.stderr)
	}
}

// clientTLS is one client's TLS config: its data connections resume the
// control connection's session (shared cache entry under one ServerName),
// as ftpsd requires by default.
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", //nolint:gosec // test certificates
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

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

// TestFirstRun runs "ftpsd" without arguments: the first-run default on
// 127.0.0.1:2121 with a demo user whose password is printed once.
func TestFirstRun(t *testing.T) {
	const addr = "127.0.0.1:2121"
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("first-run default address %s is not free under CI=true: %v", addr, err)
		}
		t.Skipf("first-run default address %s is not free: %v", addr, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	s := startFtpsd(t, dir)
	m := s.waitFor(t, s.stdout, regexp.MustCompile(`user: (\S+) +password: (\S+)`), addr)
	user, password := m[1], m[2]
	if user != "demo" || len(password) < 12 {
		t.Fatalf("demo account line: user %q password %q", user, password)
	}
	for _, want := range []string{"explicit FTPS on " + addr, "self-signed certificate", "curl --ssl-reqd"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("first-run banner lacks %q:\n%s", want, s.stdout)
		}
	}
	root := filepath.Join(dir, "ftproot")
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		t.Fatalf("./ftproot not created: %v", err)
	}

	content := exerciseFTP(t, addr, user, password, ftp.DialWithExplicitTLS(clientTLS()))
	if got, err := os.ReadFile(filepath.Join(root, "hello.txt")); err != nil || string(got) != content {
		t.Errorf("ftproot/hello.txt = %q, %v; want the uploaded content", got, err)
	}
	if strings.Contains(s.stderr.String(), password) {
		t.Errorf("the demo password appears in the log:\n%s", s.stderr)
	}
	s.stop(t, syscall.SIGTERM)
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
	path := writeFile(t, dir, "ftpsd.toml", fmt.Sprintf(`[server]
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
`, certFile, keyFile, freePortRange(t, 20), root, mustHash(t, "alice-secret")))

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

	content := exerciseFTP(t, started.Listen, "alice", "alice-secret", ftp.DialWithExplicitTLS(clientTLS()))
	if got, err := os.ReadFile(filepath.Join(root, "alice", "hello.txt")); err != nil || string(got) != content {
		t.Errorf("root/alice/hello.txt = %q, %v; want the uploaded content", got, err)
	}
	exerciseFTP(t, started.ImplicitListen, "alice", "alice-secret", ftp.DialWithTLS(clientTLS()))
	s.stop(t, syscall.SIGINT)
}

// freePortRange finds n consecutive ports that can be bound on 127.0.0.1
// now, for the passive range, below the kernel's ephemeral range
// (32768-60999) where the tests' own client sockets could take them.
func freePortRange(t *testing.T, n int) string {
	t.Helper()
	const low, high = 20000, 32768
	slots := (high - low) / n
	first := int(time.Now().UnixNano() / 1e6)
	for i := range slots {
		start := low + ((first+i)%slots)*n
		ok := true
		for p := start; p < start+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			_ = l.Close()
		}
		if ok {
			return fmt.Sprintf("%d-%d", start, start+n-1)
		}
	}
	t.Fatal("no free passive port range")
	return ""
}

// TestHealthCommand probes a greeting server and a closed port.
func TestHealthCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "220 ftpsd ready\r\n")
			_ = c.Close()
		}
	}()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"health", "-addr", l.Addr().String()}, nil, &out, &errb); code != 0 {
		t.Fatalf("health of a greeting server: exit %d, %s", code, errb.String())
	}
	closed := l.Addr().(*net.TCPAddr)
	l.Close()
	if code := run(context.Background(), []string{"health", "-addr", closed.String(), "-timeout", "1s"}, nil, &out, &errb); code != 1 {
		t.Fatalf("health of a closed port: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), closed.String()) {
		t.Fatalf("error does not name the address: %s", errb.String())
	}
}

// TestCheckReportsPortsAndFirewallRules holds one port of the passive range
// and expects check to name it and to print the rules for the ranges.
func TestCheckReportsPortsAndFirewallRules(t *testing.T) {
	ports := freePortRange(t, 10)
	var start, end int
	if _, err := fmt.Sscanf(ports, "%d-%d", &start, &end); err != nil {
		t.Fatal(err)
	}
	held, err := net.Listen("tcp", fmt.Sprintf(":%d", start+3))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	text := strings.Replace(goodConfig(mustHash(t, "x"), "self_signed = true"), `ports = "50000-50019"`, `ports = "`+ports+`"`, 1)
	text = strings.Replace(text, `listen = "127.0.0.1:2121"`, `listen = "0.0.0.0:21"`+"\nimplicit_listen = \"0.0.0.0:990\"", 1)
	r := runFtpsd(t, "", "check", "-config", writeFile(t, t.TempDir(), "ports.toml", text))
	if r.code != exitOK {
		t.Fatalf("check: %v", r)
	}
	for _, want := range []string{
		fmt.Sprintf("# passive ports %s: 10 ports, 1 taken on this host now: %d", ports, start+3),
		"nft add rule inet filter input tcp dport { 21, 990 } accept",
		fmt.Sprintf("nft add rule inet filter input tcp dport %d-%d accept", start, end),
		"iptables -A INPUT -p tcp -m multiport --dports 21,990 -j ACCEPT",
		fmt.Sprintf("iptables -A INPUT -p tcp --dport %d:%d -j ACCEPT", start, end),
		"CCC",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
}
