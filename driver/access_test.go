package driver_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpsd/config"
	"ftpsd/guard"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The account policy: allowed_networks, expires and disabled. The server
// listens on 127.0.0.1; a client from 127.0.0.2 (or another loopback
// address) is outside an account allowed 127.0.0.1/32 only.

// The reasons of the "login refused" lines and of
// ftpsd_logins_refused_total.
const (
	reasonNetwork  = "address not in allowed_networks"
	reasonExpired  = "account expired"
	reasonDisabled = "account disabled"
)

// onlyFrom limits account i of c to the networks given.
func onlyFrom(c *config.Config, i int, cidrs ...string) {
	nets := make([]netip.Prefix, len(cidrs))
	for j, s := range cidrs {
		nets[j] = netip.MustParsePrefix(s)
	}
	c.Users[i].AllowedNetworks = &nets
}

// expiry returns t as the value of an expires key.
func expiry(t testing.TB, at time.Time) config.Expiry {
	t.Helper()
	e, err := config.ParseExpiry(at.Format(time.RFC3339Nano), time.Local)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// passReply logs in from local with pass and returns the reply to PASS
// and how long it took to come.
func passReply(t *testing.T, addr string, local netip.Addr, user, pass string) (ftptest.Reply, time.Duration) {
	t.Helper()
	c := ftptest.Dialer{Local: local, Timeout: 10 * time.Second}.MustDial(t, addr)
	c.AuthTLS()
	c.Do(331, "USER %s", user)
	start := time.Now()
	r := c.Cmd("PASS %s", pass)
	return r, time.Since(start)
}

// TestAllowedNetworksRefusesOutsideLogins: the right password from outside
// allowed_networks gets the very reply of a wrong password, after the
// guard's failure delay (the password is checked first: the refusal tells
// nothing about the password), with one "login refused" line naming the
// client and counted by reason; from inside the login works, and an
// account without allowed_networks logs in from anywhere.
func TestAllowedNetworksRefusesOutsideLogins(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.Security.MaxLoginFailures = 0 // this test is not about bans
		onlyFrom(c, 0, "127.0.0.1/32")
	})
	outside := loopback(2)
	wrong, _ := passReply(t, ts.Addr, outside, userName, "wrong")
	right, took := passReply(t, ts.Addr, outside, userName, userPass)
	if right.Code != 530 || right != wrong {
		t.Errorf("right password from %s: %q; want the reply of a wrong password, %q", outside, right, wrong)
	}
	if took < guard.DefaultBaseDelay {
		t.Errorf("the refusal came after %v, before the failure delay of a wrong password (%v)", took, guard.DefaultBaseDelay)
	}
	if n := ts.countLogs("login refused", map[string]any{"user": userName, "client": outside.String(), "reason": reasonNetwork}); n != 1 {
		t.Errorf("%d login refused lines for %s from %s, want 1: %v", n, userName, outside, ts.Logs.FilterMessage("login refused").All())
	}
	if n := ts.countLogs("login failed", map[string]any{"user": userName, "reason": "bad password"}); n != 1 {
		t.Errorf("%d login failed lines, want 1 (the wrong password)", n)
	}
	if got := metricValue(t, ts, `ftpsd_logins_refused_total{reason="allowed_networks"}`); got != 1 {
		t.Errorf("ftpsd_logins_refused_total{reason=\"allowed_networks\"} = %v, want 1", got)
	}

	ftptest.Dialer{Local: loopback(1)}.MustLogin(t, ts.Addr, userName, userPass).Quit()
	ftptest.Dialer{Local: outside}.MustLogin(t, ts.Addr, readerName, readerPass).Quit()
}

// TestAllowedNetworksBans: a wrong password from outside allowed_networks
// counts toward a ban of the address, the right one neither counts nor
// forgets the failures before it (as a successful login would). Each
// refusal lengthens the next delay as a failure does: two addresses keep
// the test short.
func TestAllowedNetworksBans(t *testing.T) {
	testenv.FullTier(t, "5 s of login-failure delays")
	t.Parallel()
	const maxFailures = 2
	ts := startServer(t, func(c *config.Config) {
		c.Security.MaxLoginFailures = maxFailures
		onlyFrom(c, 0, "127.0.0.1/32")
	})
	attempt := func(from netip.Addr, pass string) {
		t.Helper()
		if r, _ := passReply(t, ts.Addr, from, userName, pass); r.Code != 530 {
			t.Fatalf("PASS %s from %s: %q, want 530", pass, from, r)
		}
	}
	greeting := func(a netip.Addr) int { return mustConnect(t, ftptest.Dialer{Local: a}, ts.Addr).Greeting().Code }

	a := loopback(3)
	for range maxFailures {
		attempt(a, userPass)
	}
	if g := greeting(a); g != 220 {
		t.Fatalf("after %d right passwords from outside allowed_networks: greeting %d, want 220 (not banned)", maxFailures, g)
	}

	b := loopback(4)
	attempt(b, "wrong")
	attempt(b, userPass) // does not reset the count, as a login would
	attempt(b, "wrong")
	if g := greeting(b); g != 421 {
		t.Fatalf("after %d wrong passwords from outside allowed_networks: greeting %d, want 421 (banned)", maxFailures, g)
	}
	if got := metricValue(t, ts, "ftpsd_bans_total"); got != 1 {
		t.Errorf("ftpsd_bans_total = %v, want 1", got)
	}
	if got := metricValue(t, ts, `ftpsd_logins_refused_total{reason="allowed_networks"}`); got != maxFailures+1 {
		t.Errorf("refusals counted %v, want %d", got, maxFailures+1)
	}
}

// TestE2EAllowedNetworksClients: curl, Python's ftplib and the
// jlaffaye/ftp Go client, from 127.0.0.2 (curl --interface, ftplib's
// source_address, the Go dialer's LocalAddr), are refused with 530 for an
// account allowed 127.0.0.1/32 only, and log in and download from
// 127.0.0.1.
func TestE2EAllowedNetworksClients(t *testing.T) {
	curl := testenv.NeedTool(t, "curl", "curl")
	ts := startServer(t, func(c *config.Config) { onlyFrom(c, 0, "127.0.0.1/32") })
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("partner data\n"))
	url := "ftp://" + ts.Addr + "/f.txt"
	curlFrom := func(local string) (string, string, error) {
		return runToolErr(t, t.TempDir(), curl, append(curlBase(userName, userPass), "--interface", local, url)...)
	}
	if out, trace, err := curlFrom("127.0.0.2"); err == nil || !strings.Contains(trace, "< 530") {
		t.Errorf("curl from 127.0.0.2: err %v, output %q; want a 530 to PASS\n%s", err, out, tail(trace, 20))
	}
	if out, trace, err := curlFrom("127.0.0.1"); err != nil || out != "partner data\n" {
		t.Errorf("curl from 127.0.0.1: err %v, output %q; want the file\n%s", err, out, tail(trace, 20))
	}

	work := t.TempDir()
	if res := runFtplib(t, ts, userName, userPass, "--source", "127.0.0.2"); !strings.HasPrefix(res.LoginError, "530") {
		t.Errorf("ftplib from 127.0.0.2: %+v, want a 530 login error", res)
	}
	res := runFtplib(t, ts, userName, userPass, "--source", "127.0.0.1", "--get", "f.txt", "--download", filepath.Join(work, "f.txt"))
	if !strings.HasPrefix(res.Login, "230") || res.RetrBytes != len("partner data\n") {
		t.Errorf("ftplib from 127.0.0.1: %+v, want login 230 and the file", res)
	}
	goFrom := func(local string) *ftp.ServerConn {
		return dialGo(t, ts.Addr, ftp.DialWithDialer(net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}))
	}
	if err := goFrom("127.0.0.2").Login(userName, userPass); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("jlaffaye/ftp from 127.0.0.2: %v, want 530", err)
	}
	c := goFrom("127.0.0.1")
	if err := c.Login(userName, userPass); err != nil {
		t.Errorf("jlaffaye/ftp from 127.0.0.1: %v", err)
	} else if got, err := retrString(c, "f.txt"); err != nil || got != "partner data\n" {
		t.Errorf("jlaffaye/ftp from 127.0.0.1: RETR %q, %v; want the file", got, err)
	}
	if n := ts.countLogs("login refused", map[string]any{"client": "127.0.0.2", "reason": reasonNetwork}); n != 3 {
		t.Errorf("%d login refused lines for 127.0.0.2, want 3 (curl, ftplib, jlaffaye/ftp)", n)
	}
}

// TestE2EProxyAllowedNetworks: behind the PROXY protocol the client the
// header names is checked against allowed_networks, not the balancer.
func TestE2EProxyAllowedNetworks(t *testing.T) {
	t.Parallel()
	ts := startProxied(t, func(c *config.Config) {
		onlyFrom(c, 0, client.String()+"/32")
		onlyFrom(c, 1, balancer.String()+"/32")
	})
	viaBalancer(client).MustLogin(t, ts.Addr, userName, userPass).Quit()
	if _, err := viaBalancer(stranger).Login(ts.Addr, userName, userPass); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("login of %s from %s through the balancer: %v, want 530", userName, stranger, err)
	}
	if _, err := viaBalancer(client).Login(ts.Addr, readerName, readerPass); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("login of %s (allowed the balancer's address) from %s: %v, want 530", readerName, client, err)
	}
	if n := ts.countLogs("login refused", map[string]any{"client": stranger.String(), "reason": reasonNetwork}); n != 1 {
		t.Errorf("%d login refused lines naming %s, want 1", n, stranger)
	}
}

// TestExpiredAndDisabledAccounts: an expired or disabled account is
// refused with the reply of a wrong password, after the password check
// and the failure delay, and without counting toward a ban; a wrong
// password for one counts toward a ban as any other (with
// max_login_failures = 1 it bans the address at once).
func TestExpiredAndDisabledAccounts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.Security.MaxLoginFailures = 1
		c.Users[0].Disabled = true
		c.Users[1].Expires = expiry(t, time.Now().Add(-time.Minute))
	})
	wrong, _ := passReply(t, ts.Addr, loopback(10), "nobody", "wrong")
	greeting := func(a netip.Addr) int { return mustConnect(t, ftptest.Dialer{Local: a}, ts.Addr).Greeting().Code }
	for i, c := range []struct {
		user, pass, reason, series string
	}{
		{userName, userPass, reasonDisabled, "disabled"},
		{readerName, readerPass, reasonExpired, "expires"},
	} {
		right, wrongPass := loopback(11+2*i), loopback(12+2*i)
		r, took := passReply(t, ts.Addr, right, c.user, c.pass)
		if r != wrong {
			t.Errorf("%s (%s): %q, want the reply of a wrong password, %q", c.user, c.reason, r, wrong)
		}
		if took < guard.DefaultBaseDelay {
			t.Errorf("%s: refused after %v, before the failure delay (%v)", c.user, took, guard.DefaultBaseDelay)
		}
		if n := ts.countLogs("login refused", map[string]any{"user": c.user, "client": right.String(), "reason": c.reason}); n != 1 {
			t.Errorf("%d login refused lines for %s with reason %q, want 1: %v", n, c.user, c.reason, ts.Logs.FilterMessage("login refused").All())
		}
		if got := metricValue(t, ts, `ftpsd_logins_refused_total{reason="`+c.series+`"}`); got != 1 {
			t.Errorf("ftpsd_logins_refused_total{reason=%q} = %v, want 1", c.series, got)
		}
		if g := greeting(right); g != 220 {
			t.Errorf("%s after the right password of %s (%s): greeting %d, want 220 (not banned)", right, c.user, c.reason, g)
		}
		if r, _ := passReply(t, ts.Addr, wrongPass, c.user, "wrong"); r != wrong {
			t.Errorf("%s (%s), wrong password: %q, want %q", c.user, c.reason, r, wrong)
		}
		if g := greeting(wrongPass); g != 421 {
			t.Errorf("%s after a wrong password of %s (%s): greeting %d, want 421 (banned)", wrongPass, c.user, c.reason, g)
		}
	}
}

// reloadWith reloads ts with its configuration changed by edit.
func reloadWith(t *testing.T, ts *testServer, edit func(*config.Config)) {
	t.Helper()
	next := ts.Cfg
	next.Users = slices.Clone(ts.Cfg.Users)
	edit(&next)
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.Reload(next); err != nil {
		t.Fatal(err)
	}
	ts.Cfg = next
}

// mustBeClosedFor expects the 421 that ends c, saying why.
func mustBeClosedFor(t *testing.T, c *ftptest.MustClient, why string) {
	t.Helper()
	if r := c.Expect(421, "reply of a session closed by the server"); !strings.Contains(r.Msg, why) {
		t.Errorf("421 %q does not say %q", r.Msg, why)
	}
	c.ExpectClosed()
}

// TestReloadClosesSessionsByPolicy: a reload that disables an account,
// expires it, or leaves a session's client outside its allowed_networks
// closes those sessions with 421; the others go on.
func TestReloadClosesSessionsByPolicy(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	login := func(local netip.Addr, user, pass string) *ftptest.MustClient {
		c := ftptest.Dialer{Local: local, Timeout: 5 * time.Second}.MustLogin(t, ts.Addr, user, pass)
		c.Do(257, "PWD")
		return c
	}
	inside, outside := login(loopback(1), userName, userPass), login(loopback(2), userName, userPass)
	reader := login(loopback(1), readerName, readerPass)

	reloadWith(t, ts, func(c *config.Config) { onlyFrom(c, 0, "127.0.0.1/32") })
	mustBeClosedFor(t, outside, reasonNetwork)
	inside.Do(200, "NOOP")
	reader.Do(200, "NOOP")

	reloadWith(t, ts, func(c *config.Config) { c.Users[1].Disabled = true })
	mustBeClosedFor(t, reader, reasonDisabled)
	inside.Do(200, "NOOP")

	reloadWith(t, ts, func(c *config.Config) { c.Users[0].Expires = expiry(t, time.Now().Add(-time.Second)) })
	mustBeClosedFor(t, inside, reasonExpired)

	var got []string
	for _, l := range ts.Logs.FilterMessage("session closed by reload").All() {
		got = append(got, l.ContextMap()["reason"].(string)+"/"+l.ContextMap()["user"].(string))
	}
	want := []string{reasonNetwork + "/" + userName, reasonDisabled + "/" + readerName, reasonExpired + "/" + userName}
	if !slices.Equal(got, want) {
		t.Errorf("session closed by reload lines %v, want %v", got, want)
	}
}

// TestSessionClosedAtExpiry: a session open when its account's expires
// passes gets 421 then, not before; a reload that moves the expiry moves
// the closing (later: the session outlives the old time; earlier: it is
// closed at the new one).
func TestSessionClosedAtExpiry(t *testing.T) {
	testenv.FullTier(t, "5 s waiting for an expiry")
	t.Parallel()
	soon := time.Now().Add(3 * time.Second) // time to log both in, even on a busy machine
	ts := startServer(t, func(c *config.Config) {
		c.Users[0].Expires = expiry(t, soon)
		c.Users[1].Expires = expiry(t, soon)
	})
	login := func(user, pass string) *ftptest.MustClient {
		c := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, user, pass)
		c.Do(257, "PWD")
		return c
	}
	alice, reader := login(userName, userPass), login(readerName, readerPass)
	reloadWith(t, ts, func(c *config.Config) { c.Users[1].Expires = expiry(t, time.Now().Add(time.Hour)) })

	mustBeClosedFor(t, alice, reasonExpired)
	if now := time.Now(); now.Before(soon) {
		t.Errorf("closed %v before the account expired", soon.Sub(now))
	}
	waitLogs(t, ts, "session closed at expiry", map[string]any{"user": userName}, 1)
	reader.Do(200, "NOOP") // its expiry moved an hour on

	later := time.Now().Add(2 * time.Second)
	reloadWith(t, ts, func(c *config.Config) { c.Users[1].Expires = expiry(t, later) })
	reader.Do(200, "NOOP")
	mustBeClosedFor(t, reader, reasonExpired)
	if now := time.Now(); now.Before(later) {
		t.Errorf("closed %v before the account expired", later.Sub(now))
	}
	if n := ts.countLogs("session closed by reload", nil); n != 0 {
		t.Errorf("%d sessions closed by the reloads, want 0 (closed at expiry)", n)
	}
}
