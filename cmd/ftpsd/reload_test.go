package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
)

// TestReloadAllOrNothing: a reload whose last component fails (a new
// user's home cannot be created) changes nothing (certificate, users,
// banner, log level stay); once it can be applied, everything is, and the
// log line says what.
func TestReloadAllOrNothing(t *testing.T) {
	f := newFixture(t, 2)
	f.write(f.config("", "", "alice"))
	s, addr := f.start()
	certA := f.leaf()

	// Cert B in new files (the certificate watch only follows the files in
	// use), bob, a new banner and log level, and bob's home blocked by a
	// regular file.
	dirB := filepath.Join(f.dir, "b")
	if err := os.Mkdir(dirB, 0o750); err != nil {
		t.Fatal(err)
	}
	pairB := testcert.SelfSigned(t, "ftpsd test B")
	certB, keyB := pairB.Write(t, dirB)
	next := f.config("", "", "alice", "bob")
	next = strings.Replace(next, `banner = "lifecycle test"`, `banner = "after reload"`, 1)
	next = strings.Replace(next, `level = "info"`, `level = "debug"`, 1)
	next = strings.Replace(next, f.certFile, certB, 1)
	next = strings.Replace(next, f.keyFile, keyB, 1)
	// First the certificate's step fails (its key file is missing)...
	f.write(strings.Replace(next, keyB, keyB+".missing", 1))
	s.reload(t)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, 10*time.Second)
	if c := rejected.str("component"); c != "certificate" {
		t.Fatalf("rejected component %q, want certificate", c)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bob")); err == nil {
		t.Fatal("a reload rejected at its certificate created bob's home")
	}
	// ...then the server's step (bob's home is blocked by a regular file).
	blocker := filepath.Join(f.root, "bob")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(next)
	s.reload(t)
	rejected = s.waitLog(t, "reload rejected; the running configuration stays", 2, 10*time.Second)
	if c := rejected.str("component"); c != "users, homes and banner" {
		t.Fatalf("rejected component %q", c)
	}
	checkServes(t, addr, certA, "lifecycle test")
	ftptest.MustLogin(t, addr, "alice", password("alice")).Quit()
	c := ftptest.MustDial(t, addr)
	c.AuthTLS()
	if err := c.Client.Login("bob", password("bob")); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob after a rejected reload: %v, want 530", err)
	}
	c.Close()
	if n := len(s.logs("session opened")); n != 0 {
		t.Fatalf("%d debug lines after a rejected reload: the log level changed", n)
	}

	// Unblocked: everything is applied.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	s.reload(t)
	reloaded := s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	applied := reloaded.strs("applied")
	for _, key := range []string{"users", "server.banner", "tls.cert_file", "tls.key_file", "log.level"} {
		if !slices.Contains(applied, key) {
			t.Errorf("applied = %v, want %s among them", applied, key)
		}
	}
	checkServes(t, addr, pairB.Cert.Raw, "after reload")
	ftptest.MustLogin(t, addr, "bob", password("bob")).Quit()
	if n := len(s.logs("session opened")); n == 0 {
		t.Fatal("no debug line after the reload to log.level = \"debug\"")
	}

	// The same file again: nothing changed, and the line says so.
	s.reload(t)
	same := s.waitLog(t, "configuration reloaded", 2, 10*time.Second)
	if got, ok := same["nothing_changed"].(bool); !ok || !got || len(same.strs("applied")) != 0 {
		t.Fatalf("reload of an unchanged file: %v", same)
	}
	s.terminate(t)
}

// checkServes checks the certificate and the banner of new connections.
func checkServes(t *testing.T, addr string, leafDER []byte, banner string) {
	t.Helper()
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, leafDER) {
		t.Fatalf("a new handshake presents %q, want another certificate", leaf.Subject.CommonName)
	}
	c := ftptest.MustDial(t, addr)
	defer c.Close()
	if g := c.Greeting(); !strings.Contains(g.Msg, banner) {
		t.Fatalf("greeting %q, want 220 %q", g, banner)
	}
}
