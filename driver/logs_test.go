package driver_test

import (
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

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
