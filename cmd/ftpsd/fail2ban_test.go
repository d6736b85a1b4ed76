package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// fail2banFilter is the filter the project ships.
var fail2banFilter = filepath.Join("..", "..", "contrib", "fail2ban", "filter.d", "ftpsd.conf")

// TestFail2banFilter: Debian's fail2ban-regex with the shipped filter
// finds, in the real server's log (console and json), every failed login
// and its client (behind the PROXY protocol, the header's), and nothing in
// a log of successful logins, transfers, logins refused without a
// password check and a right password refused by the account's policy.
func TestFail2banFilter(t *testing.T) {
	tool := testenv.NeedTool(t, "fail2ban-regex", "fail2ban")
	for _, format := range []string{"console", "json"} {
		t.Run(format, func(t *testing.T) { testFail2banFilter(t, tool, format) })
	}
}

func testFail2banFilter(t *testing.T, tool, format string) {
	f := newFixture(t, 4)
	text := f.config(fmt.Sprintf("proxy_protocol = true\ntrusted_proxies = [\"%s/32\"]\n", ftptest.BalancerAddr), "", "alice", "bob")
	// bob may log in from 192.0.2.0/24 only: elsewhere his right password
	// is refused by his account's policy ("login refused").
	text = strings.Replace(text, `home = "bob"`, "home = \"bob\"\nallowed_networks = [\"192.0.2.0/24\"]", 1)
	text = strings.Replace(text, `format = "json"`, fmt.Sprintf("format = %q", format), 1)
	f.write(text)
	s := startFtpsd(t, f.dir, "-config", f.path)
	addr := s.waitFor(t, s.stderr, regexp.MustCompile(`ftpsd started.*"listen": ?"(127\.0\.0\.1:[0-9]+)"`), "")[1]
	from := func(client string) ftptest.Dialer {
		return ftptest.Dialer{Proxy: ftptest.BalancerAddr, Local: netip.MustParseAddr(client)}
	}
	count := func(msg string) int { return strings.Count(s.stderr.String(), msg) }

	// Successful logins, a transfer, and logins refused before any
	// password check: nothing for fail2ban.
	for range 2 {
		c := from("127.0.0.10").MustLogin(t, addr, "alice", password("alice"))
		c.Stor("ok.txt", []byte("fine"))
		c.Quit()
	}
	c := from("127.0.0.11").MustDial(t, addr)
	c.Do(530, "PASS before-user") // no USER: refused unchecked (login refused)
	c.Close()
	c = from("127.0.0.12").MustDial(t, addr)
	c.AuthTLS()
	if err := c.Client.Login("bob", password("bob")); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob from outside his allowed_networks: %v, want 530", err)
	}
	c.Close()
	ftptest.MustEventually(t, 10*time.Second, "bob's refusal logged", func() bool { return count("address not in allowed_networks") == 1 })
	ftptest.MustEventually(t, 10*time.Second, "2 login lines", func() bool { return count("\tlogin\t")+count(`"msg":"login"`) == 2 })
	if got := fail2banIPs(t, tool, s.stderr.String()); len(got) != 0 {
		t.Fatalf("fail2ban-regex matched %v in a log without a wrong password", got)
	}

	// Wrong passwords and unknown users from four clients, IPv6 among
	// them, between more successful logins.
	failed := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::7"}
	for i, client := range failed {
		c := from(client).MustDial(t, addr)
		c.AuthTLS()
		user := "alice"
		if i%2 == 1 {
			user = "nobody"
		}
		if err := c.Client.Login(user, "wrong"); err == nil || !strings.Contains(err.Error(), "530") {
			t.Fatalf("wrong password from %s: %v, want 530", client, err)
		}
		c.Close()
		from("127.0.0.10").MustLogin(t, addr, "alice", password("alice")).Quit()
	}
	ftptest.MustEventually(t, 10*time.Second, "the failed logins logged", func() bool {
		return count("login failed") == len(failed)
	})
	got := fail2banIPs(t, tool, s.stderr.String())
	slices.Sort(got)
	want := slices.Sorted(slices.Values(failed))
	if !slices.Equal(got, want) {
		t.Fatalf("fail2ban-regex matched %v, want the %d failed logins' clients %v", got, len(failed), want)
	}
	s.terminate(t)
}

// fail2banIPs runs fail2ban-regex with the shipped filter on log and
// returns the address of each line it matched.
func fail2banIPs(t *testing.T, tool, log string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ftpsd.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	filter, err := filepath.Abs(fail2banFilter)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr := ftptest.Cmd{Timeout: commandTimeout}.MustRun(t, tool, "--out", "ip", path, filter)
	if strings.Contains(stderr, "ERROR") {
		t.Fatalf("fail2ban-regex: %s", stderr)
	}
	return strings.Fields(out)
}

// TestFail2banJail: fail2ban-client accepts the shipped jail with the
// shipped filter in a copy of the system's configuration (its jails left
// out), and the jail
// reads the journal of ftpsd.service with the filter's expressions.
func TestFail2banJail(t *testing.T) {
	client := testenv.NeedTool(t, "fail2ban-client", "fail2ban")
	system := testenv.NeedFile(t, "/etc/fail2ban/jail.conf", "fail2ban")
	conf := filepath.Join(t.TempDir(), "fail2ban")
	ftptest.Cmd{Timeout: commandTimeout}.MustRun(t, "cp", "-r", filepath.Dir(system), conf)
	// Only ftpsd's jail: the system's own (Debian enables sshd's) may read
	// logs this machine does not have.
	if err := os.RemoveAll(filepath.Join(conf, "jail.d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(conf, "jail.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"filter.d", "jail.d"} {
		ftptest.Cmd{Timeout: commandTimeout}.MustRun(t, "cp", filepath.Join("..", "..", "contrib", "fail2ban", dir, "ftpsd.conf"),
			filepath.Join(conf, dir))
	}
	out, _ := ftptest.Cmd{Timeout: commandTimeout}.MustRun(t, client, "-c", conf, "-d")
	for _, want := range []string{
		`['add', 'ftpsd', 'systemd']`,
		`['set', 'ftpsd', 'addjournalmatch', '_SYSTEMD_UNIT=ftpsd.service']`,
		`'addfailregex', ['\\bWARN\\tsession\\tlogin failed`,
		`['set', 'ftpsd', 'addaction', 'iptables-allports']`,
		`['start', 'ftpsd']`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fail2ban-client -d lacks %s:\n%s", want, out)
		}
	}
	ftptest.Cmd{Timeout: commandTimeout}.MustRun(t, client, "-c", conf, "-t")
}
