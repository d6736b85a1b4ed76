package ldapauth_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/auth"
	"ftpsd/auth/ldapauth"
	"ftpsd/config"
	"ftpsd/internal/ldaptest"
)

const (
	partnersQuota = 10 << 20
	partnersFiles = int64(100)
)

// options are the Options of a source for srv over ldaps as the service
// account: partners get partners/{user} and a quota, readonly shared and
// read-only.
func options(srv *ldaptest.Server) ldapauth.Options {
	files := partnersFiles
	return ldapauth.Options{
		URL:          srv.URL,
		CAFile:       srv.CAFile,
		BindDN:       ldaptest.BindDN,
		BindPassword: ldaptest.BindPassword,
		BaseDN:       ldaptest.Base,
		Timeout:      5 * time.Second,
		Groups: []ldapauth.Group{
			{DN: ldaptest.PartnersDN, Account: config.User{Home: "partners/{user}",
				QuotaBytes: config.BytesOf(partnersQuota), QuotaFiles: &files}},
			{DN: ldaptest.ReadOnlyDN, Account: config.User{Home: "shared", ReadOnly: true}},
		},
	}
}

// source is a Source made of opts whose log lines are observed; the test
// fails if one of them carries a password of the seeded users.
func source(t testing.TB, opts ldapauth.Options) (*ldapauth.Source, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := ldapauth.New(opts, zap.New(core))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		for _, e := range logs.All() {
			line := fmt.Sprint(e.Message, e.ContextMap())
			for _, uid := range []string{"alice", "bob", "carol", "dave", "erin", "twin"} {
				if strings.Contains(line, ldaptest.Password(uid)) {
					t.Errorf("a log line carries %s's password: %s", uid, line)
				}
			}
			if strings.Contains(line, ldaptest.BindPassword) {
				t.Errorf("a log line carries the service password: %s", line)
			}
		}
	})
	return s, logs
}

func login(s *ldapauth.Source, user, password string) (config.User, error) {
	return s.Authenticate(context.Background(), auth.Request{User: user, Password: password})
}

// mustLogin fails the test unless user logs in with its password.
func mustLogin(t *testing.T, s *ldapauth.Source, user string) config.User {
	t.Helper()
	u, err := login(s, user, ldaptest.Password(strings.ToLower(user)))
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return u
}

// mustFail fails the test unless the login fails with want.
func mustFail(t *testing.T, s *ldapauth.Source, user, password string, want error) {
	t.Helper()
	u, err := login(s, user, password)
	if !errors.Is(err, want) {
		t.Fatalf("login %q: account %+v, error %v; want %v", user, u, err, want)
	}
}

// TestLogin: a partner gets the partners group's home (with its name)
// and quota, a member of readonly is read-only, the name is the
// directory's whatever the case typed, and the failures are told apart.
func TestLogin(t *testing.T) {
	srv := ldaptest.New(t)
	s, _ := source(t, options(srv))

	u := mustLogin(t, s, "alice")
	if u.Name != "alice" || u.Home != "partners/alice" || u.ReadOnly || u.PasswordHash != "" {
		t.Errorf("alice: %+v, want name alice, home partners/alice, writable", u)
	}
	if u.QuotaBytes.Bytes() != partnersQuota || u.QuotaFiles == nil || *u.QuotaFiles != partnersFiles {
		t.Errorf("alice's quota: %d bytes, %v files; want %d, %d", u.QuotaBytes.Bytes(), u.QuotaFiles, partnersQuota, partnersFiles)
	}
	if u := mustLogin(t, s, "ALICE"); u.Name != "alice" || u.Home != "partners/alice" {
		t.Errorf("ALICE: name %q home %q, want alice's", u.Name, u.Home)
	}
	if u := mustLogin(t, s, "bob"); u.Name != "bob" || u.Home != "shared" || !u.ReadOnly {
		t.Errorf("bob: %+v, want home shared, read-only", u)
	}

	mustFail(t, s, "alice", ldaptest.Password("bob"), auth.ErrBadPassword)
	mustFail(t, s, "mallory", "whatever", auth.ErrUnknownUser)
	// dave is in no group and there is no "*" group: unknown here, so the
	// next source may know him.
	mustFail(t, s, "dave", ldaptest.Password("dave"), auth.ErrUnknownUser)
	mustFail(t, s, "", "x", auth.ErrUnknownUser)
	mustFail(t, s, "ali\nce", ldaptest.Password("alice"), auth.ErrUnknownUser)
}

// TestAnyUserGroup: a "*" group last admits the users in no group before
// it; it may not stand before another group.
func TestAnyUserGroup(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.Groups = append(opts.Groups, ldapauth.Group{DN: ldapauth.AnyUser, Account: config.User{Home: "users/{user}"}})
	s, _ := source(t, opts)
	if u := mustLogin(t, s, "dave"); u.Home != "users/dave" || u.ReadOnly {
		t.Errorf("dave: %+v, want home users/dave", u)
	}
	if u := mustLogin(t, s, "alice"); u.Home != "partners/alice" {
		t.Errorf("alice: home %q, want partners/alice (the first group that matches)", u.Home)
	}
	opts.Groups = slices.Insert(opts.Groups[:len(opts.Groups):len(opts.Groups)], 0, ldapauth.Group{DN: "*"})
	if _, err := ldapauth.New(opts, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "auth.ldap.groups[0].dn") {
		t.Errorf("New with \"*\" first: %v, want an error naming auth.ldap.groups[0].dn", err)
	}
}

// TestInjection: the name is escaped in the filter: wildcards and filter
// syntax in it match nothing, even with a real user's password.
func TestInjection(t *testing.T) {
	srv := ldaptest.New(t)
	s, _ := source(t, options(srv))
	for _, name := range []string{"al*", "*", "*)(uid=*", "admin)(|(uid=*", "alice)(|(uid=*", `alice\2a`, "*)(objectClass=*"} {
		mustFail(t, s, name, ldaptest.Password("alice"), auth.ErrUnknownUser)
	}
	mustLogin(t, s, "alice")
}

// TestUnsafeName: a name that would leave its group's home when put for
// {user} is refused, in a group whose home has {user}.
func TestUnsafeName(t *testing.T) {
	srv := ldaptest.New(t)
	for _, uid := range []string{"..", "x/..", `x\y`} {
		srv.AddUser(t, uid, ldaptest.PartnersDN, ldaptest.ReadOnlyDN)
	}
	s, logs := source(t, options(srv))
	for _, uid := range []string{"..", "x/..", `x\y`} {
		mustFail(t, s, uid, ldaptest.Password(uid), auth.ErrUnknownUser)
	}
	if n := logs.FilterMessage("ldap user name unsafe in a home").Len(); n != 3 {
		t.Errorf("%d log lines about unsafe names, want 3", n)
	}
	// readonly's home has no {user}: the name is harmless there.
	opts := options(srv)
	opts.Groups = opts.Groups[1:]
	s, _ = source(t, opts)
	if u := mustLogin(t, s, "x/.."); u.Home != "shared" || u.Name != "x/.." {
		t.Errorf("x/.. in readonly: %+v, want home shared", u)
	}
}

// TestUIDInHome: with users found by another attribute (mail), {uid} in
// a home is the entry's uid and {user} the name as the directory spells
// it; an entry without uid (the service account's) is refused for a home
// with {uid}.
func TestUIDInHome(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.UserFilter = "(|(mail={user})(cn={user}))"
	opts.Groups = []ldapauth.Group{
		{DN: ldaptest.PartnersDN, Account: config.User{Home: "partners/{uid}/{user}"}},
		{DN: ldapauth.AnyUser, Account: config.User{Home: "others/{uid}"}},
	}
	s, logs := source(t, opts)
	u, err := login(s, "ALICE@ftpsd.test", ldaptest.Password("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != ldaptest.Mail("alice") || u.Home != "partners/alice/"+ldaptest.Mail("alice") {
		t.Errorf("ALICE@ftpsd.test: name %q home %q, want %s and partners/alice/%[3]s", u.Name, u.Home, ldaptest.Mail("alice"))
	}
	mustFail(t, s, "ftpsd", ldaptest.BindPassword, auth.ErrUnknownUser)
	if n := logs.FilterMessage("ldap user name unsafe in a home").Len(); n != 1 {
		t.Errorf("%d log lines about an unsafe name, want 1 (the entry without uid)", n)
	}
}

// TestSeveralEntries: a filter that matches two entries admits neither,
// and says so in the log.
func TestSeveralEntries(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.Groups = []ldapauth.Group{{DN: ldapauth.AnyUser}}
	s, logs := source(t, opts)
	mustFail(t, s, "twin", ldaptest.Password("twin"), auth.ErrUnknownUser)
	if n := logs.FilterMessage("ldap user filter matched several entries").Len(); n != 1 {
		t.Errorf("%d log lines about several entries, want 1", n)
	}
}

// TestEmptyPassword: an empty password is refused without a bind as the
// user (a bind with an empty password is an unauthenticated bind, which
// a server may accept).
func TestEmptyPassword(t *testing.T) {
	srv := ldaptest.New(t)
	s, _ := source(t, options(srv))
	mustLogin(t, s, "alice")
	before := srv.Binds(ldaptest.UserDN("alice"))
	mustFail(t, s, "alice", "", auth.ErrBadPassword)
	if after := srv.Binds(ldaptest.UserDN("alice")); after != before {
		t.Errorf("an empty password made %d binds as alice, want none", after-before)
	}
	mustFail(t, s, "mallory", "", auth.ErrUnknownUser)
}

// TestNestedGroups: carol is in contractors, a member of partners: a
// partner with nested groups, in no configured group without. Nesting
// deeper than the bound is not followed.
func TestNestedGroups(t *testing.T) {
	srv := ldaptest.New(t)
	flat, _ := source(t, options(srv))
	mustFail(t, flat, "carol", ldaptest.Password("carol"), auth.ErrUnknownUser)
	opts := options(srv)
	opts.NestedGroups = true
	nested, _ := source(t, opts)
	if u := mustLogin(t, nested, "carol"); u.Home != "partners/carol" {
		t.Errorf("carol with nested groups: home %q, want partners/carol", u.Home)
	}

	// A group elsewhere than the configured ones (under ou=people), in
	// partners: found, since groups are searched above base_dn too.
	team := "cn=team," + ldaptest.People
	srv.AddGroupAt(t, team, srv.AddUser(t, "gina"))
	srv.AddMember(t, ldaptest.PartnersDN, team)
	if u := mustLogin(t, nested, "gina"); u.Home != "partners/gina" {
		t.Errorf("gina, in a team in partners: home %q, want partners/gina", u.Home)
	}

	// A chain of 10 groups above erin: level 8 is followed, 9 is not.
	member := srv.AddUser(t, "erin")
	chain := make([]string, 10)
	for i := range chain {
		member = srv.AddGroup(t, fmt.Sprintf("level%d", i+1), member)
		chain[i] = member
	}
	for level, want := range map[int]error{8: nil, 9: auth.ErrUnknownUser} {
		opts.Groups = []ldapauth.Group{{DN: chain[level-1], Account: config.User{Home: "deep"}}}
		s, _ := source(t, opts)
		if _, err := login(s, "erin", ldaptest.Password("erin")); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("erin in a group %d levels up: %v, want %v", level, err, want)
		}
	}
}

// TestDirectoryDown: slapd stopped: ErrUnavailable (421), never a wrong
// password; back: the pool's connections are replaced and logins work.
func TestDirectoryDown(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.Timeout = 2 * time.Second
	s, _ := source(t, opts)
	mustLogin(t, s, "alice")
	mustLogin(t, s, "bob")

	srv.Stop()
	for _, user := range []string{"alice", "mallory"} {
		started := time.Now()
		mustFail(t, s, user, ldaptest.Password(user), auth.ErrUnavailable)
		if took := time.Since(started); took > opts.Timeout {
			t.Errorf("login with the directory down took %v, more than the timeout %v", took, opts.Timeout)
		}
	}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "auth.ldap.url") {
		t.Errorf("Check with the directory down: %v, want an error naming auth.ldap.url", err)
	}
	if _, err := login(s, "alice", "x"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("the error of a login with the directory down: %v, want its cause (connection refused)", err)
	}

	srv.Start()
	mustLogin(t, s, "alice")
	mustLogin(t, s, "bob")
	mustFail(t, s, "alice", "wrong", auth.ErrBadPassword)
}

// TestDirectoryHangs: a directory that stops answering on the pool's open
// connections makes logins unavailable within the timeout, the pool's
// slots included; when it answers again, logins work.
func TestDirectoryHangs(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.Timeout, opts.PoolSize = 500*time.Millisecond, 1
	s, _ := source(t, opts)
	mustLogin(t, s, "alice")

	srv.Pause()
	var wg sync.WaitGroup
	for _, user := range []string{"alice", "bob", "mallory"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started := time.Now()
			if _, err := login(s, user, ldaptest.Password(user)); !errors.Is(err, auth.ErrUnavailable) {
				t.Errorf("login %s with the directory hung: %v, want unavailable", user, err)
			}
			if took := time.Since(started); took > opts.Timeout+time.Second {
				t.Errorf("login %s with the directory hung took %v, want about the timeout (%v)", user, took, opts.Timeout)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		srv.Resume()
		t.Fatal("logins with the directory hung still waiting after 10s")
	}
	srv.Resume()
	mustLogin(t, s, "alice")
	mustLogin(t, s, "bob")
}

// TestStartTLS: ldap:// with StartTLS works; ldap:// without it is
// refused unless insecure, and then works in clear text.
func TestStartTLS(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.URL, opts.StartTLS = srv.StartTLSURL, true
	s, _ := source(t, opts)
	mustLogin(t, s, "alice")
	mustFail(t, s, "alice", "wrong", auth.ErrBadPassword)

	opts.StartTLS = false
	if _, err := ldapauth.New(opts, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "auth.ldap.url") {
		t.Fatalf("New with plain ldap:// and neither start_tls nor insecure: %v, want an error naming auth.ldap.url", err)
	}
	opts.Insecure = true
	plain, _ := source(t, opts)
	mustLogin(t, plain, "alice")
}

// TestTLSVerified: a server certificate the CA file does not vouch for
// (here: the system's CAs instead of the test CA) makes the source
// unavailable, over ldaps and StartTLS.
func TestTLSVerified(t *testing.T) {
	srv := ldaptest.New(t)
	for _, starttls := range []bool{false, true} {
		opts := options(srv)
		opts.CAFile = ""
		if starttls {
			opts.URL, opts.StartTLS = srv.StartTLSURL, true
		}
		s, _ := source(t, opts)
		mustFail(t, s, "alice", ldaptest.Password("alice"), auth.ErrUnavailable)
		if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Check (StartTLS %v) with an unknown CA: %v, want a certificate error", starttls, err)
		}
	}
}

// TestCheck: Check passes against the directory and names the key at
// fault otherwise.
func TestCheck(t *testing.T) {
	srv := ldaptest.New(t)
	s, _ := source(t, options(srv))
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for key, mutate := range map[string]func(*ldapauth.Options){
		"bind_dn":      func(o *ldapauth.Options) { o.BindPassword = "wrong" },
		"base_dn":      func(o *ldapauth.Options) { o.BaseDN = "dc=nowhere,dc=test" },
		"groups[1].dn": func(o *ldapauth.Options) { o.Groups[1].DN = "cn=nosuch," + ldaptest.Groups },
	} {
		opts := options(srv)
		mutate(&opts)
		s, _ := source(t, opts)
		if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "auth.ldap."+key) {
			t.Errorf("Check with a bad %s: %v, want an error naming auth.ldap.%s", key, err, key)
		}
	}
}

// TestNewRefuses: New refuses options that cannot work or are unsafe,
// naming the key.
func TestNewRefuses(t *testing.T) {
	valid := ldapauth.Options{URL: "ldaps://ldap.example.test", BindDN: "cn=ftpsd,dc=example,dc=test",
		BindPassword: "secret", BaseDN: "dc=example,dc=test", Groups: []ldapauth.Group{{DN: "cn=g,dc=example,dc=test"}}}
	if s, err := ldapauth.New(valid, zap.NewNop()); err != nil {
		t.Fatalf("New with valid options: %v", err)
	} else {
		s.Close()
	}
	for _, c := range []struct {
		key    string
		mutate func(*ldapauth.Options)
	}{
		{"url", func(o *ldapauth.Options) { o.URL = "ldap://ldap.example.test" }},
		{"url", func(o *ldapauth.Options) { o.URL = "ldap.example.test" }},
		{"url", func(o *ldapauth.Options) { o.URL = "https://ldap.example.test" }},
		{"start_tls", func(o *ldapauth.Options) { o.StartTLS = true }},
		{"ca_file", func(o *ldapauth.Options) { o.CAFile = "/nonexistent/ca.pem" }},
		{"bind_password_file", func(o *ldapauth.Options) { o.BindPassword = "" }},
		{"base_dn", func(o *ldapauth.Options) { o.BaseDN = "not a dn" }},
		{"user_filter", func(o *ldapauth.Options) { o.UserFilter = "(uid=alice)" }},
		{"user_filter", func(o *ldapauth.Options) { o.UserFilter = "(uid={user}" }},
		{"groups:", func(o *ldapauth.Options) { o.Groups = nil }},
		{"groups[0].dn", func(o *ldapauth.Options) { o.Groups[0].DN = "not a dn" }},
		{"groups[0].home", func(o *ldapauth.Options) { o.Groups[0].Account.Home = "../{user}" }},
		{"groups[0].home", func(o *ldapauth.Options) { o.Groups[0].Account.Home = "/srv/{user}" }},
	} {
		opts := valid
		opts.Groups = slices.Clone(valid.Groups)
		c.mutate(&opts)
		if _, err := ldapauth.New(opts, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "auth.ldap."+c.key) {
			t.Errorf("New with a bad %s: %v, want an error naming auth.ldap.%s", c.key, err, c.key)
		}
	}
}

// TestTimeout: a directory that accepts connections and never answers
// makes the source unavailable within the timeout.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	for _, starttls := range []bool{false, true} {
		opts := ldapauth.Options{URL: "ldaps://" + ln.Addr().String(), BaseDN: ldaptest.Base,
			Timeout: 300 * time.Millisecond, Groups: []ldapauth.Group{{DN: "*"}}}
		if starttls {
			opts.URL, opts.StartTLS = "ldap://"+ln.Addr().String(), true
		}
		s, _ := source(t, opts)
		started := time.Now()
		mustFail(t, s, "alice", "x", auth.ErrUnavailable)
		if took := time.Since(started); took > time.Second {
			t.Errorf("StartTLS %v: a silent directory held the login %v, want about the timeout (300ms)", starttls, took)
		}
	}
}

// TestPoolBound: many logins at once use at most pool_size connections.
func TestPoolBound(t *testing.T) {
	srv := ldaptest.New(t)
	opts := options(srv)
	opts.PoolSize = 2
	s, _ := source(t, opts)
	before := strings.Count(srv.Log(), " ACCEPT from")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"alice", "bob"}[i%2]
			if _, err := login(s, user, ldaptest.Password(user)); err != nil {
				errs <- fmt.Errorf("%s: %w", user, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.Binds("") // syncs the log
	// One more connection is Binds' own.
	if opened := strings.Count(srv.Log(), " ACCEPT from") - before - 1; opened > opts.PoolSize || opened < 1 {
		t.Errorf("20 logins at once opened %d connections, want 1 to pool_size (%d)", opened, opts.PoolSize)
	}
}

// TestTiming: an unknown user's failure costs what a wrong password's
// does (a search and a bind) and takes as long, so that the time does not
// tell which names exist.
func TestTiming(t *testing.T) {
	srv := ldaptest.New(t)
	s, _ := source(t, options(srv))
	mustLogin(t, s, "alice")
	ops := func(user string, want error) ldaptest.Ops {
		before := srv.Ops()
		mustFail(t, s, user, "wrong", want)
		after := srv.Ops()
		return ldaptest.Ops{Binds: after.Binds - before.Binds, Searches: after.Searches - before.Searches}
	}
	if unknown, wrong := ops("mallory", auth.ErrUnknownUser), ops("alice", auth.ErrBadPassword); unknown != wrong {
		t.Errorf("the directory's operations for an unknown user %+v, for a wrong password %+v: want the same", unknown, wrong)
	}
	const rounds = 40
	var unknown, wrong []time.Duration
	for range rounds {
		started := time.Now()
		mustFail(t, s, "mallory", "wrong", auth.ErrUnknownUser)
		unknown = append(unknown, time.Since(started))
		started = time.Now()
		mustFail(t, s, "alice", "wrong", auth.ErrBadPassword)
		wrong = append(wrong, time.Since(started))
	}
	slices.Sort(unknown)
	slices.Sort(wrong)
	mu, mw := unknown[rounds/2], wrong[rounds/2]
	t.Logf("median unknown user %v, wrong password %v", mu, mw)
	if lo, hi := min(mu, mw), max(mu, mw); hi > 2*lo+time.Millisecond {
		t.Errorf("median failure times differ: unknown user %v, wrong password %v", mu, mw)
	}
}

// BenchmarkAuthenticate measures logins per second through LDAP (no
// cache) against the local slapd over ldaps, the pool warm.
func BenchmarkAuthenticate(b *testing.B) {
	srv := ldaptest.New(b)
	s, _ := source(b, options(srv))
	if _, err := login(s, "alice", ldaptest.Password("alice")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := login(s, "alice", ldaptest.Password("alice")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkAuthenticateParallel is BenchmarkAuthenticate with logins at
// once from as many goroutines as GOMAXPROCS, through the default pool.
func BenchmarkAuthenticateParallel(b *testing.B) {
	srv := ldaptest.New(b)
	s, _ := source(b, options(srv))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := login(s, "alice", ldaptest.Password("alice")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
