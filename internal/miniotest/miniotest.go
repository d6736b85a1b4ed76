// Package miniotest runs a real MinIO server on loopback for ftpsd's tests
// of the "s3" storage backend.
//
//	m := miniotest.New(t)          // started, with an empty bucket m.Bucket
//	cfg.Storage.Endpoint = ...     // m.Endpoint, m.CredentialsFile(t)
//	m.Stop()                       // the store is down
//	m.Start()                      // up again: same port, same data
//	m.Freeze(); m.Thaw()           // hung (SIGSTOP) and back
//
// The binary is $FTPSD_MINIO or ~/.cache/ftpsd-minio/minio; without it the
// test is skipped, and fails under CI=true (testenv.Unavailable). The
// server is stopped when the test ends. A Server is for the test's goroutine.
package miniotest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Credentials of every test server, and its bucket.
const (
	AccessKey = "ftpsd-test"
	SecretKey = "ftpsd-test-secret"
	Bucket    = "ftpsd"
)

// readyTimeout bounds MinIO's start.
const readyTimeout = 60 * time.Second

// Server is one MinIO server with its data in a temporary directory.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Host is its host:port.
	Host string

	t       testing.TB
	bin     string
	dir     string
	console int
	cmd     *exec.Cmd
	exited  chan struct{}
	output  *testenv.SyncBuffer
}

// New starts a MinIO server, waits until it is ready, creates Bucket and
// stops the server when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	port := ftptest.FreePort(t)
	s := &Server{
		Host: "127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: t.TempDir(),
		console: ftptest.FreePort(t), t: t, output: &testenv.SyncBuffer{},
	}
	s.Endpoint = "http://" + s.Host
	t.Cleanup(s.Stop)
	s.Start()
	if err := s.Client().MakeBucket(context.Background(), Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("minio: make bucket %s: %v", Bucket, err)
	}
	return s
}

// binary returns the MinIO program's path, or skips the test (always
// under -short: MinIO is in the full tier only).
func binary(t testing.TB) string {
	t.Helper()
	testenv.FullTier(t, "MinIO")
	bin := os.Getenv("FTPSD_MINIO")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "ftpsd-minio", "minio")
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "no MinIO server at %s (set FTPSD_MINIO, or run "+
			"GOBIN=$HOME/.cache/ftpsd-minio go install github.com/minio/minio@latest)", bin)
	}
	return bin
}

// Start starts the server (again, after Stop) on its port and data
// directory and waits until it answers its health check and requests.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("minio: Start while running")
	}
	cmd := exec.Command(s.bin, "server", s.dir,
		"--address", s.Host, "--console-address", "127.0.0.1:"+strconv.Itoa(s.console), "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = s.output, s.output
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("minio: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	ready := ftptest.Eventually(readyTimeout, func() bool {
		select {
		case <-s.exited:
			return true
		default:
		}
		return s.ready()
	})
	select {
	case <-s.exited:
		s.cmd = nil
		s.t.Fatalf("minio exited at start:\n%s", s.output.String())
	default:
	}
	if !ready {
		s.t.Fatalf("minio not ready within %s:\n%s", readyTimeout, s.output.String())
	}
}

// ready reports whether the server answers its liveness check and then a
// request (MinIO answers 503 for a moment after it is live).
func (s *Server) ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(s.Endpoint + "/minio/health/live")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = s.Client().BucketExists(ctx, Bucket)
	return err == nil
}

// Stop kills the server (frozen or not) and waits until it is gone; its
// data stays for Start. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Freeze stops the server's process (SIGSTOP): connections open, no
// answers, as a hung store. Thaw lets it go on.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("minio: %v while stopped", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("minio: %v: %v", sig, err)
	}
}

// Client returns a minio-go client of the server with its root
// credentials, to look at and prepare objects directly.
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	c, err := minio.New(s.Host, &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// CredentialsFile writes the server's credentials as an AWS
// shared-credentials file (profile "default") and returns its path.
func (s *Server) CredentialsFile() string {
	s.t.Helper()
	p := filepath.Join(s.t.TempDir(), "credentials")
	text := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", AccessKey, SecretKey)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}
