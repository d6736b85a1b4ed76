package driver_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/internal/ftptest"
	"ftpsd/tlsconf"
)

// TestNewServerFailureLeaksNothing: when binding server.listen fails,
// NewServer must stop what it started (the public address refresh loop).
func TestNewServerFailureLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.Passive.PublicAddress = "localhost" // a DNS name: refreshed in the background
	cfg.Passive.PublicAddressRefresh = config.Duration(time.Hour)
	for _, edit := range []func(*config.Config){
		func(c *config.Config) { c.Server.Listen = taken.Addr().String() },
		func(c *config.Config) { c.Server.ImplicitListen = taken.Addr().String() },
	} {
		bad := cfg
		edit(&bad)
		if _, err := driver.NewServer(bad, testTLSConfig(t), zaptest.NewLogger(t)); err == nil {
			t.Fatalf("NewServer on a taken address succeeded")
		}
	}
}

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return store.Config()
}

// TestReloadKeepsMemoryStorage: a reload whose [storage] did not change
// keeps the storage as it is; with backend "memory" the files stay.
func TestReloadKeepsMemoryStorage(t *testing.T) {
	cfg := testConfig(t)
	cfg.Storage = config.Storage{Backend: config.BackendMemory}
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// A nop logger: sessions may still log after the test ended.
	srv, err := driver.NewServer(cfg, store.Config(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	defer func() {
		srv.Close()
		<-done
	}()
	content := []byte("kept across SIGHUP\n")
	c := dialGo(t, srv.Addr().String())
	if err := c.Login(userName, userPass); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("kept.txt", bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}

	next := cfg
	next.Server.Banner = "reloaded"
	next.Users = append(slices.Clone(cfg.Users), config.User{Name: "bob", PasswordHash: ftptest.HashPassword(t, "bob-secret"), Home: "bob"})
	if err := srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	c2 := dialGo(t, srv.Addr().String())
	if err := c2.Login(userName, userPass); err != nil {
		t.Fatal(err)
	}
	r, err := c2.Retr("kept.txt")
	if err != nil {
		t.Fatalf("file uploaded before the reload: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("after reload: %q, %v; want %q", got, err, content)
	}
	bob := dialGo(t, srv.Addr().String())
	if err := bob.Login("bob", "bob-secret"); err != nil {
		t.Fatalf("user added by the reload: %v", err)
	}
}

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
