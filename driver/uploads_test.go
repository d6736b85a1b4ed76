package driver_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Uploads broken in every way a client can break them: the stored copy
// survives, no partial upload stays behind, no cut upload is stored.

// waitSessionsClosed waits until n sessions have logged "session closed".
func waitSessionsClosed(t *testing.T, ts *testServer, n int) {
	t.Helper()
	ftptest.MustEventually(t, 10*time.Second, fmt.Sprintf("%d closed sessions", n),
		func() bool { return ts.countLogs("session closed", nil) >= n })
}

// failedUpload are the fields of the log line of a failed upload of path.
func failedUpload(path string) map[string]any {
	return map[string]any{"direction": "upload", "path": path, "result": "failed"}
}

// startStor opens a PROT P upload of name and writes part of its content.
func startStor(t *testing.T, c *ftptest.MustClient, name string, part []byte) *ftptest.Transfer {
	t.Helper()
	x := c.Open("STOR " + name)
	if _, err := x.Conn.Write(part); err != nil {
		t.Fatalf("STOR %s: write: %v", name, err)
	}
	return x
}

// TestE2EBrokenUploadKeepsStoredCopy breaks a STOR over an existing file
// in the middle, in the ways a client can: ABOR on the control channel, a
// reset data connection, a dropped control connection (the server then
// ends the session and closes the data connection itself), or a client
// that vanishes (both connections reset). The stored copy must survive
// each, no partial upload may stay behind once the session ends, and a
// complete STOR must then replace it.
func TestE2EBrokenUploadKeepsStoredCopy(t *testing.T) {
	old := ftptest.RandomData(t, 300_000)
	for _, how := range []string{"ABOR", "reset data", "control dropped", "client vanishes"} {
		t.Run(how, func(t *testing.T) {
			ts := startServer(t, nil)
			keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
			sessions := 0
			failedBefore := ts.countLogs("transfer", failedUpload("/keep.bin"))
			newContent := ftptest.RandomData(t, 2<<20)

			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			sessions++
			d := startStor(t, c, "keep.bin", newContent[:len(newContent)/2])
			// The partial upload is on disk beside keep.bin, hidden.
			if !ftptest.Eventually(5*time.Second, func() bool { return len(ftptest.PartialUploads(t, ts.AliceDir())) == 1 }) {
				t.Fatalf("no partial upload file during the STOR: %v", ftptest.PartialUploads(t, ts.AliceDir()))
			}
			ftptest.MustSameFile(t, keep, old)

			switch how {
			case "ABOR":
				c.Send("ABOR")
				var codes []int
				for len(codes) < 4 {
					r := c.Reply()
					codes = append(codes, r.Code)
					t.Logf("reply to ABOR: %v", r)
					if r.Code == 226 || r.Code/100 == 5 {
						break
					}
				}
				if !slices.Contains(codes, 426) || codes[len(codes)-1] != 226 {
					t.Fatalf("replies to ABOR: %v, want 426 then 226", codes)
				}
				_ = ftptest.Reset(d.Raw)
			case "reset data":
				_ = ftptest.Reset(d.Raw)
				r := c.Reply()
				t.Logf("reply after the data reset: %v", r)
				if r.Code/100 != 4 && r.Code/100 != 5 {
					t.Fatalf("reply after the data connection was reset: %d %q, want 4xx/5xx", r.Code, r.Msg)
				}
			case "control dropped":
				_ = c.Abort()
			case "client vanishes":
				_ = ftptest.Reset(d.Raw)
				_ = c.Abort()
			}
			waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), failedBefore+1)
			ftptest.MustSameFile(t, keep, old)

			sessionGone := how == "control dropped" || how == "client vanishes"
			if !sessionGone {
				// The session goes on: a complete STOR replaces the file.
				c.Stor("keep.bin", newContent)
				ftptest.MustSameFile(t, keep, newContent)
				c.Quit()
			}
			waitSessionsClosed(t, ts, sessions)
			ftptest.MustNoPartialUploads(t, ts.AliceDir())
			if sessionGone {
				ftptest.MustSameFile(t, keep, old)
				c2 := ftptest.MustLogin(t, ts.Addr, userName, userPass)
				sessions++
				c2.Stor("keep.bin", newContent)
				ftptest.MustSameFile(t, keep, newContent)
				c2.Quit()
				waitSessionsClosed(t, ts, sessions)
			}
		})
	}
}

// TestE2EBrokenUploadOfNewFile checks that an aborted STOR of a new name
// leaves nothing at all behind.
func TestE2EBrokenUploadOfNewFile(t *testing.T) {
	ts := startServer(t, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	d := startStor(t, c, "fresh.bin", ftptest.RandomData(t, 1<<20))
	_ = ftptest.Reset(d.Raw)
	if r := c.Reply(); r.Code/100 != 4 && r.Code/100 != 5 {
		t.Fatalf("reply after the data connection was reset: %d %q", r.Code, r.Msg)
	}
	waitLogs(t, ts, "transfer", failedUpload("/fresh.bin"), 1)
	c.Quit()
	waitSessionsClosed(t, ts, 1)
	entries := treeSnapshot(t, ts.AliceDir())
	if len(entries) != 1 { // just "."
		t.Fatalf("a broken upload of a new file left %v", entries)
	}

	// Names of partial uploads are reserved.
	c = ftptest.MustLogin(t, ts.Addr, userName, userPass)
	data := c.DialData(c.PASV())
	if r := c.Cmd("STOR .ftpsd-upload-0123456789ab-x.bin"); r.Code != 553 {
		t.Fatalf("STOR of a reserved name: %d %q, want 553", r.Code, r.Msg)
	}
	_ = data.Close()
	c.Quit()
}

// TestE2EVanishingClientNeverTruncates repeats the vanishing client: when
// the lib ends the session it closes the data connection itself, and the
// reset client's data can then read as a clean end of file. An upload
// still running when its session ended must never replace the stored copy
// with what arrived so far.
func TestE2EVanishingClientNeverTruncates(t *testing.T) {
	ts := startServer(t, nil)
	old := ftptest.RandomData(t, 100_000)
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	half := ftptest.RandomData(t, 256*1024)
	const rounds = 15
	for round := 1; round <= rounds; round++ {
		c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
		d := startStor(t, c, "keep.bin", half)
		// Let the server read what was sent, then vanish.
		if !ftptest.Eventually(5*time.Second, func() bool {
			return len(ftptest.PartialUploads(t, ts.AliceDir())) == 1
		}) {
			t.Fatalf("round %d: no partial upload", round)
		}
		_ = ftptest.Reset(d.Raw)
		_ = c.Abort()
		if !ftptest.Eventually(10*time.Second, func() bool {
			return ts.countLogs("transfer", map[string]any{"path": "/keep.bin"}) == round
		}) {
			t.Fatalf("round %d: the upload was not logged", round)
		}
		if ok := logsWith(ts.Logs, "transfer", map[string]any{"path": "/keep.bin", "result": "ok"}); len(ok) != 0 {
			t.Fatalf("round %d: an upload cut by a vanishing client was stored: %v", round, ok)
		}
		ftptest.MustSameFile(t, keep, old)
		waitSessionsClosed(t, ts, round)
		if !ftptest.Eventually(5*time.Second, func() bool { return len(ftptest.PartialUploads(t, ts.AliceDir())) == 0 }) {
			t.Fatalf("round %d: partial uploads left: %v", round, ftptest.PartialUploads(t, ts.AliceDir()))
		}
	}
}

// Uploads are committed only when their data arrived whole: a TLS stream
// cut by a bare FIN, an aborted upload, a bad restart offset or a
// directory swapped under the upload never replaces the stored copy, and
// no partial upload stays behind.

// TestE2EUploadNeedsCloseNotify ends a STOR over an existing file in the
// three ways a TLS data connection ends, under TLS 1.2 and 1.3: a bare FIN
// (a cut on the path) fails the upload with 426 and keeps the stored copy;
// close_notify, alone or in one segment with the FIN, commits it.
func TestE2EUploadNeedsCloseNotify(t *testing.T) {
	ts, old := serveFile(t, nil, "keep.bin", 200_000)
	keep := filepath.Join(ts.AliceDir(), "keep.bin")
	ends := []struct {
		name string
		end  func(*ftptest.Transfer) error
	}{
		{"bare FIN", (*ftptest.Transfer).EndBare},
		{"close_notify", func(x *ftptest.Transfer) error { return x.TLS.CloseWrite() }},
		{"close_notify and FIN in one segment", (*ftptest.Transfer).EndInOneSegment},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, e := range ends {
			t.Run(tls.VersionName(version)+"/"+e.name, func(t *testing.T) {
				ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
				failedBefore := ts.countLogs("transfer", failedUpload("/keep.bin"))
				c := ftptest.Dialer{TLS: tlsUpTo(version)}.MustLogin(t, ts.Addr, userName, userPass)
				content := ftptest.RandomData(t, 300_000)
				x := startStor(t, c, "keep.bin", content)
				if err := e.end(x); err != nil {
					t.Fatalf("end the data connection: %v", err)
				}
				r := c.Reply()
				_ = x.Raw.Close()
				if e.name != "bare FIN" {
					if r.Code != 226 {
						t.Fatalf("STOR ended by %s: %v, want 226", e.name, r)
					}
					ftptest.MustSameFile(t, keep, content)
				} else {
					if r.Code != 426 && r.Code != 451 {
						t.Fatalf("STOR cut by a bare FIN: %v, want 426 or 451", r)
					}
					waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), failedBefore+1)
					last := logsWith(ts.Logs, "transfer", failedUpload("/keep.bin"))[failedBefore]
					if why := fmt.Sprint(last.ContextMap()["error"]); !strings.Contains(why, "close_notify") {
						t.Fatalf("the log of the cut upload says %q, want the missing close_notify", why)
					}
					ftptest.MustSameFile(t, keep, old)
				}
				ftptest.MustNoPartialUploads(t, ts.AliceDir())
				c.Quit()
			})
		}
	}
}

// TestE2EAbortRaceNeverStoresPartial aborts uploads over an existing file
// in a bounded loop: ABOR and a data connection reset or cut, in either
// order. No round may leave anything but the stored copy.
func TestE2EAbortRaceNeverStoresPartial(t *testing.T) {
	ts, old := serveFile(t, nil, "keep.bin", 50_000)
	keep := filepath.Join(ts.AliceDir(), "keep.bin")
	part := ftptest.RandomData(t, 64*1024)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	const rounds = 200
	for round := range rounds {
		x := startStor(t, c, "keep.bin", part[:1+round*317%len(part)])
		cut := func() {
			if round%4 < 2 {
				_ = ftptest.Reset(x.Raw)
			} else {
				_ = x.EndBare()
			}
		}
		if round%2 == 0 {
			c.Send("ABOR")
			cut()
		} else {
			cut()
			c.Send("ABOR")
		}
		// Every reply up to the ABOR's own (the lib's "226 ABOR successful").
		for i := 0; ; i++ {
			r := c.Reply()
			if strings.Contains(r.Msg, "ABOR") {
				break
			}
			if i == 3 {
				t.Fatalf("round %d: no reply to ABOR, last %v", round, r)
			}
		}
		_ = x.Raw.Close()
		if err := ftptest.SameFile(keep, old); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	c.Quit()
	waitSessionsClosed(t, ts, 1)
	ftptest.MustSameFile(t, keep, old)
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
}

// TestE2ERestNegativeKeepsStoredCopy: a STOR after REST -1 fails and
// leaves the stored file as it was.
func TestE2ERestNegativeKeepsStoredCopy(t *testing.T) {
	ts, old := serveFile(t, nil, "keep.bin", 10_000)
	keep := filepath.Join(ts.AliceDir(), "keep.bin")
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	// A negative offset; one beyond the end, which made a sparse file of
	// any apparent size (REST 1099511627776 then STOR: a 1 TiB file).
	c.Do(350, "REST -1")
	if r := c.Cmd("STOR keep.bin"); r.Code/100 != 4 && r.Code/100 != 5 {
		t.Fatalf("STOR after REST -1: %v, want 4xx or 5xx", r)
	}
	ftptest.MustSameFile(t, keep, old)
	c.ProtP()
	for _, offset := range []string{"-1", "10001", "1099511627776"} {
		c.Do(350, "REST %s", offset)
		if x, err := c.Client.Open("STOR keep.bin"); err == nil {
			if err := x.Send([]byte("NEW")); err == nil {
				t.Fatalf("STOR after REST %s completed", offset)
			}
		}
		ftptest.MustSameFile(t, keep, old)
	}
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	c.Quit()
}

// TestE2EUploadLongNames stores names up to the 255 bytes a name may
// have: the hidden upload beside them must not push them over.
func TestE2EUploadLongNames(t *testing.T) {
	ts := startServer(t, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, n := range []int{229, 240, 255} {
		name := strings.Repeat("n", n-4) + ".bin"
		content := ftptest.RandomData(t, 1000+n)
		c.Stor(name, content)
		ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), name), content)
	}
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	c.Quit()
}

// TestE2EReservedNamesRefused: no file or directory can be made or
// renamed to a name that starts like a partial upload, which listings hide.
func TestE2EReservedNamesRefused(t *testing.T) {
	ts := startServer(t, nil)
	content := ftptest.RandomData(t, 1000)
	ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", content)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Do(350, "RNFR keep.bin")
	if r := c.Cmd("RNTO .ftpsd-upload-abcdefgh"); r.Code != 553 {
		t.Fatalf("RNTO to a reserved name: %v, want 553", r)
	}
	if r := c.Cmd("MKD .ftpsd-upload-dir"); r.Code/100 != 5 {
		t.Fatalf("MKD of a reserved name: %v, want 5xx", r)
	}
	if got := ftptest.DirNames(t, ts.AliceDir()); len(got) != 1 || got[0] != "keep.bin" {
		t.Fatalf("alice's home holds %v, want only keep.bin", got)
	}
	c.Quit()
}

// TestE2EUploadDirSwappedForSymlink swaps the directory of an upload in
// progress for a symbolic link (to a directory outside the user's home):
// the upload ends without leaving its hidden file anywhere and writes
// nothing outside the home.
func TestE2EUploadDirSwappedForSymlink(t *testing.T) {
	ts := startServer(t, nil)
	outside := t.TempDir()
	sub := filepath.Join(ts.AliceDir(), "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	x := startStor(t, c, "sub/f.bin", ftptest.RandomData(t, 100_000))
	if !ftptest.Eventually(5*time.Second, func() bool { return len(ftptest.PartialUploads(t, sub)) == 1 }) {
		t.Fatal("no partial upload in sub")
	}
	if err := os.Rename(sub, sub+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, sub); err != nil {
		t.Fatal(err)
	}
	r, err := x.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reply to the STOR whose directory was swapped: %v", r)
	c.Quit()
	waitSessionsClosed(t, ts, 1)
	ftptest.MustNoPartialUploads(t, sub+".old")
	if got := ftptest.DirNames(t, outside); len(got) != 0 {
		t.Fatalf("the upload wrote %v outside the home", got)
	}
}

// TestOrphanUploadsRemovedAtStart leaves hidden uploads of a crashed
// server in the storage root: at start, those older than a day are
// removed and logged, younger ones (perhaps another instance's) kept.
func TestOrphanUploadsRemovedAtStart(t *testing.T) {
	var old []string
	var young string
	ts := startServer(t, func(cfg *config.Config) {
		dayAgo := time.Now().Add(-25 * time.Hour)
		for _, name := range []string{"alice/.ftpsd-upload-aaaaaaaa", "alice/sub/.ftpsd-upload-bbbbbbbb", ".ftpsd-upload-cccccccc"} {
			p := ftptest.WriteFile(t, cfg.Storage.Root, name, []byte("partial"))
			if err := os.Chtimes(p, dayAgo, dayAgo); err != nil {
				t.Fatal(err)
			}
			old = append(old, p)
		}
		young = ftptest.WriteFile(t, cfg.Storage.Root, "alice/.ftpsd-upload-dddddddd", []byte("in progress"))
	})
	for _, p := range old {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("orphaned upload %s not removed at start: %v", p, err)
		}
		if n := ts.countLogs("removed orphaned upload", map[string]any{"path": p}); n != 1 {
			t.Errorf("%d log lines for the removal of %s, want 1", n, p)
		}
	}
	if _, err := os.Lstat(young); err != nil {
		t.Errorf("an upload younger than a day was removed: %v", err)
	}
}
