package acmetest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// DNS is a Knot DNS server authoritative for one zone, on loopback, that
// accepts RFC 2136 updates of the zone signed with its TSIG key. Every
// name under the zone without records of its own resolves to 127.0.0.1
// (a wildcard A record), so that a CA validating HTTP-01 or TLS-ALPN-01
// for any test name connects to loopback.
type DNS struct {
	// Addr is the server's "127.0.0.1:PORT", UDP and TCP.
	Addr string
	// Zone is the zone's name, fully qualified ("ftpsd.test.").
	Zone string
	// KeyName is the TSIG key's name, fully qualified.
	KeyName string
	// Algorithm is the TSIG algorithm, dns.HmacSHA256 ("hmac-sha256.").
	Algorithm string
	// Secret is the key's secret, base64 as in a TSIG key file.
	Secret string
	// SecretFile holds Secret and a newline, mode 0600, as an
	// administrator would keep it for ftpsd.
	SecretFile string
}

// NewDNS starts knotd for zone (a name such as "ftpsd.test.") on a free
// loopback port with its configuration, zone file, journal and run
// directory in a temporary directory, and waits until it answers the
// zone's SOA.
func NewDNS(t testing.TB, zone string) *DNS {
	t.Helper()
	knotd := testenv.NeedTool(t, "knotd", "knot")
	zone = dns.Fqdn(zone)
	dir := t.TempDir()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	d := &DNS{
		Addr:       "127.0.0.1:" + strconv.Itoa(ftptest.FreePort(t)),
		Zone:       zone,
		KeyName:    "ftpsd-acme." + zone,
		Algorithm:  dns.HmacSHA256,
		Secret:     base64.StdEncoding.EncodeToString(secret),
		SecretFile: filepath.Join(dir, "tsig.secret"),
	}
	if err := os.WriteFile(d.SecretFile, []byte(d.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zoneFile := filepath.Join(dir, "zone.db")
	if err := os.WriteFile(zoneFile, []byte(zoneText(zone)), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, []byte(d.knotConf(dir, zoneFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(knotd, "-c", conf)
	start(t, "knotd", cmd, func() bool {
		m := new(dns.Msg)
		m.SetQuestion(zone, dns.TypeSOA)
		c := dns.Client{Net: "tcp", Timeout: time.Second}
		r, _, err := c.Exchange(m, d.Addr)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
	return d
}

// zoneText is the zone's initial contents: SOA, NS, the name server's
// address and the wildcard to loopback.
func zoneText(zone string) string {
	return fmt.Sprintf(`$ORIGIN %[1]s
$TTL 60
@    SOA ns.%[1]s hostmaster.%[1]s 1 60 60 3600 1
@    NS  ns.%[1]s
ns   A   127.0.0.1
*    A   127.0.0.1
`, zone)
}

// knotConf is knotd's configuration: loopback only, every path under dir
// (nothing in /var/lib/knot or /run/knot), updates allowed with the key.
func (d *DNS) knotConf(dir, zoneFile string) string {
	return fmt.Sprintf(`server:
    rundir: %[1]q
    pidfile: %[2]q
    listen: %[3]s
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: %[1]q
key:
  - id: %[4]s
    algorithm: %[5]s
    secret: %[6]s
acl:
  - id: tsig-update
    key: %[4]s
    action: update
zone:
  - domain: %[7]s
    storage: %[1]q
    file: %[8]q
    acl: tsig-update
log:
  - target: stderr
    any: info
`, dir, filepath.Join(dir, "knot.pid"), strings.Replace(d.Addr, ":", "@", 1),
		d.KeyName, strings.TrimSuffix(d.Algorithm, "."), d.Secret, d.Zone, zoneFile)
}

// Client returns a DNS client over TCP that signs with the server's key
// (set Msg.SetTsig(d.KeyName, d.Algorithm, 300, time.Now().Unix())).
func (d *DNS) Client() *dns.Client {
	return &dns.Client{Net: "tcp", Timeout: 5 * time.Second,
		TsigSecret: map[string]string{d.KeyName: d.Secret}}
}

// Query asks the server for name's records of type qtype and returns the
// reply.
func (d *DNS) Query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := d.Client().Exchange(m, d.Addr)
	if err != nil {
		t.Fatalf("knotd: query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// SetTXT replaces the TXT records of name with value through a
// TSIG-signed RFC 2136 update, failing the test unless the server
// accepts it.
func (d *DNS) SetTXT(t testing.TB, name, value string) {
	t.Helper()
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
		Txt: []string{value}}
	m := new(dns.Msg)
	m.SetUpdate(d.Zone)
	m.RemoveRRset([]dns.RR{rr})
	m.Insert([]dns.RR{rr})
	m.SetTsig(d.KeyName, d.Algorithm, 300, time.Now().Unix())
	r, _, err := d.Client().Exchange(m, d.Addr)
	if err != nil {
		t.Fatalf("knotd: update TXT %s: %v", name, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("knotd: update TXT %s: %s", name, dns.RcodeToString[r.Rcode])
	}
}

// UpdateScript writes into dir the script an administrator of a BIND or
// Knot server would give an exec DNS-01 provider, and returns its path:
// "present NAME VALUE" adds the TXT value, "cleanup NAME VALUE" removes
// it, as nsupdate commands over TCP signed with the key, kept in a BIND
// key file beside it. Each call is appended to dir/calls.log.
func (d *DNS) UpdateScript(t testing.TB, dir string) string {
	t.Helper()
	nsupdate := testenv.NeedTool(t, "nsupdate", "bind9-dnsutils")
	host, port, _ := strings.Cut(d.Addr, ":")
	keyFile := filepath.Join(dir, "acme.key")
	key := fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", strings.TrimSuffix(d.KeyName, "."),
		strings.TrimSuffix(d.Algorithm, "."), d.Secret)
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "acme-dns.sh")
	text := fmt.Sprintf(`#!/bin/sh
set -eu
echo "$*" >> %[1]q
case "$1" in
present) op=add ;;
cleanup) op=delete ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
%[2]s -v -k %[3]q <<EOF
server %[4]s %[5]s
zone %[6]s
update $op $2 60 TXT "$3"
send
EOF
`, filepath.Join(dir, "calls.log"), nsupdate, keyFile, host, port, d.Zone)
	if err := os.WriteFile(script, []byte(text), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}
