package driver_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/internal/ftptest"
)

// Data connections and the control connection's TLS session
// (tls.require_session_reuse, on by default; require_session_reuse_after_ccc;
// [[users]] require_session_reuse): which tickets a data connection may
// offer, and how a data connection that offers none is refused: its data
// TLS handshake completes, the server sends nothing on it and closes it
// with close_notify, and the transfer is answered "425 Data connection
// refused: ..."; never a TLS alert such as bad_certificate.

// reuseRefusal is the text of the 425 reply to a data connection whose TLS
// session was not resumed from its control connection.
const reuseRefusal = "TLS session was not resumed"

// clientRefusal starts the text of the 425 reply to a refused data
// connection.
const clientRefusal = "Data connection refused"

// acceptedByAddressLog starts the session's line for a data connection
// accepted by address after CCC.
const acceptedByAddressLog = control.AcceptedByAddressMessage

// freshUpTo is ftptest.FreshTLS at most at TLS version maxVersion: it
// offers no ticket.
func freshUpTo(maxVersion uint16) *tls.Config {
	cfg := ftptest.FreshTLS()
	cfg.MaxVersion = maxVersion
	return cfg
}

// dataAttempt is what one RETR saw whose data connection offered a chosen
// client TLS config.
type dataAttempt struct {
	code         int
	msg          string
	handshakeErr error
	resumed      bool
	plain        []byte
	readErr      error
	raw          []byte // everything the server sent on the data connection
}

// retrOffering sends RETR name on c after PASV, running the data
// connection's TLS client with the config cfg (whose session cache decides
// which ticket is offered).
func retrOffering(t *testing.T, c *ftptest.MustClient, cfg *tls.Config, name string) dataAttempt {
	t.Helper()
	return retrOfferingWhile(t, c, cfg, name, nil)
}

// retrOfferingWhile is retrOffering that runs during (when not nil) on the
// test goroutine while the data connection's TLS handshake and transfer
// run on another one.
func retrOfferingWhile(t *testing.T, c *ftptest.MustClient, cfg *tls.Config, name string, during func()) dataAttempt {
	t.Helper()
	rec := &recorder{Conn: c.DialData(c.PASV())}
	var a dataAttempt
	r := c.Cmd("RETR %s", name)
	if a.code, a.msg = r.Code, r.Msg; a.code != 150 {
		return a
	}
	// The lib announces the transfer before the data handshake runs (its
	// listener handshakes on first use).
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc := tls.Client(rec, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		a.handshakeErr = tc.Handshake()
		if a.handshakeErr == nil {
			a.resumed = tc.ConnectionState().DidResume
			a.plain, a.readErr = readAllBounded(tc, 10*time.Second)
		}
		_ = tc.Close()
	}()
	if during != nil {
		during()
	}
	<-done // bounded by the deadlines above
	r = c.Reply()
	a.code, a.msg, a.raw = r.Code, r.Msg, rec.bytes()
	return a
}

// foreignRETR is retrOffering that fails the test unless the data
// connection, accepted or refused, completed its handshake and ended with
// close_notify: an alert would look like a certificate problem to the
// client.
func foreignRETR(t *testing.T, c *ftptest.MustClient, cfg *tls.Config, name string) dataAttempt {
	t.Helper()
	a := retrOffering(t, c, cfg, name)
	if a.handshakeErr != nil {
		t.Errorf("data TLS handshake failed: %v; a refusal must complete it", a.handshakeErr)
	} else if a.readErr != nil {
		t.Errorf("data connection ended with %v, want a clean close_notify", a.readErr)
	}
	return a
}

// lastRecord returns the type and length of the last complete TLS record
// in raw.
func lastRecord(raw []byte) (typ byte, length int, ok bool) {
	for len(raw) >= 5 {
		n := int(binary.BigEndian.Uint16(raw[3:5]))
		if len(raw) < 5+n {
			break
		}
		typ, length, ok = raw[0], n, true
		raw = raw[5+n:]
	}
	return typ, length, ok
}

// assertAccepted fails unless a resumed and delivered content with 226.
func assertAccepted(t *testing.T, what string, a dataAttempt, content []byte) {
	t.Helper()
	if a.code != 226 || a.handshakeErr != nil || a.readErr != nil {
		t.Fatalf("%s: reply %d %q, handshake error %v, read error %v; want 226", what, a.code, a.msg, a.handshakeErr, a.readErr)
	}
	if !a.resumed {
		t.Fatalf("%s: the data connection did not resume the offered session", what)
	}
	ftptest.MustSameData(t, what, a.plain, content)
}

// assertCleanRefusal fails unless a is the clear refusal: the data
// handshake completed without resuming, the server sent no data and
// closed with close_notify (no alert such as bad_certificate), and the
// control connection got 425 "Data connection refused".
func assertCleanRefusal(t *testing.T, what string, a dataAttempt, version uint16) {
	t.Helper()
	if a.code != 425 || !strings.HasPrefix(a.msg, clientRefusal) {
		t.Errorf("%s: reply %d %q, want 425 %q", what, a.code, a.msg, clientRefusal)
	}
	if a.handshakeErr != nil {
		t.Fatalf("%s: data TLS handshake failed with %v, want it to complete and then close_notify", what, a.handshakeErr)
	}
	if a.resumed {
		t.Errorf("%s: the refused data connection resumed the offered session", what)
	}
	if len(a.plain) != 0 || a.readErr != nil {
		t.Errorf("%s: the refused data connection delivered %d bytes, read error %v; want nothing and close_notify", what, len(a.plain), a.readErr)
	}
	if bytes.Contains(a.raw, []byte(plainMarker)) {
		t.Errorf("%s: the file crossed the refused data connection in clear", what)
	}
	// The server's last record is its close_notify: an encrypted alert
	// record in TLS 1.2; in TLS 1.3 an application_data record of 19
	// bytes (2 bytes of alert, the inner content type, a 16-byte tag).
	typ, n, ok := lastRecord(a.raw)
	switch {
	case !ok:
		t.Errorf("%s: the server sent no complete TLS record", what)
	case version == tls.VersionTLS12 && (typ != 21 || n <= 2):
		t.Errorf("%s: the server's last record is type %d, %d bytes; want an encrypted alert (close_notify)", what, typ, n)
	case version == tls.VersionTLS13 && (typ != 23 || n != 19):
		t.Errorf("%s: the server's last record is type %d, %d bytes; want a 19-byte encrypted alert (close_notify)", what, typ, n)
	}
}

// TestE2EDataSessionReuse checks tls.require_session_reuse end to end: a
// data connection must resume the TLS session of its own control
// connection.
func TestE2EDataSessionReuse(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ts, content := serveMarker(t, nil)
			if !ts.Cfg.TLS.RequireSessionReuse {
				t.Fatal("tls.require_session_reuse is off by default")
			}

			t.Run("fresh session refused", func(t *testing.T) {
				a := loginAt(t, ts.Addr, version, userName, userPass)
				f := foreignRETR(t, a, freshUpTo(version), "marker.txt")
				if f.code != 425 || !strings.Contains(f.msg, reuseRefusal) {
					t.Fatalf("RETR over a fresh data TLS session: %d %q, want 425 %q", f.code, f.msg, reuseRefusal)
				}
				if len(f.plain) != 0 || f.resumed || bytes.Contains(f.raw, []byte(plainMarker)) {
					t.Fatalf("refused data connection delivered %d bytes (resumed=%v)", len(f.plain), f.resumed)
				}
				// The same client resuming its own session is served.
				assertResumedMarker(t, a, "RETR resuming the control session", content)
				a.Quit()
			})

			t.Run("ticket of another user refused", func(t *testing.T) {
				a := loginAt(t, ts.Addr, version, userName, userPass)
				b := loginAt(t, ts.Addr, version, readerName, readerPass)
				ftptest.WriteFile(t, ts.ReaderDir(), "marker.txt", content)
				// b holds a valid ticket of the server, issued on b's own
				// control connection: b proves it on its own data connection.
				assertResumedMarker(t, b, "b's own RETR", content)

				// b's ticket (another user's) on a's passive port.
				before := refusals(ts)
				f := foreignRETR(t, a, b.TLS, "marker.txt")
				if f.code != 425 || !strings.Contains(f.msg, reuseRefusal) {
					t.Fatalf("RETR on a's port with b's ticket: %d %q, want 425 %q", f.code, f.msg, reuseRefusal)
				}
				if len(f.plain) != 0 || f.resumed || bytes.Contains(f.raw, []byte(plainMarker)) {
					t.Fatalf("data connection with a foreign ticket delivered %d bytes (resumed=%v)", len(f.plain), f.resumed)
				}
				ftptest.MustEventually(t, 5*time.Second, "a \"data connection refused\" log line", func() bool { return refusals(ts) > before })

				// a itself resumes its own session and is served.
				assertResumedMarker(t, a, "a's RETR after the refusal", content)
				a.Quit()
				b.Quit()
			})

			t.Run("ticket of the same user's other connection accepted", func(t *testing.T) {
				// One session cache shared by several control connections of
				// one user from one address (rclone, curl -Z).
				a := loginAt(t, ts.Addr, version, userName, userPass)
				b := loginAt(t, ts.Addr, version, userName, userPass)
				assertResumedMarker(t, b, "b's own RETR", content)
				f := foreignRETR(t, a, b.TLS, "marker.txt")
				if f.code != 226 || !f.resumed {
					t.Fatalf("RETR on a's port with b's ticket (same user and address): %d %q, resumed %v; want 226 resumed", f.code, f.msg, f.resumed)
				}
				assertTLSRecords(t, "RETR with the other connection's ticket", f.raw, plainMarker)
				ftptest.MustSameData(t, "RETR with the other connection's ticket", f.plain, content)
				a.Quit()
				b.Quit()
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
				ts, content := serveMarker(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuseAfterCCC = strict })
				c := loginAt(t, ts.Addr, version, userName, userPass)
				c.CCC()

				for i := range 2 {
					f := foreignRETR(t, c, freshUpTo(version), "marker.txt")
					if strict {
						if f.code != 425 || !strings.Contains(f.msg, reuseRefusal) {
							t.Fatalf("RETR after CCC over a fresh data TLS session, strict: %d %q, want 425", f.code, f.msg)
						}
						if len(f.plain) != 0 || bytes.Contains(f.raw, []byte(plainMarker)) {
							t.Fatalf("refused data connection delivered %d bytes", len(f.plain))
						}
						continue
					}
					if f.code != 226 || f.resumed {
						t.Fatalf("RETR %d after CCC over a fresh data TLS session: %d %q (resumed %v), want 226 accepted by address", i+1, f.code, f.msg, f.resumed)
					}
					assertTLSRecords(t, "fresh RETR after CCC", f.raw, plainMarker)
					ftptest.MustSameData(t, "fresh RETR after CCC", f.plain, content)
				}
				if n := ts.countLogs(acceptedByAddressLog, nil); (n == 1) == strict {
					t.Fatalf("%d %q log lines (strict %v)", n, acceptedByAddressLog, strict)
				}

				for i := range 3 {
					assertResumedMarker(t, c, fmt.Sprintf("RETR %d after CCC", i+1), content)
				}
				c.Quit()
			})
		}
	}
}

// TestE2EPythonNoReuse: plain ftplib.FTP_TLS starts a new TLS session for
// each data connection, which the default policy refuses with 425.
func TestE2EPythonNoReuse(t *testing.T) {
	ts := startServer(t, nil)
	ftptest.WriteFile(t, ts.AliceDir(), "existing.txt", []byte("hello"))
	res := runFtplib(t, ts, userName, userPass, "--no-reuse", "--nlst")
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
	ts, content := serveMarker(t, func(cfg *config.Config) { cfg.TLS.RequireSessionReuse = false })

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c := loginAt(t, ts.Addr, version, userName, userPass)
			f := foreignRETR(t, c, freshUpTo(version), "marker.txt")
			if f.code != 226 {
				t.Fatalf("RETR over a fresh data TLS session with reuse not required: %d %q, want 226", f.code, f.msg)
			}
			if f.resumed {
				t.Fatal("a fresh config resumed a session")
			}
			assertTLSRecords(t, "fresh RETR", f.raw, plainMarker)
			ftptest.MustSameData(t, "fresh RETR", f.plain, content)
			c.Quit()
		})
	}

	t.Run("python no-reuse", func(t *testing.T) {
		res := runFtplib(t, ts, userName, userPass, "--no-reuse", "--nlst")
		if res.DataError != "" {
			t.Fatalf("NLST with plain FTP_TLS and reuse not required: %q", res.DataError)
		}
		if !strings.HasPrefix(res.Quit, "221") {
			t.Fatalf("QUIT: %q", res.Quit)
		}
	})
	assertNoRefusals(t, ts)
}

// TestE2EClientsTicketOwners checks with Go clients which tickets a data
// connection of alice accepts under the default policy: a ticket issued on
// another control connection of alice from her address (open or already
// closed, or logging in when the data connection starts) is accepted;
// reader's ticket, alice's ticket from another client address, and that of
// a connection whose login fails are refused, clearly.
func TestE2EClientsTicketOwners(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ts, content := serveMarker(t, nil)
			ftptest.WriteFile(t, ts.ReaderDir(), "marker.txt", content)
			newCfg := func() *tls.Config { return tlsUpTo(version) }
			// holder logs in as user from localIP and proves on its own
			// data connection that its ticket is valid; it returns its
			// client TLS config, whose cache holds that ticket.
			holder := func(t *testing.T, localIP, user, pass string) (*ftptest.MustClient, *tls.Config) {
				t.Helper()
				cfg := newCfg()
				h := ftptest.Dialer{TLS: cfg, Local: netip.MustParseAddr(localIP)}.MustLogin(t, ts.Addr, user, pass)
				a := retrOffering(t, h, cfg, "marker.txt")
				assertAccepted(t, user+"'s own data connection from "+localIP, a, content)
				return h, cfg
			}
			alice := ftptest.Dialer{TLS: newCfg(), Local: netip.MustParseAddr("127.0.0.1")}.MustLogin(t, ts.Addr, userName, userPass)

			t.Run("same user other control connection", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", userName, userPass)
				assertAccepted(t, "alice's RETR offering another alice connection's ticket",
					retrOffering(t, alice, cfg, "marker.txt"), content)
				h.Quit()
			})

			t.Run("same user closed control connection", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", userName, userPass)
				h.Quit()
				assertAccepted(t, "alice's RETR offering a ticket of a closed alice connection",
					retrOffering(t, alice, cfg, "marker.txt"), content)
			})

			// A client's newest ticket may come from a control connection
			// whose login is still under way (rclone and curl -Z open
			// several at once and share one cache; in TLS 1.3 the ticket
			// arrives right after AUTH TLS, and bcrypt makes a login take
			// a while): the binding must not judge such a ticket before
			// that login has succeeded or failed.
			pendingLogin := func(t *testing.T, pass string) dataAttempt {
				t.Helper()
				cfg := newCfg()
				h := ftptest.Dialer{TLS: cfg}.MustDial(t, ts.Addr)
				h.AuthTLS()
				h.Do(331, "USER %s", userName) // a TLS 1.3 ticket arrives with this reply
				loggedIn := false
				a := retrOfferingWhile(t, alice, cfg, "marker.txt", func() {
					time.Sleep(200 * time.Millisecond) // the data handshake reaches the server first
					r := h.Cmd("PASS %s", pass)
					loggedIn = r.Code == 230
					t.Logf("PASS with the data handshake pending: %v", r)
				})
				if loggedIn {
					h.Quit()
				}
				return a
			}
			t.Run("same user login pending", func(t *testing.T) {
				assertAccepted(t, "alice's RETR offering the ticket of an alice connection logging in",
					pendingLogin(t, userPass), content)
			})
			// refused checks that the RETR of attempt is refused cleanly, and
			// logged.
			refused := func(t *testing.T, what string, attempt func() dataAttempt) {
				t.Helper()
				before := refusals(ts)
				assertCleanRefusal(t, what, attempt(), version)
				waitLogs(t, ts, "data connection refused", nil, before+1)
			}
			t.Run("same user login pending fails", func(t *testing.T) {
				refused(t, "alice's RETR offering the ticket of a connection whose login then fails",
					func() dataAttempt { return pendingLogin(t, "wrong-password") })
			})

			t.Run("other user", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", readerName, readerPass)
				refused(t, "alice's RETR offering reader's ticket",
					func() dataAttempt { return retrOffering(t, alice, cfg, "marker.txt") })
				h.Quit()
			})

			t.Run("same user other address", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.2", userName, userPass)
				refused(t, "alice's RETR from 127.0.0.1 offering her ticket from 127.0.0.2",
					func() dataAttempt { return retrOffering(t, alice, cfg, "marker.txt") })
				h.Quit()
			})

			// alice's own session still works after the refusals.
			assertAccepted(t, "alice's own RETR", retrOffering(t, alice, alice.TLS, "marker.txt"), content)
			alice.Quit()
		})
	}
}
