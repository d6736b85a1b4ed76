package driver

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"ftpsd/internal/ftptest"
)

// TestHashIsATransfer: a HASH counts as a transfer of its session while it
// reads the file, and stops reading once the server ends the session (a
// shutdown's cut, a reload that revoked the account). The file is a FIFO,
// so the test decides when the hash has bytes to read.
func TestHashIsATransfer(t *testing.T) {
	root := t.TempDir()
	fifo := filepath.Join(root, "slow")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	c := osClientFs(t, root, true) // a read-only account may HASH
	s := c.session

	done := make(chan error, 1)
	go func() {
		_, err := c.ComputeHash("/slow", ftpserver.HASHAlgoSHA256, 0, 1<<30)
		done <- err
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := make([]byte, 64<<10)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if n := s.transfersInProgress(); n != 1 {
		t.Fatalf("%d transfers in progress during a HASH, want 1", n)
	}
	s.mu.Lock()
	s.ending = true // what end does first
	s.mu.Unlock()
	_, _ = w.Write(chunk) // wakes the read under way
	err, ok := ftptest.Receive(done, 5*time.Second)
	switch {
	case !ok:
		t.Fatal("the hash went on reading after the session was ended")
	case !errors.Is(err, errSessionClosed):
		t.Fatalf("hash of an ended session: %v, want errSessionClosed", err)
	}
	if n := s.transfersInProgress(); n != 0 {
		t.Fatalf("%d transfers in progress after the HASH, want 0", n)
	}
	if _, err := c.ComputeHash("/slow", ftpserver.HASHAlgoMD5, 0, 1); !errors.Is(err, errHashAlgorithm) {
		t.Fatalf("MD5: %v, want errHashAlgorithm", err)
	}
}
