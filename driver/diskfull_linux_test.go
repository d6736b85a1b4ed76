package driver_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size (mount's size= syntax, e.g. "2m") on
// dir, creating dir, and unmounts it when the test ends. It needs root:
// without it the test is skipped locally and fails under CI=true.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "mounting a tmpfs needs root (euid %d)", os.Geteuid())
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0750"); err != nil {
		testenv.Unavailable(t, "mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds it (a session the server did not end):
			// detach it so that the test's directory can go.
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
}

// TestE2EDiskFull fills the user's home (a 2 MiB tmpfs) with an upload:
// the reply is 452 (RFC 959's "insufficient storage space"), not a 426
// that clients retry as a network failure; the file of that name keeps
// its content, no partial upload is left and the space it took is free
// again, and the log line keeps the system's error.
func TestE2EDiskFull(t *testing.T) {
	testenv.FullTier(t, "root, to mount a tmpfs and fill it")
	ts := startServer(t, func(cfg *config.Config) {
		mountTmpfs(t, filepath.Join(cfg.Storage.Root, aliceHomeDir), "2m")
	})
	old := ftptest.RandomData(t, 1<<20)
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)

	x := c.Open("STOR keep.bin")
	sent := make(chan error, 1)
	go func() {
		// More than the tmpfs holds; the server stops reading when it is
		// full, and the write then fails.
		_, err := x.Conn.Write(ftptest.RandomData(t, 4<<20))
		if err == nil {
			err = x.Conn.Close()
		}
		sent <- err
	}()
	r := c.Reply()
	_ = x.Raw.Close()
	<-sent
	t.Logf("reply to a STOR that fills the disk: %v", r)
	if want := "452 /keep.bin: No space left on device"; r.String() != want {
		t.Errorf("STOR onto a full disk: %q, want %q", r, want)
	}
	mustBeShort(t, "STOR onto a full disk", r, ts.Root)
	ftptest.MustSameFile(t, keep, old)
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	lines := logsWith(ts.Logs, "transfer", failedUpload("/keep.bin"))
	if len(lines) != 1 {
		t.Fatalf("%d log lines of the failed upload, want 1", len(lines))
	}
	if e, _ := lines[0].ContextMap()["error"].(string); !strings.Contains(e, "no space left on device") || lines[0].Level != zap.WarnLevel {
		t.Errorf("the log line of the failed upload: %s %q, want a warning with the system's error", lines[0].Level, e)
	}

	// The space of the partial upload is free again: an upload that fits
	// in what is left succeeds on the same session.
	small := ftptest.RandomData(t, 512<<10)
	c.Stor("small.bin", small)
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "small.bin"), small)
	ftptest.MustSameFile(t, keep, old)
	c.Quit()
}
