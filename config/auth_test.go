package config

import (
	"strings"
	"testing"
)

// TestAuthValidationNamesTheKey checks that each mistake in [auth] is
// reported under the key at fault.
func TestAuthValidationNamesTheKey(t *testing.T) {
	const ldap = `
[auth.ldap]
url = "ldaps://ldap.example.org"
base_dn = "dc=example,dc=org"
[[auth.ldap.groups]]
dn = "cn=partners,dc=example,dc=org"
`
	const http = `
[auth.http]
url = "https://auth.example.org/login"
token_file = "/etc/ftpsd/token"
`
	for _, tc := range []struct{ name, text, key string }{
		{"empty sources", `[auth]` + "\nsources = []", "auth.sources: name at least one"},
		{"unknown source", `[auth]` + "\nsources = [\"local\", \"radius\"]", `auth.sources: "radius" is not one of`},
		{"source twice", `[auth]` + "\nsources = [\"local\", \"local\"]", `auth.sources: "local" is named twice`},
		{"ldap not configured", `[auth]` + "\nsources = [\"ldap\"]", "auth.ldap.url: required"},
		{"http not configured", `[auth]` + "\nsources = [\"http\"]", "auth.http.url: required"},
		{"cache too long", "[auth]\ncache_ttl = \"2h\"", "auth.cache_ttl: must be 0"},
		{"plain ldap", "[auth]\nsources = [\"ldap\"]\n" + strings.Replace(ldap, "ldaps://", "ldap://", 1), "auth.ldap.url: ldap:// sends passwords in clear"},
		{"ldaps with start_tls", "[auth]\nsources = [\"ldap\"]\n" + strings.Replace(ldap, "base_dn", "start_tls = true\nbase_dn", 1), "auth.ldap.start_tls: only with ldap://"},
		{"bind dn alone", "[auth]\nsources = [\"ldap\"]\n" + strings.Replace(ldap, "base_dn", "bind_dn = \"cn=x\"\nbase_dn", 1), "auth.ldap.bind_password_file: set both"},
		{"filter without user", "[auth]\nsources = [\"ldap\"]\n" + strings.Replace(ldap, "base_dn", "user_filter = \"(uid=x)\"\nbase_dn", 1), "auth.ldap.user_filter:"},
		{"no group", "[auth]\nsources = [\"ldap\"]\n" + ldap[:strings.Index(ldap, "[[")], "auth.ldap.groups: required"},
		{"group home escapes", "[auth]\nsources = [\"ldap\"]\n" + ldap + "home = \"../{user}\"\n", "auth.ldap.groups[0].home:"},
		{"group home placeholder", "[auth]\nsources = [\"ldap\"]\n" + ldap + "home = \"p/{name}\"\n", "auth.ldap.groups[0].home: {name} is not one of"},
		{"group bad quota", "[auth]\nsources = [\"ldap\"]\n" + ldap + "quota_bytes = \"10GB\"\n", "auth.ldap.groups[0].quota_bytes:"},
		{"http in clear", "[auth]\nsources = [\"http\"]\n" + strings.Replace(http, "https://auth.example.org", "http://auth.example.org", 1), "auth.http.url: \"http://auth.example.org/login\" sends passwords in clear"},
		{"http without credentials", "[auth]\nsources = [\"http\"]\n" + strings.Replace(http, "token_file", "ca_file", 1), "auth.http.token_file: set auth.http.token_file or auth.http.secret_file"},
		{"http timeout above login", "[auth]\nsources = [\"http\"]\n" + http + "timeout = \"1h\"\n", "auth.http.timeout: must be 100ms to server.login_timeout"},
	} {
		_, err := Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Parse = %v, want an error with %q", tc.name, err, tc.key)
		}
	}
	ok := "[auth]\nsources = [\"local\", \"ldap\", \"http\"]\n" + ldap + strings.Replace(http, "https://auth.example.org", "http://127.0.0.1:8080", 1)
	if _, err := Parse(ok); err != nil {
		t.Errorf("a valid [auth]: %v", err)
	}
}

// TestCheckAccount checks what an external source's account is refused for.
func TestCheckAccount(t *testing.T) {
	for _, tc := range []struct {
		u    User
		want string
	}{
		{User{Name: "a", Home: "../etc"}, "account.home"},
		{User{Name: "a", Home: "/etc"}, "account.home"},
		{User{Name: "a", Home: "x/../../y"}, "account.home"},
		{User{Name: "a b"}, "account.name"},
		{User{Name: "a", Home: "partners/a"}, ""},
	} {
		err := tc.u.CheckAccount()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckAccount(%+v) = %v, want %q", tc.u, err, tc.want)
		}
	}
}
