package driver_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"ftpsd/internal/ftptest"
)

// A file that changes while it is downloaded: the download either fails
// (a 4xx or 5xx final reply), or ends with 226 and the bytes of one
// version of the file, whole; the server serves the next download. The
// client reads the first part, the file changes, the client reads the
// rest: the server has by then read well past the point of the change
// (the socket buffers hold megabytes).

// changeSize is the file's size: far more than the socket buffers hold,
// so that the server is still reading the file when it changes.
const changeSize = 24 << 20

// downloadWhileChanging downloads name after changing it with change once
// the client has read head bytes; it returns what the client got and the
// final reply's code.
func downloadWhileChanging(t *testing.T, ts *testServer, name string, head int, change func()) ([]byte, int) {
	t.Helper()
	a := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	defer a.Quit()
	data := a.DialData(a.PASV())
	a.Do(150, "RETR %s", name)
	x, err := a.Client.Attach(data, "RETR")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Raw.Close()
	got := make([]byte, head)
	if _, err := io.ReadFull(x.Conn, got); err != nil {
		t.Fatalf("first %d bytes: %v", head, err)
	}
	change()
	rest, _ := io.ReadAll(x.Conn) // a failed transfer may end in a reset
	got = append(got, rest...)
	_ = x.Conn.Close()
	r, err := a.Client.Reply()
	if err != nil {
		t.Fatalf("final reply: %v", err)
	}
	return got, r.Code
}

// mustBeOneVersion fails unless the download ended in 226 with one of
// versions whole, or failed with a prefix of the version it started with.
func mustBeOneVersion(t *testing.T, got []byte, code int, versions ...[]byte) {
	t.Helper()
	if code == 226 {
		for _, v := range versions {
			if bytes.Equal(got, v) {
				return
			}
		}
		t.Fatalf("226 after %d bytes that are no version of the file (sizes %d)", len(got), sizes(versions))
	}
	if code < 400 {
		t.Fatalf("final reply %d, want 226 or a failure", code)
	}
	if !bytes.HasPrefix(versions[0], got) {
		t.Fatalf("failed download (%d) sent %d bytes that are not the start of the file", code, len(got))
	}
}

func sizes(versions [][]byte) []int {
	var n []int
	for _, v := range versions {
		n = append(n, len(v))
	}
	return n
}

// mustStillServe downloads a small file whole.
func mustStillServe(t *testing.T, ts *testServer) {
	t.Helper()
	small := ftptest.RandomData(t, 1000)
	ftptest.WriteFile(t, ts.AliceDir(), "after.bin", small)
	got := ftptest.MustLogin(t, ts.Addr, userName, userPass).Retr("after.bin")
	ftptest.MustSameData(t, "download after the change", got, small)
}

// TestDownloadOfTruncatedFile: the file is cut to 1 MiB while the client
// has read 2 MiB of it.
func TestDownloadOfTruncatedFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	orig := ftptest.RandomData(t, changeSize)
	p := ftptest.WriteFile(t, ts.AliceDir(), "f.bin", orig)
	got, code := downloadWhileChanging(t, ts, "f.bin", 2<<20, func() {
		if err := os.Truncate(p, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	mustBeOneVersion(t, got, code, orig, orig[:1<<20])
	if code != 451 { // the server had read past 1 MiB: the file ended early
		t.Fatalf("final reply %d, want 451", code)
	}
	mustStillServe(t, ts)
}

// TestDownloadOfReplacedFile: another file is renamed over it.
func TestDownloadOfReplacedFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	orig := ftptest.RandomData(t, changeSize)
	p := ftptest.WriteFile(t, ts.AliceDir(), "f.bin", orig)
	other := ftptest.RandomData(t, 3<<20)
	q := ftptest.WriteFile(t, ts.AliceDir(), "other.bin", other)
	got, code := downloadWhileChanging(t, ts, "f.bin", 2<<20, func() {
		if err := os.Rename(q, p); err != nil {
			t.Fatal(err)
		}
	})
	mustBeOneVersion(t, got, code, orig, other)
	mustStillServe(t, ts)
}

// TestDownloadOfDeletedFile: the file is removed.
func TestDownloadOfDeletedFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	orig := ftptest.RandomData(t, changeSize)
	p := ftptest.WriteFile(t, ts.AliceDir(), "f.bin", orig)
	got, code := downloadWhileChanging(t, ts, "f.bin", 2<<20, func() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	})
	mustBeOneVersion(t, got, code, orig)
	mustStillServe(t, ts)
}

// TestDownloadOfRewrittenFile: the file is truncated to nothing and
// written anew in place, smaller.
func TestDownloadOfRewrittenFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	orig := ftptest.RandomData(t, changeSize)
	p := ftptest.WriteFile(t, ts.AliceDir(), "f.bin", orig)
	other := ftptest.RandomData(t, 3<<20)
	got, code := downloadWhileChanging(t, ts, "f.bin", 4<<20, func() {
		if err := os.WriteFile(p, other, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	mustBeOneVersion(t, got, code, orig, other)
	mustStillServe(t, ts)
}

// TestDownloadOfAppendedFile: 1 MiB is appended to the file during the
// download.
func TestDownloadOfAppendedFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	orig := ftptest.RandomData(t, changeSize)
	p := ftptest.WriteFile(t, ts.AliceDir(), "f.bin", orig)
	more := ftptest.RandomData(t, 1<<20)
	got, code := downloadWhileChanging(t, ts, "f.bin", 2<<20, func() {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(more); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	})
	mustBeOneVersion(t, got, code, orig, append(append([]byte{}, orig...), more...))
	mustStillServe(t, ts)
}
