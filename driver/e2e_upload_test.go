package driver_test

import (
	"crypto/tls"
	"net"
	"slices"
	"testing"
	"time"
)

// waitSessionsClosed waits until n sessions have logged "session closed".
func waitSessionsClosed(t *testing.T, ts *testServer, n int) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return len(logsWith(ts.Logs, "session closed", nil)) >= n }) {
		t.Fatalf("want %d closed sessions, log has %d", n, len(logsWith(ts.Logs, "session closed", nil)))
	}
}

// failedUploads counts the log lines of failed uploads of path.
func failedUploads(ts *testServer, path string) int {
	return len(logsWith(ts.Logs, "transfer", map[string]any{"direction": "upload", "path": path, "result": "failed"}))
}

// waitFailedUpload waits until want failed uploads of path were logged.
func waitFailedUpload(t *testing.T, ts *testServer, path string, want int) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return failedUploads(ts, path) >= want }) {
		t.Fatalf("want %d failed uploads of %s logged: %v", want, path, ts.Logs.FilterMessage("transfer").All())
	}
	if got := failedUploads(ts, path); got != want {
		t.Fatalf("%d failed uploads of %s logged, want %d", got, path, want)
	}
}

// startProtectedStor opens a PROT P data connection, sends STOR name and
// writes part of the content; it returns the raw and TLS data connections.
func startProtectedStor(t *testing.T, c *rawClient, name string, part []byte) (*tlsData, error) {
	t.Helper()
	data := c.dialData(c.pasv())
	c.must(150, "STOR %s", name)
	tc := tls.Client(data, c.tlsCfg)
	_, err := tc.Write(part)
	return &tlsData{raw: data, tls: tc}, err
}

// tlsData is the client side of a PROT P data connection.
type tlsData struct {
	raw *net.TCPConn // close it with SetLinger(0) to reset the connection
	tls *tls.Conn
}

// storProtected uploads content completely over PROT P.
func storProtected(t *testing.T, c *rawClient, name string, content []byte) {
	t.Helper()
	d, err := startProtectedStor(t, c, name, content)
	if err != nil {
		t.Fatalf("STOR %s: %v", name, err)
	}
	if err := d.tls.Close(); err != nil {
		t.Fatalf("STOR %s: close: %v", name, err)
	}
	c.expect(226, "STOR "+name)
}

// TestE2EBrokenUploadKeepsStoredCopy breaks a STOR over an existing file
// in the middle, in the ways a client can: ABOR on the control channel, a
// reset data connection, a dropped control connection (the server then
// ends the session and closes the data connection itself), or a client
// that vanishes (both connections reset). The stored copy must survive
// each, no partial upload may stay behind once the session ends, and a
// complete STOR must then replace it.
func TestE2EBrokenUploadKeepsStoredCopy(t *testing.T) {
	old := randomData(t, 300_000)
	for _, how := range []string{"ABOR", "reset data", "control dropped", "client vanishes"} {
		t.Run(how, func(t *testing.T) {
			ts := startServer(t, nil)
			keep := writeFile(t, ts.AliceDir(), "keep.bin", old)
			sessions := 0
			failedBefore := failedUploads(ts, "/keep.bin")
			newContent := randomData(t, 2<<20)

			c := dialRaw(t, ts.Addr, false)
			c.authTLS()
			c.login(userName, userPass)
			c.protP()
			sessions++
			d, err := startProtectedStor(t, c, "keep.bin", newContent[:len(newContent)/2])
			if err != nil {
				t.Fatalf("first half of STOR: %v", err)
			}
			// The partial upload is on disk beside keep.bin, hidden.
			if !eventually(5*time.Second, func() bool { return len(uploadTemps(t, ts.AliceDir())) == 1 }) {
				t.Fatalf("no partial upload file during the STOR: %v", uploadTemps(t, ts.AliceDir()))
			}
			assertDiskFile(t, keep, old)

			switch how {
			case "ABOR":
				c.send("ABOR")
				var codes []int
				for len(codes) < 4 {
					code, msg := c.reply()
					codes = append(codes, code)
					t.Logf("reply to ABOR: %d %s", code, msg)
					if code == 226 || code/100 == 5 {
						break
					}
				}
				if !slices.Contains(codes, 426) || codes[len(codes)-1] != 226 {
					t.Fatalf("replies to ABOR: %v, want 426 then 226", codes)
				}
				_ = d.raw.SetLinger(0)
				_ = d.raw.Close()
			case "reset data":
				_ = d.raw.SetLinger(0)
				_ = d.raw.Close()
				code, msg := c.reply()
				t.Logf("reply after the data reset: %d %s", code, msg)
				if code/100 != 4 && code/100 != 5 {
					t.Fatalf("reply after the data connection was reset: %d %q, want 4xx/5xx", code, msg)
				}
			case "control dropped":
				_ = c.raw.(*net.TCPConn).SetLinger(0)
				_ = c.raw.Close()
			case "client vanishes":
				_ = d.raw.SetLinger(0)
				_ = d.raw.Close()
				_ = c.raw.(*net.TCPConn).SetLinger(0)
				_ = c.raw.Close()
			}
			waitFailedUpload(t, ts, "/keep.bin", failedBefore+1)
			assertDiskFile(t, keep, old)

			sessionGone := how == "control dropped" || how == "client vanishes"
			if !sessionGone {
				// The session goes on: a complete STOR replaces the file.
				storProtected(t, c, "keep.bin", newContent)
				assertDiskFile(t, keep, newContent)
				c.quit()
			}
			waitSessionsClosed(t, ts, sessions)
			if left := uploadTemps(t, ts.AliceDir()); len(left) != 0 {
				t.Fatalf("partial uploads left after the session ended: %v", left)
			}
			if sessionGone {
				assertDiskFile(t, keep, old)
				c2 := dialRaw(t, ts.Addr, false)
				c2.authTLS()
				c2.login(userName, userPass)
				c2.protP()
				sessions++
				storProtected(t, c2, "keep.bin", newContent)
				assertDiskFile(t, keep, newContent)
				c2.quit()
				waitSessionsClosed(t, ts, sessions)
			}
		})
	}
}

// TestE2EBrokenUploadOfNewFile checks that an aborted STOR of a new name
// leaves nothing at all behind.
func TestE2EBrokenUploadOfNewFile(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.Addr, false)
	c.authTLS()
	c.login(userName, userPass)
	c.protP()
	d, err := startProtectedStor(t, c, "fresh.bin", randomData(t, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	_ = d.raw.SetLinger(0)
	_ = d.raw.Close()
	if code, msg := c.reply(); code/100 != 4 && code/100 != 5 {
		t.Fatalf("reply after the data connection was reset: %d %q", code, msg)
	}
	waitFailedUpload(t, ts, "/fresh.bin", 1)
	c.quit()
	waitSessionsClosed(t, ts, 1)
	entries := treeSnapshot(t, ts.AliceDir())
	if len(entries) != 1 { // just "."
		t.Fatalf("a broken upload of a new file left %v", entries)
	}

	// Names of partial uploads are reserved.
	c = dialRaw(t, ts.Addr, false)
	c.authTLS()
	c.login(userName, userPass)
	c.protP()
	data := c.dialData(c.pasv())
	if code, msg := c.cmd("STOR .ftpsd-upload-0123456789ab-x.bin"); code != 553 {
		t.Fatalf("STOR of a reserved name: %d %q, want 553", code, msg)
	}
	_ = data.Close()
	c.quit()
}

// TestE2EVanishingClientNeverTruncates repeats the vanishing client: when
// the lib ends the session it closes the data connection itself, and the
// reset client's data can then read as a clean end of file. An upload
// still running when its session ended must never replace the stored copy
// with what arrived so far.
func TestE2EVanishingClientNeverTruncates(t *testing.T) {
	ts := startServer(t, nil)
	old := randomData(t, 100_000)
	keep := writeFile(t, ts.AliceDir(), "keep.bin", old)
	half := randomData(t, 256*1024)
	const rounds = 15
	for round := 1; round <= rounds; round++ {
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		c.login(userName, userPass)
		c.protP()
		d, err := startProtectedStor(t, c, "keep.bin", half)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Let the server read what was sent, then vanish.
		if !eventually(5*time.Second, func() bool {
			return len(uploadTemps(t, ts.AliceDir())) == 1
		}) {
			t.Fatalf("round %d: no partial upload", round)
		}
		_ = d.raw.SetLinger(0)
		_ = d.raw.Close()
		_ = c.raw.(*net.TCPConn).SetLinger(0)
		_ = c.raw.Close()
		if !eventually(10*time.Second, func() bool {
			return len(logsWith(ts.Logs, "transfer", map[string]any{"path": "/keep.bin"})) == round
		}) {
			t.Fatalf("round %d: the upload was not logged", round)
		}
		if ok := logsWith(ts.Logs, "transfer", map[string]any{"path": "/keep.bin", "result": "ok"}); len(ok) != 0 {
			t.Fatalf("round %d: an upload cut by a vanishing client was stored: %v", round, ok)
		}
		assertDiskFile(t, keep, old)
		waitSessionsClosed(t, ts, round)
		if !eventually(5*time.Second, func() bool { return len(uploadTemps(t, ts.AliceDir())) == 0 }) {
			t.Fatalf("round %d: partial uploads left: %v", round, uploadTemps(t, ts.AliceDir()))
		}
	}
}
