package driver_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The cost of a session: BenchmarkSessionSetup measures what one login
// costs, BenchmarkIdleSessions what an idle session holds.

// Environment of BenchmarkIdleSessions and of its client process.
const (
	idleSessionsEnv    = "FTPSD_IDLE_SESSIONS"    // sessions to open; 100 by default
	idleAddrEnv        = "FTPSD_IDLE_ADDR"        // set in the client process: the server's address
	idleHeapProfileEnv = "FTPSD_IDLE_HEAPPROFILE" // a file for the heap profile taken with the sessions open
)

// BenchmarkSessionSetup: connect, AUTH TLS, login, PBSZ 0 and PROT P (as
// FTPS clients do), QUIT, one session after the other. The client runs in
// this process: allocs/op and B/op count both sides.
func BenchmarkSessionSetup(b *testing.B) {
	ts := startQuietServer(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		loginQuit(b, ts.Addr, userName, userPass)
	}
}

// loginQuit logs user in at addr (AUTH TLS, USER, PASS, PBSZ, PROT) and
// quits, failing b on any error.
func loginQuit(b *testing.B, addr, user, pass string) {
	b.Helper()
	c, err := ftptest.Dialer{}.Login(addr, user, pass)
	if err != nil {
		b.Fatal(err)
	}
	err = c.Quit()
	_ = c.Close()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIdleSessions opens FTPSD_IDLE_SESSIONS logged-in TLS sessions
// (PROT P, nothing else) from a client process, so that only the server's
// side is in this process, and reports what each holds: Go heap in use,
// goroutine stacks, resident memory (rss; rss-freed once the runtime gave
// back to the system what it had freed, the logins' garbage included),
// goroutines and descriptors, as deltas from before the sessions divided
// by their number. For 10000 sessions run it with
// -benchtime=1x under `ulimit -n 20000`.
func BenchmarkIdleSessions(b *testing.B) {
	n := 100
	if v := os.Getenv(idleSessionsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("%s=%q: want a number of sessions", idleSessionsEnv, v)
		}
	}
	raiseFDLimit(b, uint64(n+1024)) // one descriptor a session, and room
	ts := startQuietServer(b, func(c *config.Config) { c.Server.MaxConnections = 0 })
	for b.Loop() {
		before := sample(b)
		stop := idleClients(b, ts.Addr, n)
		after := sample(b)
		writeHeapProfile(b)
		debug.FreeOSMemory()
		released := residentBytes(b)
		stop()
		per := func(x, y uint64) float64 { return (float64(y) - float64(x)) / float64(n) }
		b.ReportMetric(per(before.heap, after.heap), "heap-B/session")
		b.ReportMetric(per(before.stack, after.stack), "stack-B/session")
		b.ReportMetric(per(before.rss, after.rss), "rss-B/session")
		b.ReportMetric(per(before.rss, released), "rss-freed-B/session")
		b.ReportMetric(per(before.goroutines, after.goroutines), "goroutines/session")
		b.ReportMetric(per(before.fds, after.fds), "fds/session")
	}
}

// TestIdleSessionHeap: a logged-in TLS session that waits for its next
// command holds at most idleHeapBound of Go heap. The sessions' client is
// another process, as in BenchmarkIdleSessions. Measured: 12.9 KiB at
// 10,000 sessions; 24.2 KiB while the lib kept a 4 KiB bufio.Reader and
// a 4 KiB bufio.Writer for every session.
func TestIdleSessionHeap(t *testing.T) {
	const n, idleHeapBound = 300, 16 << 10
	raiseFDLimit(t, uint64(n+1024))
	ts := startQuietServer(t, func(c *config.Config) { c.Server.MaxConnections = 0 })
	before := sample(t)
	stop := idleClients(t, ts.Addr, n)
	defer stop()
	after := sample(t)
	per := (float64(after.heap) - float64(before.heap)) / n
	t.Logf("%.0f B of heap per idle session (%d sessions)", per, n)
	if per > idleHeapBound {
		t.Errorf("an idle session holds %.0f B of heap, more than %d", per, idleHeapBound)
	}
}

// writeHeapProfile writes the heap's live objects, the sessions open, to
// the file FTPSD_IDLE_HEAPPROFILE names, when it is set (read it with
// go tool pprof -sample_index=inuse_space).
func writeHeapProfile(b testing.TB) {
	name := os.Getenv(idleHeapProfileEnv)
	if name == "" {
		return
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// usage is what the process holds at one time.
type usage struct{ heap, stack, rss, goroutines, fds uint64 }

// sample returns the process's usage after two garbage collections, as
// in a process left idle for a few minutes (the runtime collects at least
// every two minutes): the second frees what pools kept through the first
// and shrinks goroutine stacks once more.
func sample(b testing.TB) usage {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{heap: ms.HeapInuse, stack: ms.StackInuse, rss: residentBytes(b),
		goroutines: uint64(runtime.NumGoroutine()), fds: uint64(openFDs(b))}
}

// residentBytes returns the process's resident set size (VmRSS).
func residentBytes(b testing.TB) uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		testenv.Unavailable(b, "cannot read the resident size: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS: %q: %v", line, err)
			}
			return v << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// idleClients starts the client process (this test binary running
// BenchmarkIdleClientsProcess once) with n sessions at addr, waits until they are logged
// in, and returns what closes them and waits for the process to end.
func idleClients(b testing.TB, addr string, n int) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkIdleClientsProcess$", "-test.benchtime=1x", "-test.count=1")
	cmd.Env = append(os.Environ(), idleAddrEnv+"="+addr, idleSessionsEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		_ = in.Close()
		_, _ = io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil {
			b.Errorf("client process: %v", err)
		}
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if lines.Text() == "ready" {
			return stop
		}
		b.Log("client process: ", lines.Text())
	}
	stop()
	b.Fatal("the client process ended before its sessions were logged in")
	return nil
}

// BenchmarkIdleClientsProcess is BenchmarkIdleSessions's client process
// (a benchmark, so that `go test` never runs it): it logs in the
// sessions, says "ready" on its standard output and holds them until its
// standard input closes. Without FTPSD_IDLE_ADDR it measures nothing.
func BenchmarkIdleClientsProcess(b *testing.B) {
	addr := os.Getenv(idleAddrEnv)
	if addr == "" {
		b.Skip("the client process of BenchmarkIdleSessions, started by it")
	}
	n, err := strconv.Atoi(os.Getenv(idleSessionsEnv))
	if err != nil {
		b.Fatal(err)
	}
	raiseFDLimit(b, uint64(n+1024))
	start := time.Now()
	loginMany(b, addr, userName, userPass, n)
	b.Logf("%d sessions logged in in %v", n, time.Since(start))
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
