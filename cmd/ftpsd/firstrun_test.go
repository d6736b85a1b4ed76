package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The first-run default as a new user meets it: "ftpsd" without
// arguments, what it prints, what it keeps between starts, and the Python
// lines it prints, run as printed.

// firstRunAddr is where the first-run default listens.
const firstRunAddr = "127.0.0.1:2121"

// startFirstRun starts "ftpsd" without arguments in dir and returns it
// with the demo account it prints. The test is skipped when firstRunAddr
// is taken (failed under CI=true).
func startFirstRun(t *testing.T, dir string) (s *server, user, password string) {
	t.Helper()
	l, err := net.Listen("tcp", firstRunAddr)
	if err != nil {
		testenv.Unavailable(t, "first-run default address %s is not free: %v", firstRunAddr, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s = startFtpsd(t, dir)
	// The banner is one write, printed once the server listens.
	m := s.waitFor(t, s.stdout, regexp.MustCompile(`user: (\S+) +password: (\S+)`), firstRunAddr)
	return s, m[1], m[2]
}

// TestFirstRun runs "ftpsd" without arguments: the first-run default on
// 127.0.0.1:2121 with a demo user whose password is printed.
func TestFirstRun(t *testing.T) {
	dir := t.TempDir()
	s, user, password := startFirstRun(t, dir)
	if user != "demo" || len(password) < 12 {
		t.Fatalf("demo account line: user %q password %q", user, password)
	}
	for _, want := range []string{"explicit FTPS on " + firstRunAddr, "self-signed certificate", "curl --ssl-reqd"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("first-run banner lacks %q:\n%s", want, s.stdout)
		}
	}
	root := filepath.Join(dir, "ftproot")
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		t.Fatalf("./ftproot not created: %v", err)
	}

	content := exerciseFTP(t, firstRunAddr, user, password, ftp.DialWithExplicitTLS(ftptest.NewTLS()))
	if got, err := os.ReadFile(filepath.Join(root, "hello.txt")); err != nil || string(got) != content {
		t.Errorf("ftproot/hello.txt = %q, %v; want the uploaded content", got, err)
	}
	if strings.Contains(s.stderr.String(), password) {
		t.Errorf("the demo password appears in the log:\n%s", s.stderr)
	}
	s.terminate(t)
}

// TestFirstRunKeepsPassword restarts the first-run default in the same
// directory: the password and the certificate stay, kept in files only
// their owner can read, and the banner says where and what to do next.
func TestFirstRunKeepsPassword(t *testing.T) {
	dir := t.TempDir()
	s, user, first := startFirstRun(t, dir)
	leaf := leafOf(t, firstRunAddr)
	s.terminate(t)

	s, _, second := startFirstRun(t, dir)
	if second != first {
		t.Errorf("the second start printed password %q, the first %q: want the same", second, first)
	}
	if again := leafOf(t, firstRunAddr); !bytes.Equal(again.Raw, leaf.Raw) {
		t.Errorf("the second start presents another certificate (%s, first %s)",
			ftptest.SHA256Hex(again.Raw), ftptest.SHA256Hex(leaf.Raw))
	}
	c := ftptest.MustLogin(t, firstRunAddr, user, second)
	_ = c.Client.Quit()
	for _, want := range []string{firstRunDir, "hash-password", "config.example.toml"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("first-run banner lacks %q:\n%s", want, s.stdout)
		}
	}
	s.terminate(t)

	state := filepath.Join(dir, firstRunDir)
	assertMode(t, state, 0o700|os.ModeDir)
	for _, name := range []string{"demo-password", "cert.pem", "key.pem"} {
		assertMode(t, filepath.Join(state, name), 0o600)
	}
	if kept, err := os.ReadFile(filepath.Join(state, "demo-password")); err != nil || strings.TrimSpace(string(kept)) != first {
		t.Errorf("demo-password holds %q (%v), want the printed password", kept, err)
	}
}

// assertMode fails unless path has mode want (type and permission bits).
func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("first-run state: %v", err)
	}
	if got := info.Mode() & (os.ModeType | os.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// printedPython is the shell here-document that runs the banner's Python
// lines: "python3 - <<'EOF'" to "EOF".
var printedPython = regexp.MustCompile(`(?ms)^python3 - <<'EOF'\n.*?^EOF\n`)

// TestFirstRunPython runs the Python lines the first-run default prints,
// as printed (through sh), with the real python3: they log in, upload a
// file, list it and download it.
func TestFirstRunPython(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3 against the first-run default")
	}
	testenv.NeedTool(t, "python3", "python3")
	dir := t.TempDir()
	s, _, _ := startFirstRun(t, dir)
	script := s.waitFor(t, s.stdout, printedPython, "")[0]
	stdout, stderr, err := ftptest.Cmd{Dir: t.TempDir(), Timeout: commandTimeout}.Run("sh", "-c", script)
	if err != nil {
		t.Fatalf("the printed Python failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	root := filepath.Join(dir, "ftproot")
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 1 {
		t.Fatalf("ftproot after the Python run: %v (%v), want the one uploaded file", entries, err)
	}
	name := entries[0].Name()
	content, err := os.ReadFile(filepath.Join(root, name))
	if err != nil || len(bytes.TrimSpace(content)) == 0 {
		t.Fatalf("uploaded %s: %q, %v", name, content, err)
	}
	if !strings.Contains(stdout, name) || !strings.Contains(stdout, string(bytes.TrimSpace(content))) {
		t.Errorf("the Python output does not list %s and show its content %q:\n%s", name, content, stdout)
	}
	t.Logf("the printed Python uploaded, listed and downloaded %s (%d bytes):\n%s", name, len(content), stdout)
	s.terminate(t)
}

// TestFirstRunState checks the state directory without a server: starts
// that race make one state and read one password; a secret readable by
// others, an incomplete directory and an empty password are refused with
// the file named.
func TestFirstRunState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), firstRunDir)
	const starts = 4
	created := make(chan bool, starts)
	for range starts {
		go func() {
			c, err := createFirstRunState(dir)
			if err != nil {
				t.Error(err)
			}
			created <- c
		}()
	}
	made := 0
	for range starts {
		if <-created {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d of %d racing starts made the state, want 1", made, starts)
	}
	password, err := readDemoPassword(dir)
	if err != nil || len(password) < 12 {
		t.Fatalf("password %q, %v", password, err)
	}
	if again, err := readDemoPassword(dir); again != password || err != nil {
		t.Errorf("password read again: %q (%v), want %q", again, err, password)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*")); len(leftovers) != 0 {
		t.Errorf("temporary directories left: %v", leftovers)
	}

	passwordFile := filepath.Join(dir, "demo-password")
	for _, tc := range []struct {
		name, path string
		change     func(path string) error
		want       string
	}{
		{"password readable by others", passwordFile,
			func(p string) error { return os.Chmod(p, 0o644) }, "mode 0644, want 0600"},
		{"key readable by the group", filepath.Join(dir, "key.pem"),
			func(p string) error { return os.Chmod(p, 0o640) }, "mode 0640, want 0600"},
		{"password missing", passwordFile, os.Remove, "no such file"},
		{"password empty", passwordFile,
			func(p string) error { return os.WriteFile(p, []byte("\n"), 0o600) }, "want one password line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = os.WriteFile(tc.path, saved, 0o600); _ = os.Chmod(tc.path, 0o600) }()
			if err := tc.change(tc.path); err != nil {
				t.Fatal(err)
			}
			if c, err := createFirstRunState(dir); c || err != nil {
				t.Errorf("createFirstRunState over an existing state: made %v, %v", c, err)
			}
			_, err = readDemoPassword(dir)
			if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("readDemoPassword: %v, want an error naming %s with %q", err, tc.path, tc.want)
			}
		})
	}
}

// TestReadmePython checks that the README's first Python example is the
// one the first-run banner prints (TestFirstRunPython runs that), with
// PASSWORD for the password.
func TestReadmePython(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Python example")
	}
	host, port, _ := net.SplitHostPort(firstRunAddr)
	if got, want := string(m[1]), pythonSnippet(host, port, "demo", "PASSWORD"); got != want {
		t.Errorf("README.md's first Python example:\n%s\nwant the one the first run prints:\n%s", got, want)
	}
}
