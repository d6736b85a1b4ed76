package driver_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

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
