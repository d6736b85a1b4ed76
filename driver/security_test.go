package driver_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpsd/config"
)

// secLogin opens an explicit-FTPS session as alice.
func secLogin(t *testing.T, addr string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithExplicitTLS(clientTLS()), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(userName, userPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func retrString(c *ftp.ServerConn, name string) (string, error) {
	r, err := c.Retr(name)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// secWrite writes a file, creating its directory.
func secWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An outside secret lives beside the storage root; every attempt to reach
// it from alice's home must fail.
func TestEscapeAttemptsFail(t *testing.T) {
	s := startServer(t, nil)
	outsideDir := t.TempDir()
	secret := filepath.Join(outsideDir, "secret.txt")
	secWrite(t, secret, "TOP-SECRET")
	secWrite(t, filepath.Join(s.Root, "other.txt"), "ROOT-FILE") // beside alice's home
	secWrite(t, filepath.Join(s.AliceDir(), "mine.txt"), "MINE")
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
	c := secLogin(t, s.Addr)

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
	c := secLogin(t, s.Addr)
	if err := c.Stor("/../../a.txt", bytes.NewReader([]byte("A"))); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if got, err := retrString(c, "/a.txt"); err != nil || got != "A" {
		t.Fatalf("RETR /a.txt = %q, %v", got, err)
	}
	// The read-only user has another home: alice's file is not there.
	r, err := ftp.Dial(s.Addr, ftp.DialWithExplicitTLS(clientTLS()), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Quit()
	if err := r.Login(readerName, readerPass); err != nil {
		t.Fatal(err)
	}
	if got, err := retrString(r, "/../alice/a.txt"); err == nil {
		t.Fatalf("reader read alice's file through ..: %q", got)
	}
}
