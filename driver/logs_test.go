package driver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"ftpsd/control"
	"ftpsd/internal/ftptest"
	"ftpsd/metrics"
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

// TestRefusalLabels: the reasons control reports for refused connections
// are the label values the metrics pre-register.
func TestRefusalLabels(t *testing.T) {
	if control.CapMaxConnections != metrics.RefusedMaxConnections || control.CapMaxPerIP != metrics.RefusedMaxPerIP {
		t.Fatalf("control reports %q/%q, metrics label %q/%q", control.CapMaxConnections, control.CapMaxPerIP,
			metrics.RefusedMaxConnections, metrics.RefusedMaxPerIP)
	}
}
