package driver

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/metrics"
	"ftpsd/quota"
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
	st, err := newStorage(config.Storage{Backend: config.BackendOS, Root: root}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	home, err := st.open("")
	if err != nil {
		t.Fatal(err)
	}
	s := &session{metrics: metrics.New()}
	s.logPtr.Store(zap.NewNop())
	c := newClientFs(home, true, s, 0, newListings(1, func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }),
		newHomeQuota(&quota.Table{}, "/", home, func() quota.Limit { return quota.Limit{} }))
	defer c.home.close()

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
