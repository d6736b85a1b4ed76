package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// rulesConfig is a configuration behind a NAT edge with port translation.
const rulesConfig = `[server]
listen = "0.0.0.0:2121"
[tls]
self_signed = true
[passive]
ports = "50000-50002"
announce_ports = "60000-60002"
public_address = "203.0.113.10"
[storage]
backend = "memory"
`

// runRules runs ftpsd rules in-process on text and returns its exit
// status, stdout and stderr.
func runRules(t *testing.T, text string, args ...string) (int, string, string) {
	t.Helper()
	path := writeText(t, t.TempDir(), "ftpsd.toml", text)
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"rules", "-config", path}, args...), nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRulesTranslation: the nat-edge rules of a translated range DNAT each
// announced port to its local port, in both forms; the forward rules name
// the local range.
func TestRulesTranslation(t *testing.T) {
	edge := []string{"-firewall", "nat-edge", "-wan", "eth0", "-server", "10.0.0.5"}
	for format, wants := range map[string][]string{
		"nft": {
			"table inet ftpsd\ndelete table inet ftpsd\n",
			`iifname "eth0" ip daddr 203.0.113.10 tcp dport { 2121 } dnat ip to 10.0.0.5`,
			`tcp dport 60000-60002 dnat ip to 10.0.0.5 : tcp dport map { 60000 : 50000, 60001 : 50001, 60002 : 50002 }`,
			"ip daddr 10.0.0.5 tcp dport 50000-50002 ct status dnat accept",
			`oifname "eth0" ip saddr 10.0.0.5 masquerade`,
		},
		"iptables": {
			"-A FTPSD-PREROUTING -i eth0 -d 203.0.113.10 -p tcp --dport 60000:60002 -j DNAT --to-destination 10.0.0.5:50000-50002/60000",
			"-A FTPSD-FORWARD -d 10.0.0.5 -p tcp --dport 50000:50002 -m conntrack --ctstate DNAT -j ACCEPT",
			"-A FTPSD-POSTROUTING -o eth0 -s 10.0.0.5 -j MASQUERADE",
		},
	} {
		code, out, errb := runRules(t, rulesConfig, append(edge, "-format", format)...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", format, code, errb)
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s rules lack %q:\n%s", format, want, out)
			}
		}
		if strings.Contains(out, "helper") {
			t.Errorf("%s rules of -cure range assign the FTP helper:\n%s", format, out)
		}
	}
}

// TestRulesRefusals: what cannot work is refused with the flag or key to
// change.
func TestRulesRefusals(t *testing.T) {
	plain := strings.Replace(rulesConfig, "announce_ports = \"60000-60002\"\n", "", 1)
	for _, tc := range []struct {
		text string
		args []string
		code int
		want string
	}{
		{rulesConfig, []string{"-firewall", "edge"}, exitUsage, "-firewall"},
		{rulesConfig, []string{"-firewall", "host", "-cure", "alg"}, exitUsage, "-cure"},
		{rulesConfig, []string{"-firewall", "host", "-format", "pf"}, exitUsage, "-format"},
		{rulesConfig, []string{"-firewall", "nat-edge", "-server", "10.0.0.5"}, exitUsage, "-wan"},
		{rulesConfig, []string{"-firewall", "nat-edge", "-wan", "eth0"}, exitUsage, "-server"},
		{strings.Replace(rulesConfig, "public_address", "announce_after_ccc = \"public\"\npublic_address", 1),
			[]string{"-firewall", "host", "-cure", "ccc"}, exitError, "passive.announce_after_ccc"},
	} {
		code, _, errb := runRules(t, tc.text, tc.args...)
		if code != tc.code || !strings.Contains(errb, tc.want) {
			t.Errorf("rules %v: exit %d, stderr %q; want exit %d naming %s", tc.args, code, errb, tc.code, tc.want)
		}
	}
	deny := strings.Replace(plain, "self_signed = true", "self_signed = true\nccc = \"deny\"", 1)
	if code, _, errb := runRules(t, deny, "-firewall", "host", "-cure", "both"); code != exitError || !strings.Contains(errb, "tls.ccc") {
		t.Errorf("-cure both with tls.ccc = \"deny\": exit %d, %q; want 1 naming tls.ccc", code, errb)
	}
	code, out, errb := runRules(t, plain, "-firewall", "host", "-cure", "ccc", "-allow", "")
	if code != exitOK {
		t.Fatalf("host ccc: exit %d: %s", code, errb)
	}
	for _, want := range []string{`tcp dport 2121 ct state new ct helper set "ftp"`, "policy drop;", "tcp dport { 2121 } accept"} {
		if !strings.Contains(out, want) {
			t.Errorf("host ccc rules lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "50000") {
		t.Errorf("-cure ccc opens the passive range:\n%s", out)
	}
}
