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

// TestCheckHTTPAuth: ftpsd check asks the [auth.http] service and names
// the key at fault when it cannot: the secret the service refuses, then
// the URL of a service that is down.
func TestCheckHTTPAuth(t *testing.T) {
	svc := authtest.Start(t)
	dir := t.TempDir()
	hash := ftptest.HashPassword(t, "alice-secret")
	config := func(secretFile string) string {
		return goodConfig(hash, "self_signed = true") + fmt.Sprintf(`
[auth]
sources = ["local", "http"]
[auth.http]
url = %q
token_file = %q
secret_file = %q
ca_file = %q
`, svc.URL, svc.TokenFile, secretFile, svc.CAFile)
	}
	path := writeText(t, dir, "ftpsd.toml", config(svc.SecretFile))
	if r := runFtpsd(t, "", "check", "-config", path); r.code != exitOK {
		t.Fatalf("check with the service up: %v", r)
	}
	other := filepath.Join(dir, "other-secret")
	if err := os.WriteFile(other, []byte("not the service's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := writeText(t, dir, "bad.toml", config(other))
	if r := runFtpsd(t, "", "check", "-config", bad); r.code == exitOK || !strings.Contains(r.stderr, "auth.http.secret_file") || !strings.Contains(r.stderr, "401") {
		t.Errorf("check with a secret the service refuses: %v; want a failure naming auth.http.secret_file and the 401", r)
	}
	svc.Stop()
	if r := runFtpsd(t, "", "check", "-config", path); r.code == exitOK || !strings.Contains(r.stderr, "auth.http.url") {
		t.Errorf("check with the service down: %v; want a failure naming auth.http.url", r)
	}
}

// TestCheckLDAPAuth: ftpsd check binds to the [auth.ldap] directory and
// searches it, and names the key at fault: a bind password the directory
// refuses, then the URL of a directory that is down.
func TestCheckLDAPAuth(t *testing.T) {
	srv := ldaptest.New(t)
	dir := t.TempDir()
	hash := ftptest.HashPassword(t, "alice-secret")
	config := func(password string) string {
		file := writeText(t, t.TempDir(), "bind-password", password+"\n")
		return goodConfig(hash, "self_signed = true") + fmt.Sprintf(`
[auth]
sources = ["ldap", "local"]
[auth.ldap]
url = %q
ca_file = %q
bind_dn = %q
bind_password_file = %q
base_dn = %q
[[auth.ldap.groups]]
dn = %q
home = "partners/{uid}"
`, srv.URL, srv.CAFile, ldaptest.BindDN, file, ldaptest.People, ldaptest.PartnersDN)
	}
	path := writeText(t, dir, "ftpsd.toml", config(ldaptest.BindPassword))
	if r := runFtpsd(t, "", "check", "-config", path); r.code != exitOK {
		t.Fatalf("check with the directory up: %v", r)
	}
	bad := writeText(t, dir, "bad.toml", config("not the password"))
	if r := runFtpsd(t, "", "check", "-config", bad); r.code == exitOK || !strings.Contains(r.stderr, "auth.ldap.bind_dn") {
		t.Errorf("check with a wrong bind password: %v; want a failure naming auth.ldap.bind_dn", r)
	}
	srv.Stop()
	if r := runFtpsd(t, "", "check", "-config", path); r.code == exitOK || !strings.Contains(r.stderr, "auth.ldap.url") {
		t.Errorf("check with the directory down: %v; want a failure naming auth.ldap.url", r)
	}
}
