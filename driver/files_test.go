package driver_test

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
)

// TestE2ERemoveCommandsKeepToTheirKind: RMD removes directories only and
// DELE files only; the other kind is refused with 550 and stays.
func TestE2ERemoveCommandsKeepToTheirKind(t *testing.T) {
	ts, content := serveFile(t, nil, "f.txt", 100)
	dir := filepath.Join(ts.AliceDir(), "empty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if r := c.Cmd("RMD f.txt"); r.Code != 550 {
		t.Errorf("RMD of a file: %v, want 550", r)
	}
	if r := c.Cmd("DELE empty"); r.Code != 550 {
		t.Errorf("DELE of a directory: %v, want 550", r)
	}
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "f.txt"), content)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("the directory did not survive DELE: %v", err)
	}
	c.Do(250, "DELE f.txt")
	c.Do(250, "RMD empty")
	if got := ftptest.DirNames(t, ts.AliceDir()); len(got) != 0 {
		t.Fatalf("left after DELE and RMD: %v", got)
	}
	c.Quit()
}

// TestE2EStatDirectory: STAT of a directory lists one entry a line, each
// as LIST does, without the lib's stray "%s".
func TestE2EStatDirectory(t *testing.T) {
	ts, _ := serveFile(t, nil, "f.txt", 100)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	r := c.Do(212, "STAT /")
	lines := strings.Split(r.Msg, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], " -rw-r--r-- 1 ftp ftp ") || !strings.HasSuffix(lines[1], " f.txt") {
		t.Fatalf("STAT /: %q, want one line for f.txt starting \" -rw-r--r--\"", r.Msg)
	}
	c.Quit()
}

// TestE2ERepliesShowNoHostPaths makes the filesystem fail in every command
// that touches it: no reply may show where the home is on the host, and
// the failures name the user's own path.
func TestE2ERepliesShowNoHostPaths(t *testing.T) {
	ts, _ := serveFile(t, nil, "keep.bin", 1000)
	if err := os.Mkdir(filepath.Join(ts.AliceDir(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(ts.AliceDir(), "out")); err != nil {
		t.Fatal(err)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	var replies []ftptest.Reply
	// transfer sends command over a fresh data connection and collects
	// every reply up to the final one.
	transfer := func(command string) {
		data := c.DialData(c.EPSV())
		defer data.Close()
		r := c.Cmd("%s", command)
		replies = append(replies, r)
		if r.Code != 150 {
			return
		}
		x, err := c.Attach(data, command)
		if err == nil {
			_, _ = x.Receive()
			_ = x.Raw.Close()
		}
		replies = append(replies, c.Reply())
	}
	transfer("RETR sub")
	transfer("RETR .")
	transfer("RETR out/x")
	c.Do(350, "REST 5")
	transfer("RETR sub")
	c.Do(350, "REST -1")
	transfer("RETR keep.bin")
	transfer("STOR missing/x.bin")
	transfer("LIST missing")
	transfer("MLSD out")
	for _, cmd := range []string{"SIZE missing", "MDTM missing", "CWD missing", "CWD out", "MKD sub",
		"RMD missing", "DELE missing", "STAT missing", "RNFR missing", "MLST out/x", "RMD sub/missing/deeper"} {
		replies = append(replies, c.Cmd("%s", cmd))
	}
	c.Do(350, "RNFR keep.bin")
	replies = append(replies, c.Cmd("RNTO missing/keep.bin"))
	for _, r := range replies {
		t.Logf("%v", r)
		if strings.Contains(r.Msg, ts.Root) || strings.Contains(r.Msg, filepath.Dir(ts.Root)) {
			t.Errorf("reply shows the host path %s: %v", ts.Root, r)
		}
		if r.Code >= 400 && strings.Contains(r.Msg, " missing") && !strings.Contains(r.Msg, "/missing") {
			t.Errorf("reply does not name the user's path: %v", r)
		}
	}
	c.Quit()
}

// makeEntries creates n empty files in a new directory dir/name.
func makeEntries(t *testing.T, dir, name string, n int) {
	t.Helper()
	big := filepath.Join(dir, name)
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f, err := os.Create(filepath.Join(big, "entry-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
}

// heapPeak samples the heap in use until stop is called, which returns
// the peak growth over the heap in use when heapPeak was called. The
// collector runs at 10% growth meanwhile, so that the heap in use follows
// the live heap.
func heapPeak(t *testing.T) (stop func() uint64) {
	t.Helper()
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}
