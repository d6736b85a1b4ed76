package driver_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/control"
)

// reuseRefusal is the text of the 425 reply to a data connection whose TLS
// session was not resumed from its control connection.
const reuseRefusal = "TLS session was not resumed"

// loggedInTLS returns a raw client over explicit FTPS at most at TLS
// version maxVersion, logged in as alice with PROT P.
func loggedInTLS(t *testing.T, addr string, maxVersion uint16) *rawClient {
	t.Helper()
	return loggedInTLSAs(t, addr, maxVersion, userName, userPass)
}

// loggedInTLSAs is loggedInTLS for another user.
func loggedInTLSAs(t *testing.T, addr string, maxVersion uint16, user, pass string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, false)
	c.tlsCfg.MaxVersion = maxVersion
	c.authTLS()
	if v := c.conn.(*tls.Conn).ConnectionState().Version; v != maxVersion {
		t.Fatalf("control channel negotiated %s, want %s", tls.VersionName(v), tls.VersionName(maxVersion))
	}
	c.login(user, pass)
	c.protP()
	return c
}

// foreignRETR opens c's passive data connection with the TLS config cfg
// (not c's own session cache), sends RETR name on c and returns the
// transfer's final reply, what the data connection delivered and whether
// its TLS session was resumed.
func foreignRETR(t *testing.T, c *rawClient, cfg *tls.Config, name string) (code int, msg string, raw, plain []byte, resumed bool) {
	t.Helper()
	data := c.dialData(c.pasv())
	rec := &recorder{Conn: data}
	c.send("RETR %s", name)
	code, msg = c.reply()
	if code == 150 {
		// The lib announces the transfer before the data handshake runs
		// (its listener handshakes on first use).
		tc := tls.Client(rec, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err == nil {
			resumed = tc.ConnectionState().DidResume
			plain, err = readAllBounded(tc, 10*time.Second)
			if err != nil {
				// A refusal completes the handshake and ends with
				// close_notify; an alert here would look like a
				// certificate problem to the client.
				t.Errorf("data connection ended with %v, want a clean close_notify", err)
			}
		} else {
			t.Errorf("data TLS handshake failed: %v; a refusal must complete it", err)
		}
		_ = tc.Close()
		code, msg = c.reply()
	}
	return code, msg, rec.bytes(), plain, resumed
}

// TestE2EDataSessionReuse checks tls.require_session_reuse end to end: a
// data connection must resume the TLS session of its own control
// connection.
func TestE2EDataSessionReuse(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ts := startServer(t, nil)
			if !ts.Cfg.TLS.RequireSessionReuse {
				t.Fatal("tls.require_session_reuse is off by default")
			}
			content := markerContent()
			writeFile(t, ts.AliceDir(), "marker.txt", content)

			t.Run("fresh session refused", func(t *testing.T) {
				a := loggedInTLS(t, ts.Addr, version)
				fresh := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MaxVersion: version}
				code, msg, raw, plain, resumed := foreignRETR(t, a, fresh, "marker.txt")
				if code != 425 || !strings.Contains(msg, reuseRefusal) {
					t.Fatalf("RETR over a fresh data TLS session: %d %q, want 425 %q", code, msg, reuseRefusal)
				}
				if len(plain) != 0 || resumed || bytes.Contains(raw, []byte(plainMarker)) {
					t.Fatalf("refused data connection delivered %d bytes (resumed=%v)", len(plain), resumed)
				}
				// The same client resuming its own session is served.
				_, plain, resumed = resumedData(t, a, "RETR marker.txt")
				assertSameData(t, "RETR resuming the control session", plain, content)
				if !resumed {
					t.Fatal("the accepted data connection did not resume")
				}
				a.quit()
			})

			t.Run("ticket of another user refused", func(t *testing.T) {
				a := loggedInTLS(t, ts.Addr, version)
				b := loggedInTLSAs(t, ts.Addr, version, readerName, readerPass)
				writeFile(t, ts.ReaderDir(), "marker.txt", content)
				// b holds a valid ticket of the server, issued on b's own
				// control connection: b proves it on its own data connection.
				_, plain, resumed := resumedData(t, b, "RETR marker.txt")
				if !resumed {
					t.Fatal("b's own data connection did not resume")
				}
				assertSameData(t, "b's RETR", plain, content)

				// b's ticket (another user's) on a's passive port.
				before := len(logsWith(ts.Logs, "data connection refused", nil))
				code, msg, raw, plain, resumed := foreignRETR(t, a, b.tlsCfg, "marker.txt")
				if code != 425 || !strings.Contains(msg, reuseRefusal) {
					t.Fatalf("RETR on a's port with b's ticket: %d %q, want 425 %q", code, msg, reuseRefusal)
				}
				if len(plain) != 0 || resumed || bytes.Contains(raw, []byte(plainMarker)) {
					t.Fatalf("data connection with a foreign ticket delivered %d bytes (resumed=%v)", len(plain), resumed)
				}
				if !eventually(5*time.Second, func() bool {
					return len(logsWith(ts.Logs, "data connection refused", nil)) > before
				}) {
					t.Fatal("no \"data connection refused\" log line")
				}

				// a itself resumes its own session and is served.
				_, plain, resumed = resumedData(t, a, "RETR marker.txt")
				assertSameData(t, "a's RETR after the refusal", plain, content)
				if !resumed {
					t.Fatal("a's data connection did not resume")
				}
				a.quit()
				b.quit()
			})

			t.Run("ticket of the same user's other connection accepted", func(t *testing.T) {
				// One session cache shared by several control connections of
				// one user from one address (rclone, curl -Z).
				a := loggedInTLS(t, ts.Addr, version)
				b := loggedInTLS(t, ts.Addr, version)
				_, plain, resumed := resumedData(t, b, "RETR marker.txt")
				if !resumed {
					t.Fatal("b's own data connection did not resume")
				}
				assertSameData(t, "b's RETR", plain, content)
				code, msg, raw, plain, resumed := foreignRETR(t, a, b.tlsCfg, "marker.txt")
				if code != 226 || !resumed {
					t.Fatalf("RETR on a's port with b's ticket (same user and address): %d %q, resumed %v; want 226 resumed", code, msg, resumed)
				}
				assertTLSRecords(t, "RETR with the other connection's ticket", raw, plainMarker)
				assertSameData(t, "RETR with the other connection's ticket", plain, content)
				a.quit()
				b.quit()
			})
		})
	}
}

// TestE2EDataSessionReuseAfterCCC: the ticket was issued before CCC, and
// data connections still resume it after the control channel is clear. A
// fresh session from the client's address is accepted after CCC (logged
// once), unless tls.require_session_reuse_after_ccc = true.
func TestE2EDataSessionReuseAfterCCC(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/after_ccc_strict=%v", tls.VersionName(version), strict), func(t *testing.T) {
				ts := startServer(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuseAfterCCC = strict })
				content := markerContent()
				writeFile(t, ts.AliceDir(), "marker.txt", content)
				c := dialCCCClient(t, ts.Addr, version)
				c.login(userName, userPass)
				c.protP()
				clearControl(t, c)

				for i := range 2 {
					fresh := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MaxVersion: version}
					code, msg, raw, plain, resumed := foreignRETR(t, c, fresh, "marker.txt")
					if strict {
						if code != 425 || !strings.Contains(msg, reuseRefusal) {
							t.Fatalf("RETR after CCC over a fresh data TLS session, strict: %d %q, want 425", code, msg)
						}
						if len(plain) != 0 || bytes.Contains(raw, []byte(plainMarker)) {
							t.Fatalf("refused data connection delivered %d bytes", len(plain))
						}
						continue
					}
					if code != 226 || resumed {
						t.Fatalf("RETR %d after CCC over a fresh data TLS session: %d %q (resumed %v), want 226 accepted by address", i+1, code, msg, resumed)
					}
					assertTLSRecords(t, "fresh RETR after CCC", raw, plainMarker)
					assertSameData(t, "fresh RETR after CCC", plain, content)
				}
				if n := len(logsWith(ts.Logs, acceptedByAddressLog, nil)); (n == 1) == strict {
					t.Fatalf("%d %q log lines (strict %v)", n, acceptedByAddressLog, strict)
				}

				for i := range 3 {
					raw, plain, resumed := resumedData(t, c, "RETR marker.txt")
					assertTLSRecords(t, "RETR after CCC", raw, plainMarker)
					assertSameData(t, "RETR after CCC", plain, content)
					if !resumed {
						t.Fatalf("data connection %d after CCC did not resume the control session", i+1)
					}
				}
				c.quit()
			})
		}
	}
}

// acceptedByAddressLog starts the session's line for a data connection
// accepted by address after CCC.
const acceptedByAddressLog = control.AcceptedByAddressMessage

// TestE2EPythonNoReuse: plain ftplib.FTP_TLS starts a new TLS session for
// each data connection, which the default policy refuses with 425.
func TestE2EPythonNoReuse(t *testing.T) {
	ts := startServer(t, nil)
	writeFile(t, ts.AliceDir(), "existing.txt", []byte("hello"))
	work := t.TempDir()
	local := writeFile(t, work, "up.bin", []byte("unused"))
	res := runFtplibFlags(t, ts, local, "unused.bin", filepath.Join(work, "back.bin"), "--no-reuse")
	if !strings.HasPrefix(res.Login, "230") || !strings.HasPrefix(res.PBSZProt, "200") {
		t.Fatalf("login/PROT P: %+v", res)
	}
	if !strings.Contains(res.DataError, "425") || !strings.Contains(res.DataError, reuseRefusal) {
		t.Fatalf("NLST over a new TLS session: data_error %q, want a 425 %q", res.DataError, reuseRefusal)
	}
	if len(res.NLST) != 0 {
		t.Fatalf("NLST delivered %v", res.NLST)
	}
	if res.DataTLSError != "" {
		t.Fatalf("the refusal reached ftplib as a TLS error %q; it must be a clean close and the 425", res.DataTLSError)
	}
	if !strings.HasPrefix(res.Quit, "221") {
		t.Fatalf("QUIT after the refusal: %q", res.Quit)
	}
}

// TestE2ESessionReuseOff: with tls.require_session_reuse = false a data
// connection with a fresh TLS session is served, and so is Python's plain
// FTP_TLS.
func TestE2ESessionReuseOff(t *testing.T) {
	ts := startServer(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuse = false })
	content := markerContent()
	writeFile(t, ts.AliceDir(), "marker.txt", content)

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c := loggedInTLS(t, ts.Addr, version)
			fresh := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MaxVersion: version}
			code, msg, raw, plain, resumed := foreignRETR(t, c, fresh, "marker.txt")
			if code != 226 {
				t.Fatalf("RETR over a fresh data TLS session with reuse not required: %d %q, want 226", code, msg)
			}
			if resumed {
				t.Fatal("a fresh config resumed a session")
			}
			assertTLSRecords(t, "fresh RETR", raw, plainMarker)
			assertSameData(t, "fresh RETR", plain, content)
			c.quit()
		})
	}

	t.Run("python no-reuse", func(t *testing.T) {
		work := t.TempDir()
		local := writeFile(t, work, "up.bin", []byte("unused"))
		res := runFtplibFlags(t, ts, local, "unused.bin", filepath.Join(work, "back.bin"), "--no-reuse")
		if res.DataError != "" {
			t.Fatalf("NLST with plain FTP_TLS and reuse not required: %q", res.DataError)
		}
		if !strings.HasPrefix(res.Quit, "221") {
			t.Fatalf("QUIT: %q", res.Quit)
		}
	})
	if n := len(logsWith(ts.Logs, "data connection refused", nil)); n != 0 {
		t.Fatalf("%d data connections refused with reuse not required", n)
	}
}
