package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/testenv"
)

// s3Config is goodConfig on backend "s3" in m's bucket, with storage
// keys (TOML lines) added.
func s3Config(t *testing.T, m *miniotest.Server, storage string) string {
	t.Helper()
	text := goodConfig(ftptest.HashPassword(t, "alice-secret"), "self_signed = true")
	return strings.Replace(text, `backend = "memory"`, fmt.Sprintf(`backend = "s3"
endpoint = %q
bucket = %q
path_style = true
%s`, m.Endpoint, miniotest.Bucket, storage), 1)
}

// TestCheckS3 checks the bucket with the configured credentials, warns
// about credentials written in the file, and shows no secret key.
func TestCheckS3(t *testing.T) {
	m := miniotest.New(t)
	inline := fmt.Sprintf("access_key = %q\nsecret_key = %q\n", miniotest.AccessKey, miniotest.SecretKey)
	r := runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, inline)))
	if r.code != exitOK {
		t.Fatalf("check: %v", r)
	}
	if !strings.Contains(r.stdout, "# WARNING: storage.access_key and storage.secret_key are written in") {
		t.Errorf("check does not warn about inline credentials:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, miniotest.SecretKey) {
		t.Errorf("check printed the secret key:\n%v", r)
	}

	file := fmt.Sprintf("credentials_file = %q\n", m.CredentialsFile())
	r = runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, file)))
	if r.code != exitOK || strings.Contains(r.stdout, "WARNING") {
		t.Fatalf("check with a credentials file: %v", r)
	}

	m.Stop()
	r = runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, file)))
	if r.code == exitOK || !strings.Contains(r.stderr, "storage.endpoint "+m.Endpoint) || !strings.Contains(r.stderr, "storage unavailable") {
		t.Fatalf("check with the store down: %v, want a failure naming storage.endpoint", r)
	}
}

// plainBinary returns an ftpsd binary built without the race detector,
// whose memory is the production one: the tests' own binary, or, when they
// run under the detector (which multiplies the memory a process holds),
// one built for the test.
func plainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return ftpsdBin
	}
	bin := filepath.Join(t.TempDir(), "ftpsd")
	ftptest.Cmd{Timeout: 5 * time.Minute}.MustRun(t, "go", "build", "-o", bin, ".")
	return bin
}

// peakRSS returns the peak resident memory of process pid (VmHWM), in
// bytes.
func peakRSS(t *testing.T, pid int) int64 { return procMemory(t, pid, "VmHWM") }

// procMemory returns the memory figure key (VmHWM, VmRSS) of process pid
// from /proc/PID/status, in bytes.
func procMemory(t *testing.T, pid int, key string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		testenv.Unavailable(t, "no /proc/%d/status: %v", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", key, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// TestS3UploadMemoryBounded sends 1 GiB through the ftpsd binary to MinIO
// and back: the process's peak resident memory must stay under 120 MiB,
// since an upload holds one part (storage.part_size, 8 MiB), two for a
// moment. The binary is built without the race detector. It takes 20 s to
// a minute; -short skips it.
func TestS3UploadMemoryBounded(t *testing.T) {
	testenv.FullTier(t, "MinIO, and 1 GiB through ftpsd")
	const size, limit = 1 << 30, 120 << 20
	m := miniotest.New(t)
	f := newFixture(t, 4)
	f.write(strings.Replace(f.config("", "", "alice"), fmt.Sprintf("[storage]\nbackend = \"os\"\nroot = %q\n", f.root), s3Storage(m), 1))
	s := startServerCmd(t, exec.Command(plainBinary(t), "-config", f.path), f.dir)
	addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
	// A data connection's deadline bounds the whole transfer: 1 GiB on a
	// loaded machine (all test packages at once) takes minutes.
	c := ftptest.Dialer{Timeout: 10 * time.Minute}.MustLogin(t, addr, "alice", password("alice"))

	start := time.Now()
	x := c.Open("STOR big.bin")
	sent := sha256.New()
	src := rand.NewChaCha8([32]byte{1}) // a stream of 1 GiB, never held
	if _, err := io.CopyN(io.MultiWriter(x.Conn, sent), src, size); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if r, err := x.Finish(); err != nil || r.Code != 226 {
		t.Fatalf("STOR: %v %v, want 226", r, err)
	}
	up := time.Since(start)

	start = time.Now()
	x = c.Open("RETR big.bin")
	got := sha256.New()
	if n, err := io.Copy(got, x.Conn); err != nil || n != size {
		t.Fatalf("RETR: %d bytes, %v", n, err)
	}
	if r, err := x.Finish(); err != nil || r.Code != 226 {
		t.Fatalf("RETR: %v %v, want 226", r, err)
	}
	down := time.Since(start)
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("RETR big.bin: the SHA-256 differs from what was sent")
	}
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("1 GiB: upload %s (%.0f MiB/s), download %s (%.0f MiB/s); ftpsd's peak RSS %.1f MiB",
		up.Round(time.Millisecond), 1024/up.Seconds(), down.Round(time.Millisecond), 1024/down.Seconds(), float64(peak)/(1<<20))
	if peak > limit {
		t.Fatalf("ftpsd's peak RSS %d MiB during 1 GiB through it, want under %d MiB", peak>>20, limit>>20)
	}
	c.Quit()
}

// s3Storage is the [storage] table of backend "s3" in m's bucket, with
// the credentials in a file and 8 MiB parts.
func s3Storage(m *miniotest.Server) string {
	return fmt.Sprintf("[storage]\nbackend = \"s3\"\nendpoint = %q\nbucket = %q\npath_style = true\ncredentials_file = %q\npart_size = \"8MiB\"\n",
		m.Endpoint, miniotest.Bucket, m.CredentialsFile())
}
