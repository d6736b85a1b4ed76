// Package testenv holds what ftpsd's tests share about their environment:
// the two test tiers, finding the external programs they drive, and
// buffers that a child process writes while a test reads.
//
// The fast tier (go test -short) runs the unit tests and the tests that
// drive ftpsd with Go clients in the test process; it needs no root, no
// external program and no MinIO. The full tier (go test, as CI runs it)
// runs everything. A test that needs more than the fast tier offers says
// so with FullTier before it starts anything; NeedTool, NeedFile and
// MinIO's test server do it for the test.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// FullTier skips the test under -short, naming what it needs that the
// fast tier leaves out (an external program, MinIO, root, minutes of
// load...). Without -short it does nothing.
func FullTier(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("full tier only (needs %s): run without -short", needs)
	}
}

// NeedTool returns the path of an external program. Under -short the test
// is skipped (external programs are in the full tier only). When the
// program is missing the test is skipped with a message naming the Debian
// package to install, except under CI=true, where a missing program fails
// the test.
func NeedTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	FullTier(t, name)
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found under CI=true: install the Debian package %s", name, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", name, debianPackage)
	return ""
}

// SyncBuffer is a bytes.Buffer safe for a writer and readers in other
// goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NeedFile returns path when it exists. Under -short the test is skipped,
// as by NeedTool. When path is missing the test is skipped with a message
// naming the Debian package that installs it, except under CI=true, where
// it fails, as NeedTool does for programs.
func NeedFile(t testing.TB, path, debianPackage string) string {
	t.Helper()
	FullTier(t, path)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found under CI=true: install the Debian package %s", path, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", path, debianPackage)
	return ""
}

// Unavailable skips the test because the machine lacks what it needs
// (said by format and args), except under CI=true, where it fails it: CI
// must provide everything the tests need.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("under CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
