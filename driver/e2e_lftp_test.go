package driver_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lftpScript is the lftp command list of the tests: TLS forced on control
// and data, self-signed certificate accepted, no retries, bounded waits,
// every failed command fatal, protocol trace on stderr.
func lftpScript(addr, user, pass string, cmds ...string) string {
	return strings.Join(append([]string{
		"set ssl:verify-certificate no",
		"set ftp:ssl-force true",
		"set ftp:ssl-protect-data true",
		"set ftp:passive-mode true",
		"set net:max-retries 1",
		"set net:timeout 10",
		"set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
		"debug 5",
		fmt.Sprintf("open -u %s,%s ftp://%s", user, pass, addr),
	}, cmds...), "; ")
}

func TestE2ELftp(t *testing.T) {
	lftp := needTool(t, "lftp", "lftp")
	ts := startServer(t, nil)
	writeFile(t, ts.AliceDir(), "before.txt", []byte("already there"))
	work := t.TempDir()
	data := randomData(t, 1<<20+5)
	local := writeFile(t, work, "local.bin", data)
	local2 := filepath.Join(work, "local2.bin")

	stdout, trace := runTool(t, work, lftp, "-c", lftpScript(ts.Addr, userName, userPass,
		"put "+local+" -o remote.bin",
		"get remote.bin -o "+local2,
		"cls -1"))

	assertDiskFile(t, filepath.Join(ts.AliceDir(), "remote.bin"), data)
	assertDiskFile(t, local2, data)
	names := strings.Split(strings.TrimSpace(stdout), "\n")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if !slices.Contains(names, "remote.bin") || !slices.Contains(names, "before.txt") {
		t.Fatalf("cls -1: got %q, want remote.bin and before.txt\ntrace:\n%s", names, trace)
	}
	for _, want := range []string{"AUTH TLS", "PROT P", "STOR remote.bin", "RETR remote.bin"} {
		if !strings.Contains(trace, "---> "+want) {
			t.Fatalf("lftp trace lacks %q:\n%s", want, trace)
		}
	}
	if left := uploadTemps(t, ts.AliceDir()); len(left) != 0 {
		t.Fatalf("partial uploads left: %v", left)
	}
}

// TestE2ELftpReadOnly checks that lftp's upload as the read-only user
// fails and leaves the disk alone, while its download works.
func TestE2ELftpReadOnly(t *testing.T) {
	lftp := needTool(t, "lftp", "lftp")
	ts := startServer(t, nil)
	shared := randomData(t, 64*1024)
	writeFile(t, ts.ReaderDir(), "shared.bin", shared)
	work := t.TempDir()
	local := writeFile(t, work, "local.bin", []byte("must not arrive"))
	got := filepath.Join(work, "got.bin")

	runTool(t, work, lftp, "-c", lftpScript(ts.Addr, readerName, readerPass, "get shared.bin -o "+got))
	assertDiskFile(t, got, shared)

	_, stderr, err := runToolErr(t, work, lftp, "-c", lftpScript(ts.Addr, readerName, readerPass, "put "+local+" -o new.bin"))
	if err == nil {
		t.Fatalf("lftp put as the read-only user succeeded:\n%s", stderr)
	}
	if !strings.Contains(stderr, "<--- 550") || !strings.Contains(stderr, "read-only") {
		t.Fatalf("lftp put as the read-only user: no 550 reply in the trace:\n%s", stderr)
	}
	entries, err := filepath.Glob(filepath.Join(ts.ReaderDir(), "*"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("read-only home changed: %v %v", entries, err)
	}
}
