package driver_test

import (
	"errors"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
)

// Logins: a good one, a wrong password and an unknown user, each with its
// reply and its log line.

func TestE2EGoClientLogin(t *testing.T) {
	ts := startServer(t, nil)
	c := loginGo(t, ts.Addr, userName, userPass)
	if err := c.NoOp(); err != nil {
		t.Fatalf("NOOP after login: %v", err)
	}
	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok", "user": userName}); len(got) != 1 {
		t.Fatalf("want one successful login log line for %s, got %d", userName, len(got))
	}
}

func TestE2EGoClientBadPassword(t *testing.T) {
	ts := startServer(t, nil)
	c := dialGo(t, ts.Addr)
	err := c.Login(userName, "not-the-password")
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), "530") {
		t.Fatalf("login error %q does not carry 530", err)
	}
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != 530 {
		t.Fatalf("login error %v: want a 530 reply", err)
	}
	failed := logsWith(ts.Logs, "login failed", map[string]any{"user": userName, "reason": "bad password"})
	if len(failed) != 1 {
		t.Fatalf("want one %q log line with reason \"bad password\", got %d: %v",
			"login failed", len(failed), ts.Logs.FilterMessage("login failed").All())
	}
	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok"}); len(got) != 0 {
		t.Fatalf("a failed login logged a successful one: %v", got)
	}

	// An unknown user gets the same reply, with its own reason in the log.
	c2 := dialGo(t, ts.Addr)
	if err := c2.Login("mallory", "x"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("login of an unknown user: %v, want a 530 reply", err)
	}
	if got := logsWith(ts.Logs, "login failed", map[string]any{"user": "mallory", "reason": "unknown user"}); len(got) != 1 {
		t.Fatalf("want one login failed line for the unknown user, got %d", len(got))
	}
}

func TestE2EPythonFtplibBadPassword(t *testing.T) {
	ts := startServer(t, nil)
	work := t.TempDir()
	local := ftptest.WriteFile(t, work, "up.bin", []byte("never stored"))
	res := runFtplib(t, ts, userName, "wrong", "--upload", local, "--remote", "nope.bin", "--download", filepath.Join(work, "back.bin"))
	if !strings.HasPrefix(res.LoginError, "530") {
		t.Fatalf("login with a wrong password: %+v, want a 530 error", res)
	}
	if got := logsWith(ts.Logs, "login failed", map[string]any{"user": userName, "reason": "bad password"}); len(got) != 1 {
		t.Fatalf("want one login failed log line, got %d", len(got))
	}
}
