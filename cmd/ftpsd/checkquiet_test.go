package main

import (
	"fmt"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
)

// TestCheckQuiet checks "ftpsd check -quiet", the unit's ExecStartPre=:
// nothing on standard output for a valid configuration (the journal gets
// no copy of the settings at each start), and the error naming the key
// for a bad one.
func TestCheckQuiet(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	good := goodConfig(ftptest.HashPassword(t, "alice-secret"),
		fmt.Sprintf("self_signed = false\ncert_file = %q\nkey_file = %q", certFile, keyFile))
	r := runFtpsd(t, "", "check", "-quiet", "-config", writeText(t, dir, "good.toml", good))
	if r.code != exitOK || r.stdout != "" || r.stderr != "" {
		t.Errorf("check -quiet of a valid configuration: %v, want exit 0 and no output", r)
	}
	bad := strings.Replace(good, `idle_timeout = "2m"`, `idle_timeout = "soon"`, 1)
	if bad == good {
		t.Fatal("the test configuration has no idle_timeout to spoil")
	}
	r = runFtpsd(t, "", "check", "-quiet", "-config", writeText(t, dir, "bad.toml", bad))
	if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "idle_timeout") {
		t.Errorf("check -quiet of a bad configuration: %v, want exit 1 and the error naming idle_timeout", r)
	}
}

// TestCheckOffline checks "ftpsd check -offline", the unit's and the
// package's check before a start: a CA and an HTTP account service that
// do not answer fail "ftpsd check" naming their keys, but not the check
// with -offline (serve starts while they are down), which still refuses
// what this host alone can tell (a TSIG secret that is not base64).
func TestCheckOffline(t *testing.T) {
	dir := t.TempDir()
	down := func() string { return fmt.Sprintf("https://127.0.0.1:%d", ftptest.FreePort(t)) }
	base := goodConfig(ftptest.HashPassword(t, "alice-secret"), "self_signed = true")
	authDown := fmt.Sprintf("[auth]\nsources = [\"local\", \"http\"]\n[auth.http]\nurl = %q\ntoken_file = %q\n",
		down()+"/login", writeText(t, dir, "token", "t0ken\n"))
	acmeDown := func(secret string) string {
		return fmt.Sprintf("[acme]\ndomains = [\"ftp.example.net\"]\nca = %q\ndns_provider = \"rfc2136\"\n", down()+"/dir") +
			"[acme.rfc2136]\nnameserver = \"127.0.0.1:53\"\nzone = \"example.net.\"\ntsig_key_name = \"k.\"\n" +
			fmt.Sprintf("tsig_secret_file = %q\n", writeText(t, t.TempDir(), "tsig", secret))
	}
	for _, tc := range []struct{ name, text, key string }{
		{"the CA down", base + acmeDown("c2VjcmV0\n"), "acme.ca"},
		{"the account service down", base + authDown, "auth.http.url"},
		{"both down", base + authDown + acmeDown("c2VjcmV0\n"), "auth.http.url"},
	} {
		cfg := writeText(t, dir, "ftpsd.toml", tc.text)
		r := runFtpsd(t, "", "check", "-quiet", "-config", cfg)
		if r.code != exitError || !strings.Contains(r.stderr, tc.key) {
			t.Errorf("check with %s: %v, want exit 1 naming %s", tc.name, r, tc.key)
		}
		r = runFtpsd(t, "", "check", "-quiet", "-offline", "-config", cfg)
		if r.code != exitOK || r.stderr != "" {
			t.Errorf("check -offline with %s: %v, want exit 0", tc.name, r)
		}
	}
	cfg := writeText(t, dir, "ftpsd.toml", base+authDown+acmeDown("not base64!\n"))
	r := runFtpsd(t, "", "check", "-quiet", "-offline", "-config", cfg)
	if r.code != exitError || !strings.Contains(r.stderr, "acme.rfc2136.tsig_secret_file") {
		t.Errorf("check -offline with a bad TSIG secret: %v, want exit 1 naming acme.rfc2136.tsig_secret_file", r)
	}
}
