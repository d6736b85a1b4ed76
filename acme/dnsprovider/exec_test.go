package dnsprovider_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/acme/dnsprovider"
	"ftpsd/internal/acmetest"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// writeScript writes an executable shell script in dir and returns its
// path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	sh := testenv.NeedTool(t, "sh", "dash")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!"+sh+"\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// nsupdateScript writes the script an administrator of a BIND or Knot
// server would: present and cleanup as nsupdate commands over TCP signed
// with the key in a BIND key file. It also saves its environment in
// dir/env.ACTION.
func nsupdateScript(t *testing.T, d *acmetest.DNS, dir string) string {
	t.Helper()
	testenv.NeedTool(t, "nsupdate", "dnsutils")
	host, port, _ := strings.Cut(d.Addr, ":")
	keyFile := filepath.Join(dir, "acme.key")
	key := fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", strings.TrimSuffix(d.KeyName, "."),
		strings.TrimSuffix(d.Algorithm, "."), d.Secret)
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	// The key file is one CheckSecretFile reads.
	if s, err := dnsprovider.CheckSecretFile(keyFile); err != nil || s != d.Secret {
		t.Errorf("CheckSecretFile(BIND key file) = %q, %v; want the secret", s, err)
	}
	return writeScript(t, dir, "acme-dns.sh", fmt.Sprintf(`set -eu
env > %[1]s/env."$1"
case "$1" in
present) op=add ;;
cleanup) op=delete ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
echo "$1 $2"
nsupdate -v -k %[2]s <<EOF
server %[3]s %[4]s
zone %[5]s
update $op $2 60 TXT "$3"
send
EOF
`, dir, keyFile, host, port, d.Zone))
}

// TestExecThroughNsupdate: the exec provider runs the administrator's
// script, which really updates knot; two values on one name, each
// cleaned up alone; the script sees only PATH and FTPSD_ACME_*.
func TestExecThroughNsupdate(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	dir := t.TempDir()
	script := nsupdateScript(t, d, dir)
	t.Setenv("FTPSD_TEST_SERVER_SECRET", "must-not-leak")
	core, logs := observer.New(zap.InfoLevel)
	p, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: []string{script}, Timeout: 10 * time.Second,
		Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	ctx := context.Background()
	name, fqdn := "_acme-challenge.www", "_acme-challenge.www."+testZone

	for _, v := range []string{"token-a", "token-b"} {
		got, err := p.AppendRecords(ctx, "ftpsd.test", []libdns.Record{txt(name, v)})
		if err != nil {
			t.Fatalf("AppendRecords %s: %v", v, err)
		}
		if len(got) != 1 || got[0].RR().Name != name || got[0].RR().Data != v || got[0].RR().Type != "TXT" {
			t.Errorf("AppendRecords returned %v, want the TXT %s %s", got, name, v)
		}
	}
	if v := txtValues(t, d, fqdn); !slices.Equal(v, []string{"token-a", "token-b"}) {
		t.Fatalf("knot serves %q, want both values", v)
	}
	if _, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt(name, "token-a")}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if v := txtValues(t, d, fqdn); !slices.Equal(v, []string{"token-b"}) {
		t.Fatalf("after cleanup of token-a knot serves %q, want [token-b]", v)
	}
	if _, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt(name, "token-b")}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if v := txtValues(t, d, fqdn); len(v) != 0 {
		t.Fatalf("after both cleanups knot serves %q, want none", v)
	}

	env, err := os.ReadFile(filepath.Join(dir, "env.cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	for k, want := range map[string]string{"PATH": os.Getenv("PATH"), "FTPSD_ACME_ACTION": "cleanup",
		"FTPSD_ACME_FQDN": fqdn, "FTPSD_ACME_VALUE": "token-b", "FTPSD_ACME_ZONE": testZone} {
		if vars[k] != want {
			t.Errorf("the script's %s = %q, want %q", k, vars[k], want)
		}
	}
	for k := range vars {
		// The shell itself sets PWD (and some shells SHLVL, _).
		if k != "PATH" && k != "PWD" && k != "SHLVL" && k != "_" && !strings.HasPrefix(k, "FTPSD_ACME_") {
			t.Errorf("the script got %s from the server's environment", k)
		}
	}
	if out := logs.FilterMessage("acme dns command output").All(); len(out) != 4 ||
		out[0].ContextMap()["stdout"] != "present "+fqdn+"\n" || out[0].ContextMap()["action"] != "present" {
		t.Errorf("logged %d outputs (first %v), want 4, the first with stdout %q", len(out), out, "present "+fqdn+"\n")
	}
}

// TestExecFailure: a non-zero exit is an error with the status and the
// last line of standard error, after the output is logged; present stops
// at the first failure.
func TestExecFailure(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "fail.sh", `echo "$*" >> `+dir+`/calls
echo "calling the DNS API"
echo "first complaint" >&2
echo "API says: zone not found" >&2
exit 3
`)
	core, logs := observer.New(zap.InfoLevel)
	p, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: []string{script, "--account", "x"}, Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	got, err := p.AppendRecords(context.Background(), testZone, []libdns.Record{txt("a", "1"), txt("b", "2")})
	if err == nil {
		t.Fatal("AppendRecords succeeded, want the exit status")
	}
	t.Logf("error: %v", err)
	for _, w := range []string{"present a.ftpsd.test.", "exit status 3", "stderr: API says: zone not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "first complaint") {
		t.Errorf("error %q has more than the last line of stderr", err)
	}
	if len(got) != 0 {
		t.Errorf("AppendRecords returned %v, want nothing presented", got)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if string(calls) != "--account x present a.ftpsd.test. 1\n" {
		t.Errorf("the script ran with %q, want its arguments then present for the first record only", calls)
	}
	out := logs.FilterMessage("acme dns command output").All()
	if len(out) != 1 || out[0].ContextMap()["stderr"] != "first complaint\nAPI says: zone not found\n" {
		t.Errorf("logged %v, want the run's stdout and stderr", out)
	}
	// cleanup goes on after a failure and reports each.
	_, err = p.DeleteRecords(context.Background(), testZone, []libdns.Record{txt("a", "1"), txt("b", "2")})
	if err == nil || !strings.Contains(err.Error(), "cleanup a.ftpsd.test.") || !strings.Contains(err.Error(), "cleanup b.ftpsd.test.") {
		t.Errorf("DeleteRecords: %v, want both cleanups' failures", err)
	}
}

// TestExecTimeoutKillsGroup: a script that hangs is killed at the
// timeout with the child it started.
func TestExecTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "hang.sh", `sleep 60 &
echo $! > `+dir+`/child
echo $$ > `+dir+`/parent
wait
`)
	p, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: []string{script}, Timeout: time.Second})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	start := time.Now()
	_, err = p.AppendRecords(context.Background(), testZone, []libdns.Record{txt("a", "1")})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "killed at its timeout") {
		t.Fatalf("AppendRecords: %v, want killed at its timeout", err)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("returned after %s, want the 1s timeout", took)
	}
	for _, f := range []string{"parent", "child"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if !ftptest.Eventually(5*time.Second, func() bool { return !testenv.Alive(pid) }) {
			t.Errorf("the script's %s (pid %d) still runs after the timeout", f, pid)
		}
	}
}

func TestNewExecOptions(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts dnsprovider.ExecOptions
		want string
	}{
		{dnsprovider.ExecOptions{}, "no command"},
		{dnsprovider.ExecOptions{Command: []string{"nsupdate"}}, "absolute path"},
		{dnsprovider.ExecOptions{Command: []string{filepath.Join(dir, "missing")}}, "no such file"},
		{dnsprovider.ExecOptions{Command: []string{dir}}, "not a regular file"},
		{dnsprovider.ExecOptions{Command: []string{notExec}}, "not executable"},
	} {
		_, err := dnsprovider.NewExec(c.opts)
		var oe *dnsprovider.OptionError
		if !errors.As(err, &oe) || oe.Option != "Command" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewExec(%v) = %v, want a Command error saying %q", c.opts.Command, err, c.want)
		}
		if err2 := dnsprovider.CheckCommand(c.opts.Command); err2 == nil || !strings.Contains(err2.Error(), c.want) {
			t.Errorf("CheckCommand(%v) = %v, want %q", c.opts.Command, err2, c.want)
		}
	}
	if err := os.Chmod(notExec, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := dnsprovider.CheckCommand([]string{notExec, "arg"}); err != nil {
		t.Errorf("CheckCommand(executable) = %v", err)
	}
	_, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: []string{notExec}, Timeout: -1})
	var oe *dnsprovider.OptionError
	if !errors.As(err, &oe) || oe.Option != "Timeout" {
		t.Errorf("NewExec(Timeout -1) = %v, want a Timeout error", err)
	}
}

func TestCheckSecretFile(t *testing.T) {
	dir := t.TempDir()
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
	for _, c := range []struct {
		name, content, want string
	}{
		{"plain", secret + "\n", ""},
		{"bind", "key \"acme\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + secret + "\";\n};\n", ""},
		{"knot", "key:\n  - id: acme\n    algorithm: hmac-sha256\n    secret: " + secret + "\n", ""},
		{"empty", "\n", "TSIG secret empty"},
		{"not base64", "not a secret!\n", "TSIG secret not base64"},
		{"two keys", "key \"a\" { secret \"" + secret + "\"; };\nkey \"b\" { secret \"" + secret + "\"; };\n", "holds 2 keys"},
		{"too large", strings.Repeat("A", 65<<10), "larger than 64 KiB"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := dnsprovider.CheckSecretFile(path)
		switch {
		case c.want == "" && (err != nil || got != secret):
			t.Errorf("%s: CheckSecretFile = %q, %v; want the secret", c.name, got, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: CheckSecretFile = %q, %v; want an error naming the file and saying %q", c.name, got, err, c.want)
		}
	}
	if _, err := dnsprovider.CheckSecretFile(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckSecretFile(missing) = %v, want not exist", err)
	}
}
