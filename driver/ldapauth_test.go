package driver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/ldaptest"
)

// Accounts of a real OpenLDAP directory (internal/ldaptest) through the
// whole server: logins over FTPS, the groups' homes, read-only and
// quota, the order of sources, the directory down and back, the ban.

// withLDAP asks sources in this order, "ldap" being srv: partners get
// partners/{uid} with a quota, readonly read-only homes.
func withLDAP(t testing.TB, srv *ldaptest.Server, sources ...string) func(*config.Config) {
	t.Helper()
	password := filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(password, []byte(ldaptest.BindPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	quotaFiles := int64(5)
	return func(c *config.Config) {
		c.Auth.Sources = sources
		c.Auth.LDAP.URL = srv.URL
		c.Auth.LDAP.CAFile = srv.CAFile
		c.Auth.LDAP.BindDN = ldaptest.BindDN
		c.Auth.LDAP.BindPasswordFile = password
		c.Auth.LDAP.BaseDN = ldaptest.People
		c.Auth.LDAP.NestedGroups = true // carol is a partner through contractors
		c.Auth.LDAP.Groups = []config.LDAPGroup{
			{DN: ldaptest.PartnersDN, Home: "partners/{uid}", QuotaBytes: config.BytesOf(1 << 20), QuotaFiles: &quotaFiles},
			{DN: ldaptest.ReadOnlyDN, Home: "readonly/{uid}", ReadOnly: true},
		}
	}
}

// TestE2ELDAPAccounts: a partner logs in with the group's home and quota,
// a member of the read-only group cannot STOR, a wrong password, a user
// in no group and an injection in the name get 530, slapd stopped gives
// 421 and back works, and failures from the directory ban.
func TestE2ELDAPAccounts(t *testing.T) {
	srv := ldaptest.New(t)
	ts := startServer(t, func(c *config.Config) {
		withLDAP(t, srv, "local", "ldap")(c)
		c.Security.MaxLoginFailures = 3
	})

	carol := ftptest.MustLogin(t, ts.Addr, "carol", ldaptest.Password("carol")) // a partner through contractors
	carol.Stor("report.csv", []byte("a,b\n"))
	if _, err := os.Stat(filepath.Join(ts.Root, "partners", "carol", "report.csv")); err != nil {
		t.Errorf("carol's upload is not in partners/carol: %v", err)
	}
	if u := mustQuota(t, carol); u.bytesLimit != 1<<20 || u.filesLimit != 5 {
		t.Errorf("carol's SITE QUOTA = %+v, want the partners' 1 MiB and 5 files", u)
	}
	if n := ts.countLogs("login", map[string]any{"user": "carol", "source": "ldap"}); n != 1 {
		t.Errorf("%d login lines for carol from ldap, want 1", n)
	}

	bob := ftptest.MustLogin(t, ts.Addr, "bob", ldaptest.Password("bob"))
	bob.Pasv(false)
	if r := bob.Cmd("STOR x.txt"); r.Code != 550 {
		t.Errorf("STOR as bob of the read-only group: %v, want 550", r)
	}

	for i, tc := range []struct{ user, pass string }{
		{"carol", "wrong"},
		{"dave", ldaptest.Password("dave")}, // in no group: unknown to ldap, and to local
		{"*)(uid=*", "x"},
		{"*", ldaptest.Password("carol")},
	} {
		if r, _ := passReply(t, ts.Addr, loopback(10+i), tc.user, tc.pass); r.Code != 530 {
			t.Errorf("%q: %v, want 530", tc.user, r)
		}
	}

	srv.Stop()
	if r, _ := passReply(t, ts.Addr, loopback(20), "carol", ldaptest.Password("carol")); r.Code != 421 {
		t.Errorf("slapd stopped: %v, want 421", r)
	}
	if n := ts.countLogs("login deferred: account source unavailable", map[string]any{"user": "carol", "source": "ldap"}); n != 1 {
		t.Errorf("%d login deferred lines, want 1", n)
	}
	srv.Start()
	ftptest.Dialer{Local: loopback(20)}.MustLogin(t, ts.Addr, "carol", ldaptest.Password("carol")).Quit()

	a := loopback(30)
	for range 3 {
		if r, _ := passReply(t, ts.Addr, a, "carol", "guess"); r.Code != 530 {
			t.Fatalf("wrong password: %v, want 530", r)
		}
	}
	if g := mustConnect(t, ftptest.Dialer{Local: a}, ts.Addr).Greeting(); g.Code != 421 {
		t.Errorf("after 3 failures through ldap: greeting %v, want 421 (banned)", g)
	}
	for _, e := range ts.Logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, ldaptest.Password("carol")) || strings.Contains(f.String, ldaptest.BindPassword) {
				t.Errorf("a log line holds a password: %s %v", e.Message, e.Context)
			}
		}
	}
}

// TestE2ELDAPAndLocalSameName: alice is both a local account and a
// directory user: the first source in [auth] sources decides, and the
// other's password gets 530. With the directory first and down, the local
// alice does not answer for it (421).
func TestE2ELDAPAndLocalSameName(t *testing.T) {
	srv := ldaptest.New(t)
	for _, order := range [][]string{{"local", "ldap"}, {"ldap", "local"}} {
		ts := startServer(t, withLDAP(t, srv, order...))
		mustOrderDecide(t, ts, order, ldaptest.Password("alice"), "partners/alice")
		if order[0] == "ldap" {
			srv.Stop()
			if r, _ := passReply(t, ts.Addr, loopback(6), userName, userPass); r.Code != 421 {
				t.Errorf("directory first and down: the local password got %v, want 421", r)
			}
			srv.Start()
		}
	}
}

// BenchmarkLoginLDAP: whole FTPS logins one after the other of a
// directory user (slapd on loopback), with cache_ttl off and on; reports
// logins/s and the user binds slapd saw per login.
func BenchmarkLoginLDAP(b *testing.B) {
	srv := ldaptest.New(b)
	for _, ttl := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("cache_ttl=%v", ttl), func(b *testing.B) {
			ts := startQuietServer(b, func(c *config.Config) {
				withLDAP(b, srv, "ldap")(c)
				c.Auth.CacheTTL = config.Duration(ttl)
			})
			binds := srv.Binds(ldaptest.UserDN("carol"))
			for b.Loop() {
				loginQuit(b, ts.Addr, "carol", ldaptest.Password("carol"))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			b.ReportMetric(float64(srv.Binds(ldaptest.UserDN("carol"))-binds)/float64(b.N), "binds/login")
		})
	}
}
