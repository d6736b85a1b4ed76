package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"ftpsd/internal/acmetest"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
)

// acmeDomain is the name the ACME tests get certificates for, under the
// zone of their knotd (whose wildcard points it at 127.0.0.1).
const (
	acmeZone   = "ftpsd.test."
	acmeDomain = "ftp.ftpsd.test"
)

// acmeTimeout bounds the first certificate of a test (Pebble validates
// without delay; a DNS-01 order waits for the propagation check, every 2s).
const acmeTimeout = 90 * time.Second

// acmeLab is a knotd and a Pebble that resolves through it.
type acmeLab struct {
	dns   *acmetest.DNS
	ca    *acmetest.Pebble
	roots *x509.CertPool // Pebble's issuing root, once fetched
}

func newACMELab(t *testing.T, options ...acmetest.PebbleOption) *acmeLab {
	t.Helper()
	d := acmetest.NewDNS(t, acmeZone)
	return &acmeLab{dns: d, ca: acmetest.NewPebble(t, d.Addr, options...)}
}

// acmeConfig is f's configuration (one user, alice) with [acme] instead
// of [tls] cert_file: acmeTable's keys besides the CA's, and a storage
// directory in f's unless acmeTable starts with its own storage.
func (l *acmeLab) acmeConfig(f *fixture, metricsAddr, acmeTable string) string {
	text := f.config("", metricsAddr, "alice")
	tlsFiles := fmt.Sprintf("self_signed = false\ncert_file = %q\nkey_file = %q\n", f.certFile, f.keyFile)
	if !strings.Contains(text, tlsFiles) {
		f.t.Fatalf("fixture config lacks its [tls] files:\n%s", text)
	}
	text = strings.Replace(text, tlsFiles, "", 1)
	if !strings.HasPrefix(acmeTable, "storage = ") {
		acmeTable = fmt.Sprintf("storage = %q\n", filepath.Join(f.dir, "acme")) + acmeTable
	}
	return text + fmt.Sprintf("[acme]\ndomains = [%q]\nca = %q\nca_root_file = %q\n%s\n",
		acmeDomain, l.ca.DirectoryURL, l.ca.TLSRootFile, acmeTable)
}

// http01 is the [acme] table of HTTP-01 on Pebble's validation port.
func (l *acmeLab) http01() string {
	return fmt.Sprintf("challenge = \"http-01\"\nhttp_listen = \"127.0.0.1:%d\"\n", l.ca.HTTPPort)
}

// startWithACME starts ftpsd on text with a metrics endpoint and waits until
// it serves its nth ACME certificate.
func startWithACME(t *testing.T, f *fixture, text string) (*server, string) {
	t.Helper()
	f.write(text)
	s := startFtpsd(t, f.dir, "-config", f.path)
	addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
	s.waitLog(t, "serving ACME certificate", 1, acmeTimeout)
	return s, addr
}

// trusting returns a client TLS configuration that trusts only Pebble's
// issuing root and checks the name acmeDomain.
func (l *acmeLab) trusting(t *testing.T) *tls.Config {
	if l.roots == nil {
		l.roots = l.ca.IssuingRoots(t)
	}
	return &tls.Config{RootCAs: l.roots, ServerName: acmeDomain,
		ClientSessionCache: tls.NewLRUClientSessionCache(8), MinVersion: tls.VersionTLS12}
}

// loginVerified logs alice in over FTPS, verifying the certificate against
// Pebble's root, and returns the client and the served leaf.
func (l *acmeLab) loginVerified(t *testing.T, addr string) (*ftptest.Client, *x509.Certificate) {
	t.Helper()
	c, err := ftptest.Dialer{TLS: l.trusting(t)}.Login(addr, "alice", password("alice"))
	if err != nil {
		t.Fatalf("FTPS login verifying Pebble's root: %v", err)
	}
	st, _ := c.TLSState()
	return c, st.PeerCertificates[0]
}

// metricsListen returns a free loopback address for [metrics] listen.
func metricsListen(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", ftptest.FreePort(t))
}

// HTTP-01 through a loopback listener: ftpsd obtains a certificate from
// Pebble, a client that trusts only Pebble's root completes the FTPS
// handshake and logs in, the metrics follow the ACME certificate, and a
// restart serves the stored certificate without a new order.
func TestACMEHTTP01(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	metricsAddr := metricsListen(t)
	text := lab.acmeConfig(f, metricsAddr, lab.http01())
	s, addr := startWithACME(t, f, text)

	c, leaf := lab.loginVerified(t, addr)
	if err := c.Stor("hello.txt", []byte("hello over a real certificate\n")); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	_ = c.Quit()
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain {
		t.Errorf("served certificate names %v, want [%s]", leaf.DNSNames, acmeDomain)
	}
	m := scrape(t, metricsAddr)
	if got, want := value(t, m, "ftpsd_certificate_expiry_timestamp_seconds"), float64(leaf.NotAfter.Unix()); got != want {
		t.Errorf("ftpsd_certificate_expiry_timestamp_seconds = %v, want the ACME certificate's %v", got, want)
	}
	if got := value(t, m, `ftpsd_acme_renewals_total{result="success"}`); got != 1 {
		t.Errorf(`ftpsd_acme_renewals_total{result="success"} = %v, want 1`, got)
	}
	if got := value(t, m, `ftpsd_acme_renewals_total{result="failure"}`); got != 0 {
		t.Errorf(`ftpsd_acme_renewals_total{result="failure"} = %v, want 0`, got)
	}
	orders, issued := lab.ca.Orders()
	t.Logf("Pebble: %d orders, %d certificates issued", orders, issued)
	if issued != 1 {
		t.Fatalf("Pebble issued %d certificates, want 1", issued)
	}

	// http_listen is open only while an order is pending.
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lab.ca.HTTPPort), time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("http_listen accepts connections after the order")
	}
	// SIGHUP with the same [acme] keeps the certificate; a changed [acme]
	// is reported as needing a restart.
	s.reload(t)
	if l := s.waitLog(t, "configuration reloaded", 1, stopTimeout); len(l.strs("changed")) != 0 {
		t.Errorf("reload of the same file: changed %v", l.strs("changed"))
	}
	f.write(strings.Replace(text, "[acme]\n", "[acme]\nrenew_before = \"720h\"\n", 1))
	s.reload(t)
	if l := s.waitLog(t, "configuration reloaded", 2, stopTimeout); !slices.Equal(l.strs("need_restart"), []string{"acme.renew_before"}) {
		t.Errorf("reload with a changed [acme]: need_restart %v, want [acme.renew_before]", l.strs("need_restart"))
	}
	if _, again := lab.loginVerified(t, addr); !again.Equal(leaf) {
		t.Errorf("after the reloads ftpsd serves serial %x, want %x", again.SerialNumber, leaf.SerialNumber)
	}
	f.write(text)

	s.terminate(t)
	s2, addr2 := startWithACME(t, f, text)
	_, leaf2 := lab.loginVerified(t, addr2)
	if !leaf2.Equal(leaf) {
		t.Errorf("after a restart ftpsd serves serial %x, want the stored %x", leaf2.SerialNumber, leaf.SerialNumber)
	}
	if _, issued := lab.ca.Orders(); issued != 1 {
		t.Errorf("after a restart Pebble issued %d certificates, want still 1", issued)
	}
	if loaded := s2.waitLog(t, "acme started", 1, startTimeout); loaded["loaded"] != float64(1) {
		t.Errorf("acme started line: loaded = %v, want 1 (from storage)", loaded["loaded"])
	}
}

// Renewal before expiry (certificates valid 40s, renew_before 30s): the
// certificate is swapped while a download runs on an open session; the
// download completes with the right checksum, the open session goes on,
// and a new connection gets the new certificate.
func TestACMERenewalDuringTransfer(t *testing.T) {
	lab := newACMELab(t, acmetest.WithValidity(40*time.Second))
	f := newFixture(t, 2)
	text := lab.acmeConfig(f, "", lab.http01()+"renew_before = \"30s\"\n")
	// 1.5 MiB at 64 KiB/s: a download of about 24 s, across a renewal.
	text = strings.Replace(text, "[[users]]\n", "[defaults]\nmax_download_rate = \"64KiB\"\n[[users]]\n", 1)
	payload := make([]byte, 3<<19)
	_, _ = rand.Read(payload)
	s, addr := startWithACME(t, f, text)

	c, first := lab.loginVerified(t, addr)
	defer c.Close()
	c.Timeout = time.Minute
	if err := c.Stor("big.bin", payload); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	x, err := c.Open("RETR big.bin")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	started := time.Now()
	if n := len(s.logs("serving ACME certificate")); n != 1 {
		t.Fatalf("%d certificates served before the download, want 1 (the renewal must come during it)", n)
	}
	got, err := x.Receive()
	if err != nil {
		t.Fatalf("RETR across the renewal: %v", err)
	}
	took := time.Since(started)
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Fatalf("RETR: %d bytes, checksum differs from the %d stored", len(got), len(payload))
	}
	renewedAt := s.logs("serving ACME certificate")
	t.Logf("download of %d bytes took %v; %d certificates served so far", len(got), took, len(renewedAt))
	if len(renewedAt) < 2 {
		t.Fatalf("no renewal during the %v download: %d certificates served", took, len(renewedAt))
	}
	if _, err := c.Do(250, "CWD /"); err != nil { // the open session goes on
		t.Fatalf("the open session after the renewal: %v", err)
	}
	_, now := lab.loginVerified(t, addr)
	if now.Equal(first) || !now.NotAfter.After(first.NotAfter) {
		t.Errorf("a new connection gets serial %x (not after %v), want a newer certificate than %x (not after %v)",
			now.SerialNumber, now.NotAfter, first.SerialNumber, first.NotAfter)
	}
}

// The CA down at renewal: the renewal fails, counted in
// ftpsd_acme_renewals_total{result="failure"}; the old certificate stays
// served and the expiry metric does not move.
func TestACMECADownKeepsCertificate(t *testing.T) {
	lab := newACMELab(t, acmetest.WithValidity(40*time.Second))
	f := newFixture(t, 2)
	metricsAddr := metricsListen(t)
	s, addr := startWithACME(t, f, lab.acmeConfig(f, metricsAddr, lab.http01()+"renew_before = \"30s\"\n"))
	_, leaf := lab.loginVerified(t, addr)
	before := value(t, scrape(t, metricsAddr), "ftpsd_certificate_expiry_timestamp_seconds")
	lab.ca.Stop()

	failure := `ftpsd_acme_renewals_total{result="failure"}`
	if !ftptest.Eventually(40*time.Second, func() bool { return scrape(t, metricsAddr)[failure] > 0 }) {
		t.Fatalf("%s stayed 0 with the CA down:\n%s", failure, s.stderr)
	}
	m := scrape(t, metricsAddr)
	t.Logf("%s = %v", failure, m[failure])
	if got := value(t, m, "ftpsd_certificate_expiry_timestamp_seconds"); got != before || got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("expiry metric %v after the failed renewal, want it unchanged at %v", got, before)
	}
	_, still := lab.loginVerified(t, addr)
	if !still.Equal(leaf) {
		t.Errorf("after the failed renewal ftpsd serves serial %x, want the old %x", still.SerialNumber, leaf.SerialNumber)
	}
	if n := len(s.logs("serving ACME certificate")); n != 1 {
		t.Errorf("%d certificates served, want 1", n)
	}
	if !bytes.Contains([]byte(s.stderr.String()), []byte("certificate not obtained; the current one stays served")) {
		t.Errorf("no \"certificate not obtained\" line in the log")
	}
	// certmagic's backoff: the next attempt comes a minute after the
	// first, though the certificate is checked every 3s (renew_before/10).
	time.Sleep(10 * time.Second)
	if got := value(t, scrape(t, metricsAddr), failure); got != 1 {
		t.Errorf("%s = %v 10s after the first failure, want 1 (the retry waits a minute)", failure, got)
	}

}

// rfc2136 is the [acme] table of DNS-01 through RFC 2136 updates of the
// lab's knotd, whose answers are the ones checked for propagation.
func (l *acmeLab) rfc2136() string {
	d := l.dns
	return fmt.Sprintf("challenge = \"dns-01\"\ndns_provider = \"rfc2136\"\ndns_resolvers = [%q]\n"+
		"[acme.rfc2136]\nnameserver = %q\nzone = %q\ntsig_key_name = %q\ntsig_algorithm = \"hmac-sha256\"\ntsig_secret_file = %q\n",
		d.Addr, d.Addr, d.Zone, d.KeyName, d.SecretFile)
}

// issuedOnce checks that Pebble issued one certificate, and that the one
// served at addr is it: verified against Pebble's root, for acmeDomain.
func (l *acmeLab) issuedOnce(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, leaf := l.loginVerified(t, addr)
	_ = c.Quit()
	if orders, issued := l.ca.Orders(); issued != 1 {
		t.Errorf("Pebble: %d orders, %d certificates issued; want 1 issued", orders, issued)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain {
		t.Errorf("served certificate names %v, want [%s]", leaf.DNSNames, acmeDomain)
	}
	return leaf
}

// DNS-01 through RFC 2136: ftpsd adds the challenge's TXT record to knotd
// with a TSIG-signed update, Pebble validates it by asking knotd, and a
// client trusting Pebble's root completes the FTPS handshake; the record
// is gone afterwards, and the key is of key_type (P-384 here).
func TestACMEDNS01RFC2136(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	_, addr := startWithACME(t, f, lab.acmeConfig(f, "", "key_type = \"p384\"\n"+lab.rfc2136()))
	leaf := lab.issuedOnce(t, addr)
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Errorf("key_type = \"p384\": the certificate's key is %T", leaf.PublicKey)
	}
	if r := lab.dns.Query(t, "_acme-challenge."+acmeDomain, dns.TypeTXT); len(r.Answer) != 0 {
		t.Errorf("the challenge record is still served after the order: %v", r.Answer)
	}
}

// DNS-01 through the exec provider: the administrator's script (nsupdate
// against knotd) is called with present and cleanup, the record's name
// and value; the certificate is issued and served.
func TestACMEDNS01Exec(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	scriptDir := t.TempDir()
	script := lab.dns.UpdateScript(t, scriptDir)
	table := fmt.Sprintf("challenge = \"dns-01\"\ndns_provider = \"exec\"\ndns_resolvers = [%q]\n[acme.exec]\ncommand = [%q]\n",
		lab.dns.Addr, script)
	_, addr := startWithACME(t, f, lab.acmeConfig(f, "", table))
	lab.issuedOnce(t, addr)
	calls, err := os.ReadFile(filepath.Join(scriptDir, "calls.log"))
	if err != nil {
		t.Fatalf("the script was not called: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	t.Logf("script calls: %q", lines)
	name := "_acme-challenge." + acmeDomain + "."
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "present "+name+" ") || !strings.HasPrefix(lines[1], "cleanup "+name+" ") ||
		strings.Fields(lines[0])[2] != strings.Fields(lines[1])[2] {
		t.Errorf("script calls %q, want present then cleanup of %s with one value", lines, name)
	}
}

// startACMECluster starts two nodes with [acme] storage = "s3" on store
// (homes under "homes/", the ACME data under "ftpsd-acme/") and the rest
// of [acme] from table, at once, and returns them with their addresses
// once each serves an ACME certificate.
func (l *acmeLab) startACMECluster(t *testing.T, store *miniotest.Server, table string) ([]*server, []string) {
	t.Helper()
	var nodes []*server
	var addrs []string
	for range 2 {
		f := newFixture(t, 2)
		text := l.acmeConfig(f, "", "storage = \"s3\"\n"+table)
		storage := fmt.Sprintf("[storage]\nbackend = \"os\"\nroot = %q\n", f.root)
		if !strings.Contains(text, storage) {
			t.Fatalf("fixture config lacks its [storage]:\n%s", text)
		}
		f.write(strings.Replace(text, storage, s3Storage(store)+"prefix = \"homes\"\n", 1))
		nodes = append(nodes, startFtpsd(t, f.dir, "-config", f.path))
	}
	for _, s := range nodes {
		addrs = append(addrs, s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen"))
	}
	for _, s := range nodes {
		s.waitLog(t, "serving ACME certificate", 1, acmeTimeout)
	}
	return nodes, addrs
}

// Two nodes with storage = "s3" on one MinIO bucket, started together:
// one orders while the other waits on the lock in the bucket, then loads
// the certificate; Pebble issues one certificate, and both nodes serve it.
func TestACMEClusterOneCertificate(t *testing.T) {
	lab := newACMELab(t)
	_, addrs := lab.startACMECluster(t, miniotest.New(t), lab.rfc2136())
	first := lab.issuedOnce(t, addrs[0])
	second := lab.issuedOnce(t, addrs[1])
	if !first.Equal(second) {
		t.Errorf("the nodes serve serials %x and %x, want one certificate", first.SerialNumber, second.SerialNumber)
	}
	orders, issued := lab.ca.Orders()
	t.Logf("Pebble: %d orders, %d issued; both nodes serve serial %x", orders, issued, first.SerialNumber)
	if orders != 1 {
		t.Errorf("Pebble saw %d orders, want 1: the other node waited on the lock", orders)
	}
}

// servedSerials returns the serials s logged as served, in order, and
// when.
func servedSerials(s *server) (serials []string, at map[string]time.Time) {
	at = map[string]time.Time{}
	for _, e := range s.logs("serving ACME certificate") {
		serial := e.str("serial")
		serials = append(serials, serial)
		if ts, err := time.Parse(time.RFC3339Nano, e.str("ts")); err == nil {
			at[serial] = ts
		}
	}
	return serials, at
}

// Renewals in a cluster (certificates valid 40s, renew_before 30s): each
// renewal is ordered by one node only (Pebble issues exactly as many
// certificates as the nodes served distinct ones), and the other node
// serves the renewed certificate within a few seconds, from the bucket.
func TestACMEClusterRenewal(t *testing.T) {
	lab := newACMELab(t, acmetest.WithValidity(40*time.Second))
	nodes, _ := lab.startACMECluster(t, miniotest.New(t), "renew_before = \"30s\"\n"+lab.rfc2136())
	for _, s := range nodes {
		s.waitLog(t, "serving ACME certificate", 3, acmeTimeout) // two renewals
	}
	for _, s := range nodes {
		s.terminate(t)
	}
	a, atA := servedSerials(nodes[0])
	b, atB := servedSerials(nodes[1])
	union := map[string]bool{}
	for _, serial := range append(slices.Clone(a), b...) {
		union[serial] = true
	}
	_, issued := lab.ca.Orders()
	t.Logf("node A served %v, node B %v; Pebble issued %d", a, b, issued)
	if issued != len(union) {
		t.Errorf("Pebble issued %d certificates, the nodes served %d distinct ones: a renewal was ordered twice", issued, len(union))
	}
	var lag time.Duration
	for serial, ta := range atA {
		tb, ok := atB[serial]
		if !ok {
			continue // renewed just before the stop
		}
		d := ta.Sub(tb).Abs()
		lag = max(lag, d)
		if d > 10*time.Second {
			t.Errorf("serial %s served %v apart by the two nodes, want within 10s", serial, d)
		}
	}
	t.Logf("largest gap between the nodes serving one certificate: %v", lag)
	if len(atA) < 3 || len(atB) < 3 {
		t.Errorf("the nodes served %d and %d certificates, want at least 3 each", len(atA), len(atB))
	}
}

// With http_listen_always the HTTP-01 listener stays open after the order
// and answers nothing but the challenge path: 404 elsewhere.
func TestACMEHTTPListenAlways(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	_, addr := startWithACME(t, f, lab.acmeConfig(f, "", lab.http01()+"http_listen_always = true\n"))
	lab.issuedOnce(t, addr)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/", "/.well-known/acme-challenge/unknown-token", "/metrics"} {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", lab.ca.HTTPPort, path))
		if err != nil {
			t.Fatalf("GET %s on http_listen: %v", path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s %q, want 404", path, resp.Status, body)
		}
	}
}

// The CA down at the first start: ftpsd starts anyway and serves a
// self-signed certificate for the domain, counts the failure, and does not
// hold the listeners back.
func TestACMECADownAtStart(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	metricsAddr := metricsListen(t)
	text := lab.acmeConfig(f, metricsAddr, lab.http01())
	lab.ca.Stop()
	f.write(text)
	s := startFtpsd(t, f.dir, "-config", f.path)
	addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
	failure := `ftpsd_acme_renewals_total{result="failure"}`
	if !ftptest.Eventually(30*time.Second, func() bool { return scrape(t, metricsAddr)[failure] > 0 }) {
		t.Fatalf("%s stayed 0 with the CA down", failure)
	}
	c, err := ftptest.Dialer{TLS: ftptest.NewTLS()}.Login(addr, "alice", password("alice"))
	if err != nil {
		t.Fatalf("login while the CA is down: %v", err)
	}
	defer c.Close()
	st, _ := c.TLSState()
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain || leaf.Issuer.String() != leaf.Subject.String() {
		t.Errorf("served %v issued by %q, want a self-signed certificate for %s", leaf.DNSNames, leaf.Issuer, acmeDomain)
	}
	if n := len(s.logs("serving ACME certificate")); n != 0 {
		t.Errorf("%d ACME certificates served with the CA down", n)
	}
}

// External Account Binding: with a Pebble that requires it, the account
// is created with eab_key_id and the key in eab_hmac_file, and the
// certificate is issued.
func TestACMEExternalAccountBinding(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	mac := base64.RawURLEncoding.EncodeToString(key)
	lab := newACMELab(t, acmetest.WithEAB(map[string]string{"ftpsd-kid": mac}))
	f := newFixture(t, 2)
	hmacFile := writeText(t, f.dir, "eab.hmac", mac+"\n")
	table := fmt.Sprintf("eab_key_id = \"ftpsd-kid\"\neab_hmac_file = %q\n", hmacFile) + lab.http01()
	_, addr := startWithACME(t, f, lab.acmeConfig(f, "", table))
	lab.issuedOnce(t, addr)
}

// ftpsd check refuses what would stop [acme] from working and names the
// key at fault: a CA directory that does not answer, a TSIG secret file
// that is not base64, an exec command that cannot be run, a missing EAB
// key file, an s3 prefix inside the homes. None needs the CA.
func TestCheckACME(t *testing.T) {
	dir := t.TempDir()
	hash := ftptest.HashPassword(t, "alice-secret")
	closed := fmt.Sprintf("https://127.0.0.1:%d/dir", ftptest.FreePort(t))
	notBase64 := writeText(t, dir, "tsig.secret", "not base64!\n")
	notExec := writeText(t, dir, "hook.sh", "#!/bin/sh\n")
	base := goodConfig(hash, "self_signed = true") + fmt.Sprintf("[acme]\ndomains = [%q]\nca = %q\n", acmeDomain, closed)
	rfc := "dns_provider = \"rfc2136\"\n[acme.rfc2136]\nnameserver = \"127.0.0.1:53\"\nzone = \"ftpsd.test.\"\n" +
		"tsig_key_name = \"k.\"\ntsig_secret_file = %q\n"
	for _, tc := range []struct{ name, text, key string }{
		{"CA down", base + fmt.Sprintf(rfc, notBase64), "acme.ca: the CA's directory is not reachable"},
		{"TSIG secret", base + fmt.Sprintf(rfc, notBase64), "acme.rfc2136.tsig_secret_file:"},
		{"TSIG file missing", base + fmt.Sprintf(rfc, filepath.Join(dir, "missing")), "acme.rfc2136.tsig_secret_file:"},
		{"exec not executable", base + fmt.Sprintf("dns_provider = \"exec\"\n[acme.exec]\ncommand = [%q]\n", notExec),
			"acme.exec.command:"},
		{"EAB key file", base + fmt.Sprintf("eab_key_id = \"kid\"\neab_hmac_file = %q\nchallenge = \"http-01\"\n",
			filepath.Join(dir, "missing")), "acme.eab_hmac_file:"},
		{"storage not a directory", base + fmt.Sprintf("storage = %q\nchallenge = \"http-01\"\n", filepath.Join(notExec, "acme")),
			"acme.storage: " + notExec + " is not a directory"},
		{"with cert_file", strings.Replace(base, "self_signed = true", "cert_file = \"/c.pem\"\nkey_file = \"/k.pem\"", 1) +
			"challenge = \"http-01\"\n", "acme.domains: cannot be set together with tls.cert_file"},
	} {
		r := runFtpsd(t, "", "check", "-config", writeText(t, dir, "ftpsd.toml", tc.text))
		if r.code == exitOK || !strings.Contains(r.stderr, tc.key) {
			t.Errorf("%s: %v\nwant a failure naming %q", tc.name, r, tc.key)
		}
	}
}

// ftpsd check accepts an [acme] table whose CA answers (Pebble, trusted
// through ca_root_file) and whose TSIG key file is good.
func TestCheckACMEReachable(t *testing.T) {
	lab := newACMELab(t)
	dir := t.TempDir()
	text := goodConfig(ftptest.HashPassword(t, "alice-secret"), "self_signed = true") +
		fmt.Sprintf("[acme]\ndomains = [%q]\nca = %q\nca_root_file = %q\n%s", acmeDomain, lab.ca.DirectoryURL,
			lab.ca.TLSRootFile, lab.rfc2136())
	r := runFtpsd(t, "", "check", "-config", writeText(t, dir, "ftpsd.toml", text))
	if r.code != exitOK {
		t.Fatalf("check of a good [acme]: %v", r)
	}
	// Without ca_root_file the CA's certificate is not trusted.
	text = strings.Replace(text, fmt.Sprintf("ca_root_file = %q\n", lab.ca.TLSRootFile), "", 1)
	r = runFtpsd(t, "", "check", "-config", writeText(t, dir, "ftpsd.toml", text))
	if r.code == exitOK || !strings.Contains(r.stderr, "acme.ca:") || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("check without ca_root_file: %v\nwant acme.ca and a certificate error", r)
	}
}

// DNS-01 waits for every server to serve the record, bounded by
// propagation_timeout: with a second server (of dns_resolvers) that never
// gets the update, the order fails after the timeout, the CA is never
// asked to validate, and the error names that server.
func TestACMEDNS01PropagationTimeout(t *testing.T) {
	lab := newACMELab(t)
	lagging := acmetest.NewDNS(t, acmeZone) // same zone, no updates reach it
	f := newFixture(t, 2)
	metricsAddr := metricsListen(t)
	table := strings.Replace(lab.rfc2136(), fmt.Sprintf("dns_resolvers = [%q]", lab.dns.Addr),
		fmt.Sprintf("dns_resolvers = [%q, %q]\npropagation_timeout = \"3s\"", lab.dns.Addr, lagging.Addr), 1)
	f.write(lab.acmeConfig(f, metricsAddr, table))
	s := startFtpsd(t, f.dir, "-config", f.path)
	s.waitLog(t, "ftpsd started", 1, startTimeout)
	failed := s.waitLog(t, "certificate not obtained; the current one stays served, retried with backoff", 1, 30*time.Second)
	t.Logf("error: %v", failed["error"])
	if msg, _ := failed["error"].(string); !strings.Contains(msg, lagging.Addr) {
		t.Errorf("the failure does not name the server that lacks the record (%s): %v", lagging.Addr, failed["error"])
	}
	if got := value(t, scrape(t, metricsAddr), `ftpsd_acme_renewals_total{result="failure"}`); got != 1 {
		t.Errorf(`ftpsd_acme_renewals_total{result="failure"} = %v, want 1`, got)
	}
	if orders, issued := lab.ca.Orders(); issued != 0 {
		t.Errorf("Pebble: %d orders, %d issued; want none issued", orders, issued)
	}
}

// Two domains get a certificate each: a client gets the one of the name it
// sends (SNI), and a client that sends none gets the first domain's.
func TestACMETwoDomains(t *testing.T) {
	lab := newACMELab(t)
	f := newFixture(t, 2)
	const other = "files.ftpsd.test"
	text := strings.Replace(lab.acmeConfig(f, "", lab.http01()), fmt.Sprintf("domains = [%q]", acmeDomain),
		fmt.Sprintf("domains = [%q, %q]", acmeDomain, other), 1)
	f.write(text)
	s := startFtpsd(t, f.dir, "-config", f.path)
	addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
	s.waitLog(t, "serving ACME certificate", 2, acmeTimeout)
	for _, c := range []struct{ sni, want string }{{other, other}, {acmeDomain, acmeDomain}, {"", acmeDomain}} {
		cfg := lab.trusting(t).Clone()
		cfg.ServerName = c.sni
		if c.sni == "" {
			cfg.InsecureSkipVerify = true //nolint:gosec // no name to verify: the certificate is checked below
			cfg.ServerName = ""
		}
		cl, err := ftptest.Dialer{TLS: cfg}.Login(addr, "alice", password("alice"))
		if err != nil {
			t.Fatalf("server name %q: %v", c.sni, err)
		}
		st, _ := cl.TLSState()
		_ = cl.Quit()
		if got := st.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != c.want {
			t.Errorf("server name %q: served %v, want [%s]", c.sni, got, c.want)
		}
	}
	if _, issued := lab.ca.Orders(); issued != 2 {
		t.Errorf("Pebble issued %d certificates, want 2", issued)
	}
}
