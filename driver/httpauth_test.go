package driver_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/authtest"
	"ftpsd/internal/ftptest"
)

// Accounts of an HTTP authentication service ([auth.http]) beside the
// local ones: a real TLS service on loopback (internal/authtest) that
// checks the bearer token and the signature.

// withHTTPAuth asks sources in this order, "http" being svc.
func withHTTPAuth(svc *authtest.Service, sources ...string) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth.Sources = sources
		c.Auth.HTTP = svc.Config()
	}
}

// TestE2EHTTPAccount: an account of the service logs in with the fields
// it answered: its home (created), read_only (STOR refused 550), its
// quota (SITE QUOTA); a wrong password and an unknown user get 530.
func TestE2EHTTPAccount(t *testing.T) {
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set("bob", "bob-pw", map[string]any{"home": "partners/bob", "quota_bytes": "1KiB", "quota_files": 3})
	svc.Set("rita", "rita-pw", map[string]any{"home": "partners/rita", "read_only": true})
	ts := startServer(t, withHTTPAuth(svc, "local", "http"))

	c := ftptest.MustLogin(t, ts.Addr, "bob", "bob-pw")
	c.Stor("in.txt", []byte("from bob"))
	if got, err := os.ReadFile(filepath.Join(ts.Root, "partners", "bob", "in.txt")); err != nil || string(got) != "from bob" {
		t.Errorf("bob's upload on disk: %q, %v; want it in partners/bob", got, err)
	}
	if u := mustQuota(t, c); u.bytesLimit != 1024 || u.filesLimit != 3 || u.bytes != 8 || u.files != 1 {
		t.Errorf("bob's SITE QUOTA = %+v, want 8 of 1024 bytes, 1 of 3 files", u)
	}
	if got := metricValue(t, ts, `ftpsd_quota_limit_bytes{user="bob"}`); got != 1024 {
		t.Errorf("ftpsd_quota_limit_bytes of bob = %v, want 1024", got)
	}
	if n := ts.countLogs("login", map[string]any{"user": "bob", "result": "ok", "source": "http"}); n != 1 {
		t.Errorf("%d login lines for bob from http, want 1", n)
	}
	if req := svc.LastRequest(); req["client_ip"] != "127.0.0.1" || req["protocol"] != "ftps" {
		t.Errorf("the service got %v", req)
	}

	r := ftptest.MustLogin(t, ts.Addr, "rita", "rita-pw")
	r.Pasv(false)
	if reply := r.Cmd("STOR x.txt"); reply.Code != 550 {
		t.Errorf("STOR as read-only rita: %v, want 550", reply)
	}

	if reply, _ := passReply(t, ts.Addr, loopback(3), "bob", "guess-1234"); reply.Code != 530 {
		t.Errorf("bob with a wrong password: %v, want 530", reply)
	}
	if reply, _ := passReply(t, ts.Addr, loopback(4), "nobody", "x"); reply.Code != 530 {
		t.Errorf("a user no source knows: %v, want 530", reply)
	}
	if n := ts.countLogs("login failed", map[string]any{"user": "bob"}); n != 1 {
		t.Errorf("%d login failed lines for bob, want 1", n)
	}
	for _, e := range ts.Logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, "bob-pw") || strings.Contains(f.String, "guess-1234") {
				t.Errorf("a log line holds the password: %s %v", e.Message, e.Context)
			}
		}
	}
}

// TestE2EHTTPAccountRefusedHome: a home outside storage.root answered by
// the service is refused (421, the service answered nonsense).
func TestE2EHTTPAccountRefusedHome(t *testing.T) {
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set("eve", "eve-pw", map[string]any{"home": "../outside"})
	ts := startServer(t, withHTTPAuth(svc, "http"))
	if reply, _ := passReply(t, ts.Addr, netip.Addr{}, "eve", "eve-pw"); reply.Code != 421 {
		t.Errorf("a home with ..: %v, want 421", reply)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(ts.Root), "outside")); err == nil {
		t.Error("the home outside the root was created")
	}
}

// TestE2EHTTPAccountUnavailable: the service too slow, refusing ftpsd's
// signature, or down answers 421 with one log line each, and never bans.
func TestE2EHTTPAccountUnavailable(t *testing.T) {
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set("bob", "bob-pw", nil)
	other := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(other, []byte("not the service's key"), 0o600); err != nil {
		t.Fatal(err)
	}
	edit := func(c *config.Config) {
		withHTTPAuth(svc, "http", "local")(c)
		c.Auth.HTTP.Timeout = config.Duration(300 * time.Millisecond)
		c.Security.MaxLoginFailures = 2
	}
	ts := startServer(t, edit)
	badSig := startServer(t, func(c *config.Config) { edit(c); c.Auth.HTTP.SecretFile = other })

	if reply, _ := passReply(t, badSig.Addr, netip.Addr{}, "bob", "bob-pw"); reply.Code != 421 {
		t.Errorf("signature refused by the service (401): %v, want 421", reply)
	}
	if n := badSig.countLogs("login deferred: account source unavailable", map[string]any{"user": "bob", "source": "http"}); n != 1 {
		t.Errorf("%d login deferred lines, want 1", n)
	}
	svc.SetDelay(time.Second)
	start := time.Now()
	// alice is local, but a source before "local" that cannot answer stops
	// the login: the directory being down lets no other account answer.
	for _, user := range []string{"bob", userName, "nobody"} {
		if reply, _ := passReply(t, ts.Addr, netip.Addr{}, user, "x"); reply.Code != 421 || !strings.Contains(reply.Msg, "try again later") {
			t.Errorf("%s with the service timing out: %v, want 421 try again later", user, reply)
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("3 logins with a timeout of 300ms took %v", took)
	}
	svc.SetDelay(0)
	svc.Stop()
	if reply, _ := passReply(t, ts.Addr, netip.Addr{}, "bob", "bob-pw"); reply.Code != 421 {
		t.Errorf("service down: %v, want 421", reply)
	}
	if g := ftptest.MustDial(t, ts.Addr).Greeting(); g.Code != 220 {
		t.Errorf("after 4 logins the service could not answer (max_login_failures = 2): greeting %v, want 220 (no ban)", g)
	}
	if got := metricValue(t, ts, `ftpsd_auth_requests_total{result="unavailable",source="http"}`); got != 4 {
		t.Errorf("ftpsd_auth_requests_total unavailable = %v, want 4", got)
	}
}

// TestE2EAccountSourcesOrder: an account of the same name locally and in
// the service: the first source in [auth] sources decides, and a wrong
// password there does not fall through to the other.
func TestE2EAccountSourcesOrder(t *testing.T) {
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set(userName, "http-pw", map[string]any{"home": "from-http"})
	for _, order := range [][]string{{"local", "http"}, {"http", "local"}} {
		mustOrderDecide(t, startServer(t, withHTTPAuth(svc, order...)), order, "http-pw", "from-http")
	}
}

// mustOrderDecide checks, on ts asking sources in order (local and
// another), that the first decides for alice, who is in both: the first
// one's password logs in to its home (the local alice's, or otherHome),
// the other's gets 530.
func mustOrderDecide(t *testing.T, ts *testServer, order []string, otherPass, otherHome string) {
	t.Helper()
	first, second, dir := userPass, otherPass, ts.AliceDir()
	if order[0] != "local" {
		first, second, dir = otherPass, userPass, filepath.Join(ts.Root, otherHome)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, first)
	c.Stor("order.txt", []byte(order[0]))
	if _, err := os.Stat(filepath.Join(dir, "order.txt")); err != nil {
		t.Errorf("order %v: the upload is not in %s's home: %v", order, order[0], err)
	}
	if r, _ := passReply(t, ts.Addr, loopback(5), userName, second); r.Code != 530 {
		t.Errorf("order %v: the other source's password: %v, want 530", order, r)
	}
}

// TestE2EHTTPAccountCache: with cache_ttl, logins within it ask the
// service once; a failure is not kept (an account made after it works at
// once); a reload empties the cache.
func TestE2EHTTPAccountCache(t *testing.T) {
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set("bob", "bob-pw", map[string]any{"home": "bob"})
	ts := startServer(t, func(c *config.Config) {
		withHTTPAuth(svc, "http")(c)
		c.Auth.CacheTTL = config.Duration(time.Minute)
	})
	for range 5 {
		ftptest.MustLogin(t, ts.Addr, "bob", "bob-pw").Quit()
	}
	if n := svc.Requests(); n != 1 {
		t.Errorf("5 logins within cache_ttl: %d requests to the service, want 1", n)
	}
	if got := metricValue(t, ts, `ftpsd_auth_cache_hits_total{source="http"}`); got != 4 {
		t.Errorf("ftpsd_auth_cache_hits_total = %v, want 4", got)
	}
	if reply, _ := passReply(t, ts.Addr, loopback(6), "carol", "carol-pw"); reply.Code != 530 {
		t.Fatalf("carol before her account: %v, want 530", reply)
	}
	svc.Set("carol", "carol-pw", nil)
	ftptest.Dialer{Local: loopback(7)}.MustLogin(t, ts.Addr, "carol", "carol-pw").Quit()
	open := ftptest.MustLogin(t, ts.Addr, "bob", "bob-pw")
	before := svc.Requests()
	if err := ts.Server.Reload(ts.Cfg); err != nil {
		t.Fatal(err)
	}
	ftptest.MustLogin(t, ts.Addr, "bob", "bob-pw").Quit()
	if n := svc.Requests(); n != before+1 {
		t.Errorf("a login after a reload made %d requests, want 1 (the cache emptied)", n-before)
	}
	// The reload kept bob's session: nothing of it is in [[users]].
	open.Do(200, "NOOP")
	if n := ts.countLogs("session closed by reload", nil); n != 0 {
		t.Errorf("a reload closed %d sessions of external accounts", n)
	}
}

// TestE2EHTTPAccountBan: failed logins of the service's accounts count
// toward a ban like local ones.
func TestE2EHTTPAccountBan(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the guard's delays of 3 failures (3.5s)")
	}
	t.Parallel()
	svc := authtest.Start(t)
	svc.Set("bob", "bob-pw", nil)
	ts := startServer(t, func(c *config.Config) {
		withHTTPAuth(svc, "http")(c)
		c.Security.MaxLoginFailures = 3
	})
	a := ftptest.Dialer{Local: loopback(8)}
	for range 3 {
		if reply, _ := passReply(t, ts.Addr, a.Local, "bob", "wrong"); reply.Code != 530 {
			t.Fatalf("wrong password: %v, want 530", reply)
		}
	}
	if g := mustConnect(t, a, ts.Addr).Greeting(); g.Code != 421 {
		t.Errorf("after 3 failures through http: greeting %v, want 421 (banned)", g)
	}
}

// TestE2EAccountSourcesTiming: a wrong password answered by the first
// source takes as long as an unknown user, asked about in every source:
// the client cannot tell which users exist. The bound is the one local
// accounts alone meet (measured first, with the same bound). The service
// is made slow (150ms) so that a failure that skipped it would be that
// much faster.
func TestE2EAccountSourcesTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 30 logins (about 20s)")
	}
	const delay, bound = 150 * time.Millisecond, 50 * time.Millisecond
	next := 20
	// measure returns the median time of 6 wrong logins of user on ts.
	measure := func(ts *testServer, user string) time.Duration {
		var took []time.Duration
		for range 6 {
			// A fresh address each time: each failure is its first, with
			// the same guard delay.
			reply, d := passReply(t, ts.Addr, loopback(next), user, "wrong")
			next++
			if reply.Code != 530 {
				t.Fatalf("%s: %v, want 530", user, reply)
			}
			took = append(took, d)
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		return took[len(took)/2]
	}
	within := func(what string, d, unknown time.Duration) {
		t.Helper()
		if diff := max(d-unknown, unknown-d); diff > bound {
			t.Errorf("%s %v vs unknown user %v: %v apart, want within %v", what, d, unknown, diff, bound)
		}
	}
	local := startServer(t, func(c *config.Config) { c.Security.MaxLoginFailures = 0 })
	wrong, unknown := measure(local, userName), measure(local, "nobody")
	t.Logf("local alone, median failure: wrong password %v, unknown user %v", wrong, unknown)
	within("local alone: wrong password", wrong, unknown)

	svc := authtest.Start(t)
	svc.Set("bob", "bob-pw", nil)
	svc.SetDelay(delay)
	ts := startServer(t, func(c *config.Config) {
		withHTTPAuth(svc, "local", "http")(c)
		c.Security.MaxLoginFailures = 0
	})
	measure(ts, "nobody") // the chain learns the service's time
	wrongLocal, wrongHTTP, unknown := measure(ts, userName), measure(ts, "bob"), measure(ts, "nobody")
	t.Logf("local then http, median failure: wrong local password %v, wrong http password %v, unknown user %v", wrongLocal, wrongHTTP, unknown)
	within("wrong local password", wrongLocal, unknown)
	within("wrong http password", wrongHTTP, unknown)
}

// BenchmarkLoginHTTP: whole FTPS logins (connect, AUTH TLS, USER, PASS,
// PBSZ, PROT, QUIT) one after the other of an account of the HTTP
// service, answering at once or after 10ms (a service across a network),
// with cache_ttl off and on; reports logins/s and the service's requests
// per login.
func BenchmarkLoginHTTP(b *testing.B) {
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		for _, ttl := range []time.Duration{0, time.Minute} {
			b.Run(fmt.Sprintf("service=%v/cache_ttl=%v", delay, ttl), func(b *testing.B) {
				svc := authtest.Start(b)
				svc.Set("bob", "bob-pw", map[string]any{"home": "bob"})
				svc.SetDelay(delay)
				ts := startQuietServer(b, func(c *config.Config) {
					withHTTPAuth(svc, "http")(c)
					c.Auth.CacheTTL = config.Duration(ttl)
				})
				for b.Loop() {
					loginQuit(b, ts.Addr, "bob", "bob-pw")
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
				b.ReportMetric(float64(svc.Requests())/float64(b.N), "requests/login")
			})
		}
	}
}
