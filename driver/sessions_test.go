package driver_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// What a session holds while it is idle: one descriptor (its socket), the
// home's directory handle being shared by the sessions of that home.

// loginMany logs n sessions of user in, a few at a time from different
// loopback addresses (the guard checks one password per address at once),
// and closes them when the test ends.
func loginMany(t testing.TB, addr, user, pass string, n int) []*ftptest.Client {
	t.Helper()
	clients := make([]*ftptest.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := ftptest.Dialer{Local: loopback(2 + i%8), Timeout: 30 * time.Second}
			clients[i], errs[i] = d.Login(addr, user, pass)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d of %d: %v", i+1, n, err)
		}
	}
	return clients
}

// TestSessionsOfAHomeShareItsDescriptor: n logged-in sessions of one user
// add n server descriptors (their sockets), not 2n (a socket and a handle
// of the home each); the client's n sockets are in this process too.
// Once they quit, the home's handle is closed with the last one.
func TestSessionsOfAHomeShareItsDescriptor(t *testing.T) {
	const n = 200
	raiseFDLimit(t, 8*n+1024)
	ts := startServer(t, func(c *config.Config) { c.Server.MaxConnections = 0 })
	before := openFDs(t)
	clients := loginMany(t, ts.Addr, userName, userPass, n)
	added := openFDs(t) - before
	if server := added - n; server > n+10 {
		t.Errorf("%d sessions of %s added %d server descriptors, want about %d (one each)", n, userName, server, n)
	}
	// Every session still works in the shared home.
	ftptest.WriteFile(t, ts.AliceDir(), "shared.txt", []byte("one home"))
	for _, i := range []int{0, n / 2, n - 1} {
		got, err := clients[i].Retr("shared.txt")
		if err != nil {
			t.Fatalf("session %d: RETR: %v", i, err)
		}
		ftptest.MustSameData(t, "RETR in a shared home", got, []byte("one home"))
	}
	for _, c := range clients {
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	if !ftptest.Eventually(10*time.Second, func() bool { return openFDs(t) <= before+5 }) {
		t.Errorf("descriptors after every session quit: %d, before: %d", openFDs(t), before)
	}
}

// TestReplacedHomeIsOpenedAfresh: a home replaced on disk while a session
// holds it is the new directory for the next login (as if nobody shared
// it), while the session already in keeps the one it logged in to.
func TestReplacedHomeIsOpenedAfresh(t *testing.T) {
	ts := startServer(t, nil)
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("old home"))
	old := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if err := os.Rename(ts.AliceDir(), filepath.Join(ts.Root, "alice.moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(ts.AliceDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("new home"))
	fresh := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	ftptest.MustSameData(t, "RETR after login to the replaced home", fresh.Retr("f.txt"), []byte("new home"))
	ftptest.MustSameData(t, "RETR in the session that logged in before", old.Retr("f.txt"), []byte("old home"))
	fresh.Quit()
	old.Quit()
}
