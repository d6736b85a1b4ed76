package main

import (
	"bytes"
	"encoding"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// TestReloadAllOrNothing: a reload whose last component fails (a new
// user's home cannot be created) changes nothing (certificate, users,
// banner, log level stay); once it can be applied, everything is, and the
// log line says what.
func TestReloadAllOrNothing(t *testing.T) {
	f := newFixture(t, 2)
	f.write(f.config("", "", "alice"))
	s, addr := f.start()
	certA := f.leaf()

	// Cert B in new files (the certificate watch only follows the files in
	// use), bob, a new banner and log level, and bob's home blocked by a
	// regular file.
	dirB := filepath.Join(f.dir, "b")
	if err := os.Mkdir(dirB, 0o750); err != nil {
		t.Fatal(err)
	}
	pairB := testcert.SelfSigned(t, "ftpsd test B")
	certB, keyB := pairB.Write(t, dirB)
	next := f.config("", "", "alice", "bob")
	next = strings.Replace(next, `banner = "lifecycle test"`, `banner = "after reload"`, 1)
	next = strings.Replace(next, `level = "info"`, `level = "debug"`, 1)
	next = strings.Replace(next, f.certFile, certB, 1)
	next = strings.Replace(next, f.keyFile, keyB, 1)
	// First the certificate's step fails (its key file is missing)...
	f.write(strings.Replace(next, keyB, keyB+".missing", 1))
	s.reload(t)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, 10*time.Second)
	if c := rejected.str("component"); c != "certificate" {
		t.Fatalf("rejected component %q, want certificate", c)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bob")); err == nil {
		t.Fatal("a reload rejected at its certificate created bob's home")
	}
	// ...then the server's step (bob's home is blocked by a regular file).
	blocker := filepath.Join(f.root, "bob")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(next)
	s.reload(t)
	rejected = s.waitLog(t, "reload rejected; the running configuration stays", 2, 10*time.Second)
	if c := rejected.str("component"); c != "users, homes and banner" {
		t.Fatalf("rejected component %q", c)
	}
	checkServes(t, addr, certA, "lifecycle test")
	ftptest.MustLogin(t, addr, "alice", password("alice")).Quit()
	c := ftptest.MustDial(t, addr)
	c.AuthTLS()
	if err := c.Client.Login("bob", password("bob")); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob after a rejected reload: %v, want 530", err)
	}
	c.Close()
	if n := len(s.logs("session opened")); n != 0 {
		t.Fatalf("%d debug lines after a rejected reload: the log level changed", n)
	}

	// Unblocked: everything is applied.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	s.reload(t)
	reloaded := s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	applied := reloaded.strs("applied")
	for _, key := range []string{"users", "server.banner", "tls.cert_file", "tls.key_file", "log.level"} {
		if !slices.Contains(applied, key) {
			t.Errorf("applied = %v, want %s among them", applied, key)
		}
	}
	checkServes(t, addr, pairB.Cert.Raw, "after reload")
	ftptest.MustLogin(t, addr, "bob", password("bob")).Quit()
	if n := len(s.logs("session opened")); n == 0 {
		t.Fatal("no debug line after the reload to log.level = \"debug\"")
	}

	// The same file again: nothing changed, and the line says so.
	s.reload(t)
	same := s.waitLog(t, "configuration reloaded", 2, 10*time.Second)
	if got, ok := same["nothing_changed"].(bool); !ok || !got || len(same.strs("applied")) != 0 {
		t.Fatalf("reload of an unchanged file: %v", same)
	}
	s.terminate(t)
}

// checkServes checks the certificate and the banner of new connections.
func checkServes(t *testing.T, addr string, leafDER []byte, banner string) {
	t.Helper()
	if leaf := leafOf(t, addr); !bytes.Equal(leaf.Raw, leafDER) {
		t.Fatalf("a new handshake presents %q, want another certificate", leaf.Subject.CommonName)
	}
	c := ftptest.MustDial(t, addr)
	defer c.Close()
	if g := c.Greeting(); !strings.Contains(g.Msg, banner) {
		t.Fatalf("greeting %q, want 220 %q", g, banner)
	}
}

// TestReloadRevokesLoginsInFlight: a SIGHUP that removes an account, or
// makes it read-only, while 8 of its logins wait for their password checks
// (one address: they take their turns one after the other) leaves none of
// them able to store a file. Each login is refused (530), or admitted and
// then closed by the reload (421), or, when the account stays read-only,
// admitted with the new setting (STOR 550).
func TestReloadRevokesLoginsInFlight(t *testing.T) {
	testenv.FullTier(t, "16 slow password checks in two processes")
	for _, tc := range []struct {
		name     string
		after    func(f *fixture) string // the file the reload reads
		readOnly bool
	}{
		{"removed", func(f *fixture) string { return f.config("", "", "alice") }, false},
		{"read_only", func(f *fixture) string {
			return strings.Replace(f.config("", "", "alice", "bob"), "home = \"bob\"\n", "home = \"bob\"\nread_only = true\n", 1)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testReloadDuringLogins(t, tc.after, tc.readOnly) })
	}
}

// loginsInFlight is how many logins of the account wait at the reload.
const loginsInFlight = 8

// slowCost is bob's bcrypt cost: one check takes about 0.1 s (0.3 s under
// the race detector), so that 8 of them in a row outlast the reload.
func slowCost() int {
	if raceEnabled {
		return 7
	}
	return 10
}

// loginReply is the reply of one PASS and when it came.
type loginReply struct {
	i     int
	reply ftptest.Reply
	err   error
	at    time.Time
}

func testReloadDuringLogins(t *testing.T, reloaded func(*fixture) string, readOnly bool) {
	f := newFixture(t, 2*loginsInFlight)
	hash, err := bcrypt.GenerateFromPassword([]byte(password("bob")), slowCost())
	if err != nil {
		t.Fatal(err)
	}
	f.hashes["bob"] = string(hash)
	before := f.config("", "", "alice", "bob")
	f.write(before)
	s, addr := f.start()
	after := reloaded(f)
	if after == before {
		t.Fatal("the reload's file is the running one")
	}

	clients := make([]*ftptest.MustClient, loginsInFlight)
	for i := range clients {
		c := ftptest.MustDial(t, addr)
		c.AuthTLS()
		c.Do(331, "USER bob")
		clients[i] = c
	}
	f.write(after)
	for _, c := range clients {
		c.Send("PASS %s", password("bob"))
	}
	sent := time.Now()
	replies := make(chan loginReply, len(clients))
	for i, c := range clients {
		go func() {
			r, err := c.Client.Reply()
			replies <- loginReply{i: i, reply: r, err: err, at: time.Now()}
		}()
	}
	// The first check is done: the others wait behind it.
	first, ok := ftptest.Receive(replies, 2*ftptest.DefaultTimeout)
	if !ok {
		t.Fatal("no PASS answered")
	}
	hup := time.Now()
	s.reload(t)
	s.waitLog(t, "configuration reloaded", 1, 30*time.Second)
	applied := time.Now()
	got := []loginReply{first}
	for range len(clients) - 1 {
		r, ok := ftptest.Receive(replies, 2*ftptest.DefaultTimeout)
		if !ok {
			t.Fatal("a PASS was never answered")
		}
		got = append(got, r)
	}
	t.Logf("first reply %v after the PASSes; reload logged %v after SIGHUP", hup.Sub(sent), applied.Sub(hup))

	late := 0
	for _, r := range got {
		if r.at.After(applied) {
			late++
		}
		c := clients[r.i]
		t.Logf("login %d: %q (%v), %v after SIGHUP", r.i, r.reply, r.err, r.at.Sub(hup))
		switch {
		case r.err != nil:
			t.Errorf("login %d: %v", r.i, r.err)
		case r.reply.Code == 530 || r.reply.Code == 421:
		case r.reply.Code == 230:
			outcome, err := storeAfterReload(c.Client, fmt.Sprintf("escaped-%d.txt", r.i), readOnly)
			if err != nil {
				t.Errorf("login %d, answered 230 %v after SIGHUP: %v", r.i, r.at.Sub(hup), err)
			} else {
				t.Logf("login %d then: %s", r.i, outcome)
			}
		default:
			t.Errorf("login %d answered %q, want 230, 421 or 530", r.i, r.reply)
		}
		_ = c.Close()
	}
	if late == 0 {
		t.Fatalf("every login was answered before the reload was logged: none was in flight (bob's bcrypt cost %d is too low here)", slowCost())
	}
	if names := ftptest.DirNames(t, filepath.Join(f.root, "bob")); len(names) != 0 {
		t.Errorf("bob's home after the reload holds %v, want nothing", names)
	}
	s.terminate(t)
}

// storeAfterReload tries to store name on c, logged in before or during a
// reload that changed its account, and says what happened. It returns an
// error unless the session was closed by the reload (421, then the end of
// the connection) or, readOnly, it refused the upload (550).
func storeAfterReload(c *ftptest.Client, name string, readOnly bool) (string, error) {
	r, err := c.Cmd("PBSZ 0")
	switch {
	case err != nil:
		return "", err
	case r.Code == 421:
		if !strings.Contains(r.Msg, "Account changed by the administrator") {
			return "", fmt.Errorf("421 %q is not the reload's", r.Msg)
		}
		return "closed by the reload: " + r.String(), c.ExpectClosed()
	case r.Code != 200:
		return "", fmt.Errorf("PBSZ answered %q", r)
	}
	if _, err := c.Do(200, "PROT P"); err != nil {
		return "", err
	}
	err = c.Stor(name, []byte("written after the reload\n"))
	switch {
	case err == nil:
		return "", fmt.Errorf("stored %s after the reload", name)
	case readOnly && strings.Contains(err.Error(), "got 550"):
		return "upload refused: " + err.Error(), nil
	}
	return "", fmt.Errorf("STOR after the reload: %w, want 550 (read-only) or 421 before", err)
}

// TestReloadStepKeys: the keys the reload steps declare are keys of the
// configuration (a misspelt one would leave its key needing a restart
// while the step applies it), each declared by one step only; and
// reloadable answers from them: a declared key is applied, any other
// needs a restart.
func TestReloadStepKeys(t *testing.T) {
	known := map[string]bool{"users": true}
	var walk func(reflect.Type, string)
	walk = func(st reflect.Type, prefix string) {
		for i := range st.NumField() {
			name, _, _ := strings.Cut(st.Field(i).Tag.Get("toml"), ",")
			ft := st.Field(i).Type
			if ft.Kind() == reflect.Struct && !ft.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
				walk(ft, prefix+name+".")
				continue
			}
			known[prefix+name] = true
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	steps := (&daemon{}).reloadSteps()
	seen := map[string]string{}
	for _, s := range steps {
		for _, k := range s.keys {
			if !known[k] {
				t.Errorf("step %q declares %q, not a configuration key", s.name, k)
			}
			if other, ok := seen[k]; ok {
				t.Errorf("%q declared by steps %q and %q", k, other, s.name)
			}
			seen[k] = s.name
			if !reloadable(steps, k) {
				t.Errorf("reloadable(%q) = false for a declared key", k)
			}
		}
	}
	for _, k := range []string{"server.idle_timeout", "storage.root", "server.listen"} {
		if !known[k] {
			t.Fatalf("%q is not a configuration key", k)
		}
		if reloadable(steps, k) {
			t.Errorf("reloadable(%q) = true; it needs a restart", k)
		}
	}
}

// TestReloadAppliesAccountPolicy: a SIGHUP that disables one account,
// sets another's expires to a past date (a TOML date, unquoted) and
// limits a third to another address closes their open sessions with 421
// and refuses their next logins with 530; a fourth account's session goes
// on, and the third logs in from its new address.
func TestReloadAppliesAccountPolicy(t *testing.T) {
	f := newFixture(t, 4)
	users := []string{"alice", "bob", "carol", "dave"}
	f.write(f.config("", "", users...))
	s, addr := f.start()
	sessions := map[string]*ftptest.MustClient{}
	for _, u := range users {
		c := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, addr, u, password(u))
		c.Do(257, "PWD")
		sessions[u] = c
	}

	reasons := map[string]string{
		"alice": "account disabled",
		"bob":   "account expired",
		"carol": "address not in allowed_networks",
	}
	next := f.config("", "", users...)
	for u, key := range map[string]string{
		"alice": "disabled = true",
		"bob":   "expires = 2000-01-01",
		"carol": `allowed_networks = ["127.0.0.2/32"]`,
	} {
		block := fmt.Sprintf("home = %q\n", u)
		next = strings.Replace(next, block, block+key+"\n", 1)
	}
	f.write(next)
	s.reload(t)
	for u, why := range reasons {
		r := sessions[u].Expect(421, u+"'s session after the reload")
		if !strings.Contains(r.Msg, why) {
			t.Errorf("%s: 421 %q does not say %q", u, r.Msg, why)
		}
		sessions[u].ExpectClosed()
	}
	sessions["dave"].Do(200, "NOOP")
	reloaded := s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	if !slices.Contains(reloaded.strs("applied"), "users") {
		t.Errorf("applied = %v, want users among them", reloaded.strs("applied"))
	}

	for u := range reasons {
		if _, err := (ftptest.Dialer{Timeout: 10 * time.Second}).Login(addr, u, password(u)); err == nil || !strings.Contains(err.Error(), "530") {
			t.Errorf("%s after the reload: %v, want 530", u, err)
		}
	}
	ftptest.Dialer{Local: netip.MustParseAddr("127.0.0.2"), Timeout: 10 * time.Second}.MustLogin(t, addr, "carol", password("carol")).Quit()
	s.waitLog(t, "login refused", len(reasons), 10*time.Second)
	for _, l := range s.logs("login refused") {
		if u := l.str("user"); l.str("reason") != reasons[u] || l.str("client") != "127.0.0.1" {
			t.Errorf("login refused line %v, want user %s's reason %q and client 127.0.0.1", l, u, reasons[u])
		}
	}
	if n := len(s.logs("session closed by reload")); n != len(reasons) {
		t.Errorf("%d session closed by reload lines, want %d", n, len(reasons))
	}
	sessions["dave"].Quit()
	s.terminate(t)
}
