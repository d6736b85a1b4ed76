package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/internal/authtest"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/ldaptest"
)

// mustCheckSource runs ftpsd check on good plus tables(good's argument),
// which must pass, then on bad's, which must fail naming every one of
// badKeys, then after down() on good's again, which must fail naming
// downKey.
func mustCheckSource(t *testing.T, tables func(arg string) string, good, bad string, badKeys []string, down func(), downKey string) {
	t.Helper()
	dir := t.TempDir()
	base := goodConfig(ftptest.HashPassword(t, "alice-secret"), "self_signed = true")
	path := writeText(t, dir, "ftpsd.toml", base+tables(good))
	if r := runFtpsd(t, "", "check", "-config", path); r.code != exitOK {
		t.Fatalf("check with the source up: %v", r)
	}
	r := runFtpsd(t, "", "check", "-config", writeText(t, dir, "bad.toml", base+tables(bad)))
	for _, key := range badKeys {
		if r.code == exitOK || !strings.Contains(r.stderr, key) {
			t.Errorf("check with %s refused: %v; want a failure naming %s", bad, r, key)
		}
	}
	down()
	if r := runFtpsd(t, "", "check", "-config", path); r.code == exitOK || !strings.Contains(r.stderr, downKey) {
		t.Errorf("check with the source down: %v; want a failure naming %s", r, downKey)
	}
}

// TestCheckHTTPAuth: ftpsd check asks the [auth.http] service and names
// the key at fault when it cannot: the secret the service refuses (401),
// then the URL of a service that is down.
func TestCheckHTTPAuth(t *testing.T) {
	svc := authtest.Start(t)
	other := filepath.Join(t.TempDir(), "other-secret")
	if err := os.WriteFile(other, []byte("not the service's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tables := func(secretFile string) string {
		return fmt.Sprintf("[auth]\nsources = [\"local\", \"http\"]\n[auth.http]\nurl = %q\ntoken_file = %q\nsecret_file = %q\nca_file = %q\n",
			svc.URL, svc.TokenFile, secretFile, svc.CAFile)
	}
	mustCheckSource(t, tables, svc.SecretFile, other, []string{"auth.http.secret_file", "401"}, svc.Stop, "auth.http.url")
}

// TestCheckLDAPAuth: ftpsd check binds to the [auth.ldap] directory and
// searches it, and names the key at fault: a bind password the directory
// refuses, then the URL of a directory that is down.
func TestCheckLDAPAuth(t *testing.T) {
	srv := ldaptest.New(t)
	tables := func(password string) string {
		file := writeText(t, t.TempDir(), "bind-password", password+"\n")
		return fmt.Sprintf("[auth]\nsources = [\"ldap\", \"local\"]\n[auth.ldap]\nurl = %q\nca_file = %q\nbind_dn = %q\nbind_password_file = %q\nbase_dn = %q\n"+
			"[[auth.ldap.groups]]\ndn = %q\nhome = \"partners/{uid}\"\n",
			srv.URL, srv.CAFile, ldaptest.BindDN, file, ldaptest.People, ldaptest.PartnersDN)
	}
	mustCheckSource(t, tables, ldaptest.BindPassword, "not the password", []string{"auth.ldap.bind_dn"}, srv.Stop, "auth.ldap.url")
}
