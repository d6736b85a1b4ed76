package driver_test

import (
	"bytes"
	"errors"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Bad input: malformed and hostile control connections, which are dropped
// while other clients are served, and names that try to leave the user's
// home.

// dropped checks that the server closes the connection, after 4xx or 5xx
// replies at most.
func dropped(t *testing.T, c *ftptest.MustClient) {
	t.Helper()
	for {
		r, err := c.Client.Reply()
		var perr textproto.ProtocolError
		switch {
		case errors.As(err, &perr):
			t.Fatalf("connection still serving: %v", err)
		case err != nil:
			return
		case r.Code < 400:
			t.Fatalf("connection still serving: %v", r)
		}
	}
}

// stillServing checks that a fresh client can log in and list.
func stillServing(t *testing.T, s *testServer) {
	t.Helper()
	c := loginGo(t, s.Addr, userName, userPass)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("another client cannot list: %v", err)
	}
}

func hasLog(s *testServer, msg string) bool {
	return s.Logs.FilterMessage(msg).Len() > 0
}

func TestBadClientsAreDroppedOthersServed(t *testing.T) {
	s := startServer(t, nil)
	bystander := loginGo(t, s.Addr, userName, userPass) // a session open during the abuse

	long := ftptest.MustDial(t, s.Addr)
	long.Write(append([]byte("USER "), bytes.Repeat([]byte("x"), 10000)...))
	long.Expect(500, "a 10000-byte line")
	dropped(t, long)

	junk := ftptest.MustDial(t, s.Addr)
	for i := 0; i < 5; i++ {
		junk.Write([]byte("\x00\x01\x02garbage\x7f\r\n"))
	}
	dropped(t, junk)

	notTLS := ftptest.MustDial(t, s.Addr)
	notTLS.Do(234, "AUTH TLS")
	notTLS.Write([]byte("USER alice\r\nPASS alice-secret\r\n"))
	dropped(t, notTLS)

	hello := ftptest.MustDial(t, s.Addr)
	hello.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x20, 1, 2, 3})
	dropped(t, hello)

	for _, msg := range []string{"dropping control connection", "control TLS handshake failed"} {
		if !hasLog(s, msg) {
			t.Errorf("no %q log line", msg)
		}
	}
	if _, err := bystander.List("/"); err != nil {
		t.Fatalf("the open session broke: %v", err)
	}
	stillServing(t, s)
}

func TestUnknownCommandBeforeAuth(t *testing.T) {
	s := startServer(t, nil)
	c := ftptest.MustDial(t, s.Addr)
	c.Do(500, "HELLO there")
	if r := c.Do(530, "USER alice"); !strings.Contains(r.Msg, "TLS") { // require = "all": TLS first
		t.Fatalf("refusal %q does not mention TLS", r)
	}
	if !hasLog(s, "login refused") {
		t.Error("no login refused log line")
	}
	stillServing(t, s)
}

// An outside secret lives beside the storage root; every attempt to reach
// it from alice's home must fail.
func TestEscapeAttemptsFail(t *testing.T) {
	s := startServer(t, nil)
	outsideDir := t.TempDir()
	secret := filepath.Join(outsideDir, "secret.txt")
	ftptest.WriteFile(t, outsideDir, "secret.txt", []byte("TOP-SECRET"))
	ftptest.WriteFile(t, s.Root, "other.txt", []byte("ROOT-FILE")) // beside alice's home
	ftptest.WriteFile(t, s.AliceDir(), "mine.txt", []byte("MINE"))
	if err := os.Symlink(secret, filepath.Join(s.AliceDir(), "link-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideDir, filepath.Join(s.AliceDir(), "link-dir")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(s.AliceDir(), secret)
	if err := os.Symlink(rel, filepath.Join(s.AliceDir(), "link-rel")); err != nil {
		t.Fatal(err)
	}
	c := loginGo(t, s.Addr, userName, userPass)

	for _, name := range []string{
		"../../etc/passwd", "/etc/passwd", "../other.txt", "/../other.txt",
		secret, "../" + filepath.Base(outsideDir) + "/secret.txt",
		"link-file", "link-dir/secret.txt", "link-rel",
	} {
		got, err := retrString(c, name)
		if err == nil && (strings.Contains(got, "TOP-SECRET") || strings.Contains(got, "ROOT-FILE") || strings.Contains(got, "root:")) {
			t.Errorf("RETR %s leaked %q", name, got)
		}
		if err == nil {
			t.Errorf("RETR %s succeeded (%q), want an error", name, got)
		}
	}

	// CWD above home stays at the home.
	for _, dir := range []string{"..", "../..", "/..", "link-dir"} {
		_ = c.ChangeDir(dir)
		if got, err := retrString(c, "mine.txt"); err != nil || got != "MINE" {
			t.Errorf("after CWD %s: RETR mine.txt = %q, %v; want MINE", dir, got, err)
		}
		if err := c.ChangeDir("/"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ChangeDir("link-dir"); err == nil {
		t.Error("CWD into a symlink to an outside directory succeeded")
	}

	// Writes through links or climbing names never land outside.
	for _, name := range []string{"link-file", "link-dir/new.txt", "../../escaped.txt", "link-rel"} {
		_ = c.Stor(name, strings.NewReader("EVIL"))
	}
	if b, _ := os.ReadFile(secret); string(b) != "TOP-SECRET" {
		t.Errorf("outside secret changed to %q", b)
	}
	if _, err := os.Stat(filepath.Join(outsideDir, "new.txt")); err == nil {
		t.Error("a file was created in the outside directory")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Root), "escaped.txt")); err == nil {
		t.Error("escaped.txt was written above the storage root")
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root, "other.txt")); string(b) != "ROOT-FILE" {
		t.Errorf("file beside the home changed to %q", b)
	}
	// DELE and RMD through links or climbing names do not touch outside files.
	_ = c.Delete("../other.txt")
	_ = c.Delete("link-dir/secret.txt")
	_ = c.RemoveDir("link-dir")
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("outside secret removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "other.txt")); err != nil {
		t.Errorf("file beside the home removed: %v", err)
	}
}

// A memory backend confines users the same way.
func TestMemoryBackendConfinesUsers(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Storage.Backend = "memory" })
	c := loginGo(t, s.Addr, userName, userPass)
	if err := c.Stor("/../../a.txt", bytes.NewReader([]byte("A"))); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if got, err := retrString(c, "/a.txt"); err != nil || got != "A" {
		t.Fatalf("RETR /a.txt = %q, %v", got, err)
	}
	// The read-only user has another home: alice's file is not there.
	r := loginGo(t, s.Addr, readerName, readerPass)
	if got, err := retrString(r, "/../alice/a.txt"); err == nil {
		t.Fatalf("reader read alice's file through ..: %q", got)
	}
}

// TestUserAfterLogin: USER on a logged-in TLS session is refused with a
// 530 and the session goes on (the lib answered "421 TLS is required" and
// disconnected: it does not see the TLS below it).
func TestUserAfterLogin(t *testing.T) {
	s := startServer(t, nil)
	c := ftptest.MustLogin(t, s.Addr, userName, userPass)
	for _, user := range []string{userName, readerName} {
		if r := c.Cmd("USER %s", user); r.Code != 530 {
			t.Fatalf("USER %s after login: %v, want 530", user, r)
		}
	}
	c.Do(257, "PWD")
	if n := s.Logs.FilterMessage("USER after login refused").Len(); n != 2 {
		t.Fatalf("%d log lines for the refused USER, want 2", n)
	}
}
