package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"ftpsd/internal/ftptest"
)

// The commands that do not serve: version, hash-password, check, health,
// usage errors and help, and serve's refusal of a bad configuration.

func TestVersion(t *testing.T) {
	r := runFtpsd(t, "", "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "ftpsd ") {
		t.Fatalf("ftpsd version: want exit 0 and \"ftpsd ...\" on stdout, got %v", r)
	}
	for _, flag := range []string{"--version", "-version"} {
		if got := runFtpsd(t, "", flag); got != r {
			t.Errorf("ftpsd %s: %v\nwant what ftpsd version does: %v", flag, got, r)
		}
	}
}

func TestHashPassword(t *testing.T) {
	r := runFtpsd(t, "s3cret\n", "hash-password")
	if r.code != exitOK {
		t.Fatalf("hash-password: %v", r)
	}
	hash := strings.TrimSpace(r.stdout)
	if strings.Count(r.stdout, "\n") != 1 || strings.Contains(r.stdout, "s3cret") {
		t.Errorf("want one hash line and no password on stdout, got %q", r.stdout)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Errorf("hash %q does not match the password: %v", hash, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret\n")); err == nil {
		t.Errorf("hash %q includes the newline", hash)
	}

	// Windows line ending and no trailing newline read the same password.
	for _, in := range []string{"s3cret\r\n", "s3cret"} {
		r := runFtpsd(t, in, "hash-password", "-cost", "4")
		if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(r.stdout)), []byte("s3cret")); r.code != exitOK || err != nil {
			t.Errorf("stdin %q: %v (compare: %v)", in, r, err)
		}
	}
}

func TestHashPasswordEmpty(t *testing.T) {
	for _, in := range []string{"", "\n"} {
		r := runFtpsd(t, in, "hash-password")
		if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "empty password") {
			t.Errorf("stdin %q: want exit 1, no stdout and \"empty password\" on stderr, got %v", in, r)
		}
	}
}

// goodConfig is a valid file; tlsSection completes its [tls] table.
func goodConfig(hash, tlsSection string) string {
	return `[server]
listen = "127.0.0.1:2121"
idle_timeout = "2m"

[tls]
` + tlsSection + `
require = "all"

[passive]
ports = "50000-50019"

[storage]
backend = "memory"

[[users]]
name = "alice"
password_hash = "` + hash + `"
home = "alice"
`
}

func TestCheckGood(t *testing.T) {
	dir := t.TempDir()
	hash := ftptest.HashPassword(t, "alice-secret")
	certFile, keyFile := writeCert(t, dir)
	for name, tc := range map[string]struct{ tls, want string }{
		"self-signed": {"self_signed = true", "self_signed = true"},
		"cert files": {fmt.Sprintf("self_signed = false\ncert_file = %q\nkey_file = %q", certFile, keyFile),
			fmt.Sprintf("cert_file = %q", certFile)},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeText(t, t.TempDir(), "good.toml", goodConfig(hash, tc.tls))
			r := runFtpsd(t, "", "check", "-config", path)
			if r.code != exitOK {
				t.Fatalf("check: %v", r)
			}
			for _, want := range []string{"listen", `"127.0.0.1:2121"`, `idle_timeout = "2m0s"`, tc.want,
				`name = "alice"`, "(bcrypt hash, not shown)", path} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			if strings.Contains(r.stdout+r.stderr, hash) || strings.Contains(r.stdout, "$2a$") {
				t.Errorf("check printed the password hash:\n%v", r)
			}
			if r.stderr != "" {
				t.Errorf("stderr not empty: %q", r.stderr)
			}
		})
	}
}

func TestCheckBad(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	otherCert, _ := writeCert(t, t.TempDir())
	missing := filepath.Join(dir, "missing", "cert.pem")
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		"several problems": {
			text: `[server]
idle_timeout = "0s"
[tls]
require = "sometimes"
[passive]
ports = "60000-50000"
[[users]]
name = "alice"
password_hash = "plain"
[log]
level = "loud"
`,
			want: []string{"server.idle_timeout", "tls.require", "passive.ports", "users[0].password_hash", "log.level"},
		},
		"unknown key": {
			text: "[server]\nlisen = \"0.0.0.0:21\"\n",
			want: []string{`unknown key "server.lisen"`},
		},
		"bad duration": {
			text: "[server]\nlisten = \"0.0.0.0:21\"\nidle_timeout = \"5 minutes\"\n",
			want: []string{"line 3", "idle_timeout", `"5 minutes"`},
		},
		"bad port range": {
			text: "[passive]\nports = \"80-90\"\n",
			want: []string{"passive.ports", `"80-90"`},
		},
		"port range over control port": {
			text: "[server]\nlisten = \"0.0.0.0:50005\"\n[passive]\nports = \"50000-50019\"\n",
			want: []string{"passive.ports", "control port of server.listen"},
		},
		"missing storage root": {
			text: fmt.Sprintf("[storage]\nroot = %q\n", filepath.Join(dir, "no-such-root")),
			want: []string{"storage.root", filepath.Join(dir, "no-such-root"), "no such file"},
		},
		"storage root is a file": {
			text: fmt.Sprintf("[storage]\nroot = %q\n", certFile),
			want: []string{"storage.root", certFile, "not a directory"},
		},
		"missing cert file": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", missing, keyFile),
			want: []string{missing},
		},
		"key of another cert": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", otherCert, keyFile),
			want: []string{otherCert, keyFile, "does not match"},
		},
		"cert without key": {
			text: fmt.Sprintf("[tls]\nself_signed = false\ncert_file = %q\n", certFile),
			want: []string{"tls.key_file"},
		},
		"bad user": {
			text: goodConfig("not-a-hash", "self_signed = true"),
			want: []string{"users[0].password_hash", "ftpsd hash-password"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeText(t, t.TempDir(), "bad.toml", tc.text)
			r := runFtpsd(t, "", "check", "-config", path)
			if r.code != exitError {
				t.Fatalf("want exit 1, got %v", r)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "ftpsd: config "+path+": ") {
				t.Errorf("stderr does not start with the file name:\n%s", r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestCheckExampleConfig checks ../../config.example.toml with its
// certificate and secret paths pointed at real files; with the webhook's
// secret file missing, check fails naming the key.
func TestCheckExampleConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	secretFile := filepath.Join(dir, "hook-secret")
	text := strings.NewReplacer(`"/etc/ftpsd/cert.pem"`, fmt.Sprintf("%q", certFile),
		`"/etc/ftpsd/key.pem"`, fmt.Sprintf("%q", keyFile), `"/srv/ftp"`, fmt.Sprintf("%q", dir),
		`"/etc/ftpsd/hook-secret"`, fmt.Sprintf("%q", secretFile)).Replace(string(data))
	path := writeText(t, dir, "ftpsd.toml", text)
	if r := runFtpsd(t, "", "check", "-config", path); r.code == exitOK || !strings.Contains(r.stderr, "hooks[1].secret_file") {
		t.Errorf("check with the secret file missing: %v; want a failure naming hooks[1].secret_file", r)
	}
	writeText(t, dir, "hook-secret", "k\n")
	r := runFtpsd(t, "", "check", "-config", path)
	if r.code != exitOK {
		t.Fatalf("check config.example.toml: %v", r)
	}
	for _, want := range []string{`listen = "0.0.0.0:21"`, `ports = "50000-50099"`, certFile} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCheckSeveralProblemsOneALine checks the layout of a multi-problem
// report: one problem a line, the file named once.
func TestCheckSeveralProblemsOneALine(t *testing.T) {
	path := writeText(t, t.TempDir(), "bad.toml", "[tls]\nmin_version = \"1.0\"\nrequire = \"x\"\n[log]\nformat = \"xml\"\n")
	r := runFtpsd(t, "", "check", "-config", path)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{
		"ftpsd: config " + path + ": tls.min_version: ",
		"  tls.require: ",
		"  log.format: ",
	}
	if r.code != exitError || len(lines) != len(want) {
		t.Fatalf("want exit 1 and %d lines on stderr, got %v", len(want), r)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want[i])
		}
	}
}

func TestCheckMissingConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	r := runFtpsd(t, "", "check", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("want exit 1 naming %s, got %v", path, r)
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := writeText(t, dir, "bad.toml", "[server]\nlisen = \"0.0.0.0:21\"\nidle_timeout = \"0s\"\n[passive]\nports = \"abc\"\n")
	missing := filepath.Join(dir, "missing.pem")
	noCert := writeText(t, dir, "nocert.toml", fmt.Sprintf(
		"[server]\nlisten = \"127.0.0.1:0\"\n[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", missing, missing))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-config", bad}, []string{bad, `unknown key "server.lisen"`, "server.idle_timeout", "passive.ports"}},
		{[]string{"serve", "-config", bad}, []string{bad, `unknown key "server.lisen"`, "server.idle_timeout", "passive.ports"}},
		{[]string{"-config", noCert}, []string{missing}},
	} {
		r := runFtpsd(t, "", tc.args...)
		if r.code != exitError {
			t.Errorf("ftpsd %v: want exit 1, got %v", tc.args, r)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("ftpsd %v: stderr lacks %q:\n%s", tc.args, want, r.stderr)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"check"}, "-config FILE is required"},
		{[]string{"check", "-config"}, "flag needs an argument"},
		{[]string{"check", "-config", "a.toml", "extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"serve", "now"}, `unexpected argument "now"`},
		{[]string{"hash-password", "-cost", "many"}, "invalid value"},
	} {
		r := runFtpsd(t, "", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("ftpsd %v: want exit 2, %q and the usage on stderr, got %v", tc.args, tc.want, r)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"check", "-help"}} {
		r := runFtpsd(t, "", args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "usage:") || !strings.Contains(r.stdout, "hash-password") {
			t.Errorf("ftpsd %v: want exit 0 and the usage on stdout, got %v", args, r)
		}
	}
}

// TestHealthCommand probes a greeting server and a closed port.
func TestHealthCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ftptest.Serve(t, l, time.Second, func(c net.Conn) { _, _ = io.WriteString(c, "220 ftpsd ready\r\n") })
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"health", "-addr", l.Addr().String()}, nil, &out, &errb); code != 0 {
		t.Fatalf("health of a greeting server: exit %d, %s", code, errb.String())
	}
	closed := l.Addr().(*net.TCPAddr)
	l.Close()
	if code := run(context.Background(), []string{"health", "-addr", closed.String(), "-timeout", "1s"}, nil, &out, &errb); code != 1 {
		t.Fatalf("health of a closed port: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), closed.String()) {
		t.Fatalf("error does not name the address: %s", errb.String())
	}
}

// TestCheckReportsPortsAndFirewallRules holds one port of the passive range
// and expects check to name it and to print the rules for the ranges.
func TestCheckReportsPortsAndFirewallRules(t *testing.T) {
	ports := ftptest.PortRange(t, 10)
	start, end := ports.Start, ports.End
	held, err := net.Listen("tcp", fmt.Sprintf(":%d", start+3))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	text := strings.Replace(goodConfig(ftptest.HashPassword(t, "x"), "self_signed = true"), `ports = "50000-50019"`, `ports = "`+ports.String()+`"`, 1)
	text = strings.Replace(text, `listen = "127.0.0.1:2121"`, `listen = "0.0.0.0:21"`+"\nimplicit_listen = \"0.0.0.0:990\"", 1)
	r := runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "ports.toml", text))
	if r.code != exitOK {
		t.Fatalf("check: %v", r)
	}
	for _, want := range []string{
		fmt.Sprintf("# passive ports %s: 10 ports, 1 taken on this host now: %d", ports, start+3),
		"nft add rule inet filter input tcp dport { 21, 990 } accept",
		fmt.Sprintf("nft add rule inet filter input tcp dport %d-%d accept", start, end),
		"iptables -A INPUT -p tcp -m multiport --dports 21,990 -j ACCEPT",
		fmt.Sprintf("iptables -A INPUT -p tcp --dport %d:%d -j ACCEPT", start, end),
		"CCC",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCheckRefusesWhatServeRefuses: a configuration serve refuses at
// start is refused by check too, with the same reason, and check (a dry
// run of serve's construction) leaves no trace: here alice's home is
// blocked by a regular file under storage.root, and bob's home, which
// serve would create, is not created by check.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	root := t.TempDir()
	writeText(t, root, "alice", "a file where alice's home should be")
	hash := ftptest.HashPassword(t, "secret")
	text := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
[tls]
self_signed = true
[storage]
root = %q
[[users]]
name = "bob"
password_hash = %q
home = "bob"
[[users]]
name = "alice"
password_hash = %q
home = "alice"
`, root, hash, hash)
	path := writeText(t, t.TempDir(), "blocked.toml", text)
	const want = "create home of alice"
	for _, cmd := range []string{"check", "serve"} {
		if cmd == "serve" {
			// serve's refusal is the reference; check must not have made
			// bob's home meanwhile, and serve stops before alice's.
			if _, err := os.Stat(filepath.Join(root, "bob")); err == nil {
				t.Error("check created bob's home")
			}
		}
		r := runFtpsd(t, "", cmd, "-config", path)
		if r.code != exitError {
			t.Errorf("ftpsd %s: want exit 1, got %v", cmd, r)
			continue
		}
		if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "alice") {
			t.Errorf("ftpsd %s: stderr lacks %q:\n%s", cmd, want, r.stderr)
		}
	}
}
