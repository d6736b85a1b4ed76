package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// listingMemory is the most memory one listing in progress may hold in the
// process: measured in-process (driver's TestE2EListingsMemoryBounded), a
// stalled STAT holds about 150 KiB (one batch of 256 entries, its
// goroutine, the lines in flight) and a stalled LIST about 420 KiB (its data
// connection's TLS record buffer included); rounded up.
const listingMemory = 512 << 10

// TestListingsMemoryBounded: 20 sessions send STAT of a 200,000-entry
// directory and 20 LIST it over a data connection, and none reads. The
// listings stall in their first megabytes; the ftpsd process (built
// without the race detector) must hold at most listingMemory per listing
// above what it held logged in and idle, plus 16 MiB for the runtime. When
// every listing was built whole before its first line, the peak was
// 1.3 GiB (about 33 MiB per listing). It takes 30 to 60 s; -short skips it.
func TestListingsMemoryBounded(t *testing.T) {
	testenv.FullTier(t, "40 listings of 200,000 entries")
	const entries, perKind = 200_000, 20
	f := newFixture(t, perKind+4)
	root := ftptest.MemoryDir(t) // fast to fill and to empty
	// Places for all 40 listings from one address (which may hold half).
	f.write(strings.Replace(f.config(fmt.Sprintf("max_concurrent_listings = %d", 4*perKind), "", "alice"),
		fmt.Sprintf("root = %q", f.root), fmt.Sprintf("root = %q", root), 1))
	makeDirs(t, filepath.Join(root, "alice", "big"), entries)
	s := startServerCmd(t, exec.Command(plainBinary(t), "-config", f.path), f.dir)
	addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
	pid := s.cmd.Process.Pid

	clients := make([]*ftptest.MustClient, 2*perKind)
	for i := range clients {
		clients[i] = ftptest.Dialer{Timeout: 2 * time.Minute}.MustLogin(t, addr, "alice", password("alice"))
	}
	idle := procMemory(t, pid, "VmRSS")
	for _, c := range clients[:perKind] {
		c.Open("LIST big") // 150; the data connection is never read
	}
	for _, c := range clients[perKind:] {
		c.Send("STAT big") // the reply is never read
	}
	if !waitQuiet(t, pid, 40*time.Second) {
		t.Log("ftpsd still busy 40 s after the listings started; its peak so far counts")
	}
	peak := peakRSS(t, pid)
	bound := idle + 2*perKind*listingMemory + 16<<20
	t.Logf("%d listings of %d entries, none read: ftpsd's RSS %.1f MiB logged in and idle, peak %.1f MiB (bound %.1f MiB)",
		2*perKind, entries, float64(idle)/(1<<20), float64(peak)/(1<<20), float64(bound)/(1<<20))
	if refused := s.logs("listing refused: too many listings in progress"); len(refused) != 0 {
		t.Fatalf("%d listings were refused; every one must be in progress", len(refused))
	}
	if peak > bound {
		t.Errorf("ftpsd's peak RSS %d MiB with %d stalled listings, want at most %d MiB (%d MiB idle + %d KiB per listing + 16 MiB)",
			peak>>20, 2*perKind, bound>>20, idle>>20, listingMemory>>10)
	}
	for _, c := range clients {
		_ = c.Close()
	}
}

// makeDirs creates dir holding n empty directories (one system call each,
// the fastest entries to make), named with 40 more characters than they
// need so that a listing outgrows the sockets' buffers.
func makeDirs(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 40)
	for i := range n {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("entry-%06d-%s", i, pad)), 0o750); err != nil {
			t.Fatal(err)
		}
	}
}

// waitQuiet waits until process pid has used no CPU for a second (its
// work stalled on the clients), at most timeout; false if it did not.
func waitQuiet(t *testing.T, pid int, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := cpuTicks(t, pid)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		now := cpuTicks(t, pid)
		if now-last <= 2 {
			return true
		}
		last = now
	}
	return false
}

// cpuTicks returns the CPU time process pid used (user and system), in
// clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is the
	// 3rd field of the line, utime the 14th, stime the 15th.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var sum int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %q", pid, stat)
		}
		sum += n
	}
	return sum
}
