package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// The ftpsd process under test: the binary built once by TestMain, its
// short-lived commands, and servers running in the background with their
// JSON logs. Clients are ftptest's raw FTPS client and jlaffaye/ftp.

// ftpsdBin is the binary built once by TestMain.
var ftpsdBin string

// Bounds of every wait in these tests.
const (
	commandTimeout = 60 * time.Second // one short-lived command
	startTimeout   = 30 * time.Second // a server printing that it started
	stopTimeout    = 10 * time.Second // a server exiting after a signal
	ftpTimeout     = 10 * time.Second // jlaffaye/ftp client operations
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == hookHelperArg { // run by ftpsd as a hook's command
		os.Exit(hookHelper(os.Args[2:]))
	}
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
	cmd := ftptest.Cmd{Dir: t.TempDir(), Stdin: strings.NewReader(stdin), Timeout: commandTimeout}
	stdout, stderr, err := cmd.Run(ftpsdBin, args...)
	r := result{stdout: stdout, stderr: stderr}
	var exitErr *exec.ExitError
	switch {
	case errors.Is(err, ftptest.ErrTimeout):
		t.Fatalf("ftpsd %s: %v", strings.Join(args, " "), err)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run ftpsd: %v", err)
	}
	return r
}

// writeText writes text to dir/name and returns the path.
func writeText(t *testing.T, dir, name, text string) string {
	t.Helper()
	return ftptest.WriteFile(t, dir, name, []byte(text))
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost,
// and its key, as PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	return testcert.SelfSigned(t, "ftpsd test").Write(t, dir)
}

// server is a running ftpsd process.
type server struct {
	cmd            *exec.Cmd
	dir            string
	stdout, stderr *testenv.SyncBuffer
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
		stdout: &testenv.SyncBuffer{},
		stderr: &testenv.SyncBuffer{},
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
			if _, ok := ftptest.Receive(s.done, stopTimeout); !ok {
				t.Errorf("ftpsd pid %d did not exit after SIGKILL", s.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("ftpsd stdout:\n%s\nftpsd stderr:\n%s", s.stdout, s.stderr)
		}
	})
	return s
}

// exited reports whether the process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// await polls found until it holds, and returns false then; it returns
// true when the process exits first. It fails the test when timeout
// passes.
func (s *server) await(t *testing.T, timeout time.Duration, what string, found func() bool) (exited bool) {
	t.Helper()
	if !ftptest.Eventually(timeout, func() bool { return found() || s.exited() }) {
		t.Fatalf("ftpsd did not %s within %v", what, timeout)
	}
	return !found()
}

// waitFor waits until buf matches re and returns the submatches. busyAddr,
// when set, skips the test if the process exited because that address
// was taken in the meantime.
func (s *server) waitFor(t *testing.T, buf *testenv.SyncBuffer, re *regexp.Regexp, busyAddr string) []string {
	t.Helper()
	var m []string
	if s.await(t, startTimeout, fmt.Sprintf("print %v", re), func() bool {
		m = re.FindStringSubmatch(buf.String())
		return m != nil
	}) {
		if busyAddr != "" && strings.Contains(s.stderr.String(), "listen on "+busyAddr) &&
			strings.Contains(s.stderr.String(), "address already in use") {
			testenv.Unavailable(t, "%s was taken between the check and the start of ftpsd", busyAddr)
		}
		t.Fatalf("ftpsd exited (%v) before printing %v", s.waitErr, re)
	}
	return m
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
	var l []logEntry
	if s.await(t, timeout, fmt.Sprintf("log %q (#%d)", msg, n), func() bool {
		l = s.logs(msg)
		return len(l) >= n
	}) {
		t.Fatalf("ftpsd exited (%v) before logging %q (#%d)", s.waitErr, msg, n)
	}
	return l[n-1]
}

// signal sends sig to the process.
func (s *server) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal ftpsd: %v", err)
	}
}

// waitExit waits for the process to end within timeout and returns how
// long that took from since; it fails unless the exit status is 0 and the
// log ends with "ftpsd stopped".
func (s *server) waitExit(t *testing.T, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	if _, ok := ftptest.Receive(s.done, timeout); !ok {
		t.Fatalf("ftpsd did not exit within %v", timeout)
	}
	took := time.Since(since)
	if s.waitErr != nil {
		t.Fatalf("ftpsd exited with %v, want status 0", s.waitErr)
	}
	if !strings.Contains(s.stderr.String(), "ftpsd stopped") {
		t.Errorf("stderr lacks the \"ftpsd stopped\" log line:\n%s", s.stderr)
	}
	return took
}

// stop sends sig and asserts a clean exit (status 0) within stopTimeout.
func (s *server) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	s.signal(t, sig)
	s.waitExit(t, time.Now(), stopTimeout)
}

// reload sends SIGHUP.
func (s *server) reload(t *testing.T) { t.Helper(); s.signal(t, syscall.SIGHUP) }

// terminate stops the process with SIGTERM, as systemd does.
func (s *server) terminate(t *testing.T) { t.Helper(); s.stop(t, syscall.SIGTERM) }

// fixture is the files of one ftpsd process: its configuration, its
// certificate and its storage root, all in one temporary directory.
type fixture struct {
	t                 *testing.T
	dir, root, path   string
	certFile, keyFile string
	ports             ftptest.Range // passive range
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
		ports: ftptest.PortRange(t, passivePorts), hashes: map[string]string{}}
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
	h := ftptest.HashPassword(f.t, password(name))
	f.hashes[name] = h
	return h
}

// config returns the file's text: serverExtra and metricsListen go in
// their tables; each user's home is its name.
func (f *fixture) config(serverExtra, metricsListen string, users ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"127.0.0.1:0\"\nbanner = \"lifecycle test\"\n%s\n", serverExtra)
	fmt.Fprintf(&b, "[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\nrequire = \"all\"\n", f.certFile, f.keyFile)
	// Every test client comes from 127.0.0.1: it may hold the whole range.
	fmt.Fprintf(&b, "[passive]\nports = %q\nmax_ports_per_ip = %d\n", f.ports, f.ports.Len())
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
	writeText(f.t, f.dir, filepath.Base(f.path), text)
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
