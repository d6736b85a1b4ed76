package driver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/internal/ftptest"
)

// TestQuitThenCloseLogsNoWarning: a client that sends QUIT and closes its
// socket at once (rclone does) ends a normal session: no warning in the
// log (the lib logged "Problem disconnecting a client" when the
// close_notify after the 221 found the socket gone).
func TestQuitThenCloseLogsNoWarning(t *testing.T) {
	s := startServer(t, nil)
	for range 10 {
		c := ftptest.MustLogin(t, s.Addr, userName, userPass)
		c.Send("QUIT")
		_ = c.Close()
	}
	ftptest.MustEventually(t, 10*time.Second, "the sessions to end", func() bool { return s.Server.Sessions() == 0 })
	for _, e := range s.Logs.All() {
		if e.Level >= zapcore.WarnLevel {
			t.Errorf("%s %q %v", e.Level, e.Message, e.ContextMap())
		}
	}
}

// TestSessionNumberIsOneNumber: a session has one number in the log and
// in the texts that name it, whichever listener it came through (each
// listener's lib counts its clients from 1: an implicit-TLS session and an
// explicit one were both "session 1", and the refusal named the control
// connection's own number).
func TestSessionNumberIsOneNumber(t *testing.T) {
	s := startServer(t, nil)
	implicit := ftptest.Dialer{Implicit: true}.MustLogin(t, s.Implicit, userName, userPass)
	implicit.Do(257, "PWD")
	c := ftptest.MustLogin(t, s.Addr, userName, userPass)
	c.ProtP()
	if err := os.WriteFile(filepath.Join(s.AliceDir(), "f.txt"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if a := retrOffering(t, c, ftptest.FreshTLS(), "f.txt"); a.code != 425 {
		t.Fatalf("RETR over a fresh data TLS session: %d %q, want 425", a.code, a.msg)
	}
	ftptest.MustEventually(t, 5*time.Second, "the refusal's log line", func() bool {
		return s.Logs.FilterMessage("data connection refused").Len() == 1
	})
	// One warning says it all (with the session, the user and the setting
	// that would admit the client); the transfer line is the usual one.
	var warnings []string
	for _, l := range s.Logs.All() {
		if l.Level >= zapcore.WarnLevel {
			warnings = append(warnings, l.Message)
		}
	}
	if len(warnings) != 1 {
		t.Errorf("a refused data connection logged %d warnings: %q", len(warnings), warnings)
	}
	e := s.Logs.FilterMessage("data connection refused").All()[0]
	session := fmt.Sprint(e.ContextMap()["session"])
	if want := "session " + session + ","; !strings.Contains(fmt.Sprint(e.ContextMap()["error"]), want) {
		t.Errorf("refusal of session %s: error %q does not say %q", session, e.ContextMap()["error"], want)
	}
	sessions := map[string]bool{}
	for _, l := range s.Logs.FilterMessage("login").All() {
		sessions[fmt.Sprint(l.ContextMap()["session"])] = true
	}
	if len(sessions) != 2 {
		t.Errorf("two sessions logged in as sessions %v", sessions)
	}
}

// oldTLS is the TLS configuration of a client that offers only TLS 1.1,
// which ftpsd refuses: its handshakes fail.
func oldTLS() *tls.Config {
	cfg := ftptest.NewTLS()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 //nolint:gosec // a client the server must refuse
	return cfg
}

// handshakeReason is in crypto/tls's reason for refusing oldTLS.
const handshakeReason = "unsupported versions"

// linesSince waits until every session of ts has ended, then returns the
// lines logged since the last call, and fails for each that carries a
// stack trace.
func linesSince(t *testing.T, ts *testServer) []observer.LoggedEntry {
	t.Helper()
	ftptest.MustEventually(t, 10*time.Second, "the sessions to end", func() bool { return ts.Server.Sessions() == 0 })
	lines := ts.Logs.TakeAll()
	for _, e := range lines {
		if e.Stack != "" {
			t.Errorf("%s %q has a stack trace:\n%s", e.Level, e.Message, e.Stack)
		}
	}
	return lines
}

// naming returns the lines that say reason in a field.
func naming(lines []observer.LoggedEntry, reason string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, l := range lines {
		if strings.Contains(fmt.Sprint(l.ContextMap()), reason) {
			out = append(out, l)
		}
	}
	return out
}

// mustBeOneLine fails unless exactly one of lines says the handshake's
// reason, and it is a line at level with message and the peer.
func mustBeOneLine(t *testing.T, what string, lines []observer.LoggedEntry, level zapcore.Level, message string, peer net.Addr) {
	t.Helper()
	found := naming(lines, handshakeReason)
	for _, l := range found {
		t.Logf("%s: %s %q %v", what, l.Level, l.Message, l.ContextMap())
	}
	if len(found) != 1 {
		t.Errorf("%s: %d lines name the failed handshake, want 1", what, len(found))
		return
	}
	l := found[0]
	if l.Level != level || l.Message != message || l.ContextMap()["remote"] != peer.String() {
		t.Errorf("%s: %s %q %v; want %s %q naming the peer %s", what, l.Level, l.Message, l.ContextMap(), level, message, peer)
	}
}

// TestFailedHandshakeIsOneLine: a failed TLS handshake is one line with
// the peer and the reason, and no line carries a stack trace: a warning
// on the control channel after AUTH TLS and on the implicit port (where
// ftpserverlib logged it again at ERROR with a stack trace, on the
// implicit port also as a warning that its greeting was not sent), and
// the failed transfer's line on a data connection.
func TestFailedHandshakeIsOneLine(t *testing.T) {
	// Data connections are admitted by address, so that a data handshake
	// fails in crypto/tls, not in the binding's screen.
	ts := startServer(t, func(c *config.Config) { c.TLS.RequireSessionReuse = false })
	linesSince(t, ts)

	c := ftptest.MustDial(t, ts.Addr)
	c.TLS = oldTLS()
	if err := c.Client.AuthTLS(); err == nil {
		t.Fatal("a TLS 1.1 handshake after AUTH TLS succeeded")
	}
	peer := c.Raw().LocalAddr()
	c.Close()
	mustBeOneLine(t, "AUTH TLS", linesSince(t, ts), zapcore.WarnLevel, "control TLS handshake failed", peer)

	d := ftptest.Dialer{Implicit: true, TLS: oldTLS(), DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			peer = conn.LocalAddr()
		}
		return conn, err
	}}
	if c, err := d.Connect(ts.Implicit); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake on the implicit port succeeded")
	}
	mustBeOneLine(t, "implicit", linesSince(t, ts), zapcore.WarnLevel, "control TLS handshake failed", peer)

	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("data"))
	c = ftptest.MustLogin(t, ts.Addr, userName, userPass)
	peer = c.Raw().LocalAddr() // the transfer line names the session's peer
	data := c.DialData(c.EPSV())
	c.TLS = oldTLS()
	c.Send("RETR f.txt")
	if _, err := c.Client.Attach(data, "RETR"); err == nil {
		t.Fatal("a TLS 1.1 data handshake succeeded")
	}
	if r := c.Reply(); r.Code == 150 {
		if r = c.Reply(); r.Code < 400 {
			t.Errorf("RETR over a failed data handshake: %q", r)
		}
	}
	c.Quit()
	mustBeOneLine(t, "data", linesSince(t, ts), zapcore.InfoLevel, "transfer", peer)
}

// TestDroppedClientIsOneLine: a client dropped by the control connection
// (a command line over 4096 bytes, a TLS ClientHello on the explicit port
// without AUTH TLS) is one warning and no stack trace (ftpserverlib
// logged the drop again at ERROR with a stack trace).
func TestDroppedClientIsOneLine(t *testing.T) {
	ts := startServer(t, nil)
	linesSince(t, ts)
	for _, c := range []struct {
		what string
		send func(*ftptest.MustClient)
	}{
		{"line too long", func(c *ftptest.MustClient) { c.Send("NOOP %s", strings.Repeat("x", control.MaxLineLength)) }},
		{"ClientHello without AUTH TLS", func(c *ftptest.MustClient) {
			_ = tls.Client(c.Raw(), ftptest.NewTLS()).Handshake() // the server drops the connection
		}},
	} {
		client := ftptest.MustDial(t, ts.Addr)
		c.send(client)
		_ = client.Client.ExpectClosed()
		client.Close()
		var warnings []string
		for _, l := range linesSince(t, ts) {
			if l.Level >= zapcore.WarnLevel {
				warnings = append(warnings, l.Message)
			}
		}
		if len(warnings) != 1 {
			t.Errorf("%s: warnings %q, want one", c.what, warnings)
		}
	}
}
