package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// unitForTest copies systemd/ftpsd.service with ExecStart pointing at the
// test binary (verify insists that the binary exists).
func unitForTest(t *testing.T) string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join("..", "..", "systemd", "ftpsd.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/ftpsd", ftpsdBin)
	return writeText(t, t.TempDir(), "ftpsd.service", text)
}

func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.NeedTool(t, "systemd-analyze", "systemd")
	out, err := exec.Command(analyze, "verify", unitForTest(t)).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSystemdUnitExposure(t *testing.T) {
	analyze := testenv.NeedTool(t, "systemd-analyze", "systemd")
	out, err := exec.Command(analyze, "security", "--offline=true", unitForTest(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for ftpsd\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security exposure: %.1f", score)
	if score > 2.0 {
		t.Fatalf("exposure %.1f, want 2.0 or lower:\n%s", score, out)
	}
}

// TestSdNotify runs ftpsd as systemd would for Type=notify with a
// watchdog: a datagram socket in NOTIFY_SOCKET receives READY=1, WATCHDOG=1
// and, after SIGTERM, STOPPING=1.
func TestSdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 32)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o750); err != nil {
		t.Fatal(err)
	}
	path := writeText(t, dir, "ftpsd.toml", `[server]
listen = "127.0.0.1:0"
[passive]
ports = "`+ftptest.PortRange(t, 5).String()+`"
[storage]
root = "`+root+`"
`)
	s := startFtpsdEnv(t, dir, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}, "-config", path)
	expectNotify(t, msgs, "READY=1")
	expectNotify(t, msgs, "WATCHDOG=1")
	s.terminate(t)
	expectNotify(t, msgs, "STOPPING=1")
}

// expectNotify waits for a datagram holding want, skipping others.
func expectNotify(t *testing.T, msgs <-chan string, want string) {
	t.Helper()
	deadline := time.After(startTimeout)
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on NOTIFY_SOCKET within %v", want, startTimeout)
		}
	}
}
