package tlsconf

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestWatchReloadsChangedFiles replaces the files under a running watch:
// new handshakes present the new certificate without any call, and a
// half-written file is ignored until it is complete.
func TestWatchReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	a := issue(t, "watch-a", false, nil)
	s, certPath := newFileStore(t, dir, a)
	addr := serve(t, s.Config())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	writeFile(t, certPath, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	time.Sleep(100 * time.Millisecond)
	assertPresents(t, s, addr, a) // a broken file keeps the old certificate

	b := issue(t, "watch-b", false, nil)
	writePair(t, dir, b)
	deadline := time.Now().Add(5 * time.Second)
	for !s.Leaf().Equal(b.Cert) {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not pick up the new certificate within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	assertPresents(t, s, addr, b)
}

func TestReloadFilesSwitchesPaths(t *testing.T) {
	a := issue(t, "paths-a", false, nil)
	s, _ := newFileStore(t, t.TempDir(), a)
	b := issue(t, "paths-b", false, nil)
	certB, keyB := writePair(t, t.TempDir(), b)
	if err := s.ReloadFiles(certB, "/nonexistent/key.pem"); err == nil {
		t.Fatal("ReloadFiles with a missing key succeeded")
	}
	if !s.Leaf().Equal(a.Cert) {
		t.Fatal("a failed ReloadFiles changed the certificate")
	}
	if err := s.ReloadFiles(certB, keyB); err != nil {
		t.Fatal(err)
	}
	if !s.Leaf().Equal(b.Cert) {
		t.Fatal("ReloadFiles did not switch to the new files")
	}
	selfSigned, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := selfSigned.ReloadFiles(certB, keyB); err == nil {
		t.Fatal("ReloadFiles on a self-signed store succeeded")
	}
}
