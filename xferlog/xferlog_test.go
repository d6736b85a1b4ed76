package xferlog

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestAppendLine: the fields of vsftpd's line, in its order and words.
func TestAppendLine(t *testing.T) {
	end := time.Date(2026, time.December, 7, 15, 0, 0, 0, time.Local)
	r := Record{End: end, Duration: 300 * time.Millisecond, Remote: netip.MustParseAddr("127.0.0.1"),
		Bytes: 1024, Path: "/home/u/f", Upload: true, User: "u", Complete: true}
	if got, want := string(AppendLine(nil, r)), "Mon Dec  7 15:00:00 2026 1 127.0.0.1 1024 /home/u/f b _ i r u ftp 0 * c\n"; got != want {
		t.Fatalf("line\n%q, want\n%q", got, want)
	}
	r = Record{End: end.AddDate(0, 0, 10), Duration: 2600 * time.Millisecond, Remote: netip.MustParseAddr("2001:db8::1"),
		Bytes: 0, Path: "/in box/a\tb\u00e9", User: "", Complete: false}
	if got, want := string(AppendLine(nil, r)), "Thu Dec 17 15:00:00 2026 3 2001:db8::1 0 /in_box/a?b\u00e9 b _ o r _ ftp 0 * i\n"; got != want {
		t.Fatalf("line\n%q, want\n%q", got, want)
	}
}

// TestFileReopen: Prepare of the same path after a rename writes to a new
// file; the empty path turns the log off.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "xferlog")
	l := New(zap.NewNop())
	mustCommit(t, l, path)
	l.Write(Record{Path: "/one", Complete: true})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Write(Record{Path: "/two", Complete: true})
	mustCommit(t, l, path)
	l.Write(Record{Path: "/three", Complete: true})
	mustCommit(t, l, "")
	l.Write(Record{Path: "/four", Complete: true})
	if got := read(t, path+".1"); !strings.Contains(got, " /one ") || !strings.Contains(got, " /two ") || strings.Count(got, "\n") != 2 {
		t.Fatalf("rotated file:\n%s", got)
	}
	if got := read(t, path); !strings.Contains(got, " /three ") || strings.Count(got, "\n") != 1 {
		t.Fatalf("new file:\n%s", got)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm()&^Mode != 0 {
		t.Fatalf("new file's mode: %v (%v), want at most %v", info.Mode(), err, os.FileMode(Mode))
	}
	if _, err := l.Prepare(filepath.Join(dir, "missing", "xferlog")); err == nil {
		t.Fatal("Prepare in a missing directory succeeded")
	}
}

// TestFileFailureLoggedOnce: writes that fail (a full disk) are logged
// once, and once more after a write succeeded again.
func TestFileFailureLoggedOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	core, logs := observer.New(zap.InfoLevel)
	l := New(zap.New(core))
	mustCommit(t, l, "/dev/full")
	for range 5 {
		l.Write(Record{Path: "/f"})
	}
	if n := logs.FilterMessageSnippet("xferlog write failed").Len(); n != 1 {
		t.Fatalf("%d failure lines for 5 failed writes, want 1", n)
	}
	mustCommit(t, l, filepath.Join(t.TempDir(), "xferlog"))
	l.Write(Record{Path: "/f"})
	mustCommit(t, l, "/dev/full")
	l.Write(Record{Path: "/f"})
	if n := logs.FilterMessageSnippet("xferlog write failed").Len(); n != 2 {
		t.Fatalf("%d failure lines, want 2 (one per failing file)", n)
	}
}

// TestFileConcurrentLines: lines of concurrent transfers never interleave.
func TestFileConcurrentLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xferlog")
	l := New(zap.NewNop())
	mustCommit(t, l, path)
	long := "/" + strings.Repeat("x", 8000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				l.Write(Record{Path: long, Complete: true})
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := string(AppendLine(nil, Record{Path: long, Complete: true}))
	want = want[strings.Index(want, " /"):]
	got := read(t, path)
	if n := strings.Count(got, want); n != 400 {
		t.Fatalf("%d whole lines, want 400", n)
	}
}

func mustCommit(t *testing.T, l *File, path string) {
	t.Helper()
	commit, err := l.Prepare(path)
	if err != nil {
		t.Fatal(err)
	}
	commit()
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
