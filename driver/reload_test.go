package driver_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// TestReloadEndsSessionsOfChangedAccounts: a reload that removes a user,
// or changes what an account may do, closes that account's open sessions
// with a 421 and says so in the log; other sessions go on.
func TestReloadEndsSessionsOfChangedAccounts(t *testing.T) {
	s := startServer(t, nil)
	login := func(user, pass string) *ftptest.MustClient {
		c := ftptest.Dialer{Timeout: 5 * time.Second}.MustLogin(t, s.Addr, user, pass)
		c.Do(257, "PWD")
		return c
	}
	alice, reader := login(userName, userPass), login(readerName, readerPass)
	reload := func(edit func(*config.Config)) {
		t.Helper()
		next := s.Cfg
		next.Users = slices.Clone(s.Cfg.Users)
		edit(&next)
		if err := s.Server.Reload(next); err != nil {
			t.Fatal(err)
		}
		s.Cfg = next
	}
	ended := func(c *ftptest.MustClient, reason string) {
		t.Helper()
		if r := c.Expect(421, "reply after the reload"); !strings.Contains(r.Msg, reason) {
			t.Fatalf("421 %q does not say %q", r.Msg, reason)
		}
		c.ExpectClosed()
	}

	// A banner change touches no account: both sessions stay.
	reload(func(c *config.Config) { c.Server.Banner = "changed" })
	alice.Do(200, "NOOP")
	reader.Do(200, "NOOP")

	// The read-only account becomes writable: its session must log in again.
	reload(func(c *config.Config) { c.Users[1].ReadOnly = false })
	ended(reader, "read_only changed")
	alice.Do(200, "NOOP")

	// alice is removed.
	reload(func(c *config.Config) { c.Users = c.Users[1:] })
	ended(alice, "account removed")
	if c, err := (ftptest.Dialer{Timeout: 5 * time.Second}).Login(s.Addr, userName, userPass); err == nil {
		_ = c.Close()
		t.Fatal("the removed user logged in again")
	}

	lines := s.Logs.FilterMessage("session closed by reload").All()
	var reasons []string
	for _, l := range lines {
		reasons = append(reasons, l.ContextMap()["reason"].(string)+"/"+l.ContextMap()["user"].(string))
	}
	if want := []string{"read_only changed/" + readerName, "account removed/" + userName}; !slices.Equal(reasons, want) {
		t.Fatalf("log lines %v, want %v", reasons, want)
	}
}
