package acmetest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// Pebble is a Pebble ACME server on loopback that validates challenges
// for real: DNS-01 by asking the DNS server it was given, HTTP-01 and
// TLS-ALPN-01 by connecting to the name's address (127.0.0.1 under
// NewDNS's zone) at HTTPPort and TLSPort.
type Pebble struct {
	// DirectoryURL is the ACME directory, "https://127.0.0.1:PORT/dir".
	DirectoryURL string
	// ManagementURL is Pebble's management interface, where /roots/0
	// serves the root of the certificates it issues.
	ManagementURL string
	// TLSRoots trusts the certificate of Pebble's own HTTPS listeners
	// (not the certificates it issues: see IssuingRoots).
	TLSRoots *x509.CertPool
	// TLSRootFile holds that root as PEM, for programs given a file.
	TLSRootFile string
	// HTTPPort and TLSPort are the loopback ports where Pebble validates
	// HTTP-01 and TLS-ALPN-01 challenges; the test listens on them.
	HTTPPort, TLSPort int

	proc *process
}

// PebbleOption changes how NewPebble configures Pebble.
type PebbleOption func(*pebbleOptions)

type pebbleOptions struct {
	validity time.Duration
	eab      map[string]string
}

// WithEAB makes Pebble require External Account Binding with one of keys
// (key identifier to base64url HMAC key).
func WithEAB(keys map[string]string) PebbleOption {
	return func(o *pebbleOptions) { o.eab = keys }
}

// WithValidity makes the certificates Pebble issues valid for d (90 days
// by default): seconds, for tests of renewal.
func WithValidity(d time.Duration) PebbleOption {
	return func(o *pebbleOptions) { o.validity = d }
}

// NewPebble starts Pebble with dnsAddr ("host:port", reached over TCP) as
// its only resolver, a fresh HTTPS certificate, free loopback ports, no
// validation delay, no rejected nonces and real validation, and waits
// until its directory answers.
func NewPebble(t testing.TB, dnsAddr string, options ...PebbleOption) *Pebble {
	t.Helper()
	o := pebbleOptions{validity: 90 * 24 * time.Hour}
	for _, opt := range options {
		opt(&o)
	}
	bin := pebbleBinary(t)
	dir := t.TempDir()
	root := testcert.Issue(t, "ftpsd acmetest Pebble TLS root", true, nil)
	leaf := testcert.Issue(t, "localhost", false, root)
	certFile, keyFile := leaf.Write(t, dir)
	p := &Pebble{
		TLSRoots: x509.NewCertPool(), TLSRootFile: filepath.Join(dir, "tls-root.pem"),
		HTTPPort: ftptest.FreePort(t), TLSPort: ftptest.FreePort(t),
	}
	p.TLSRoots.AddCert(root.Cert)
	if err := os.WriteFile(p.TLSRootFile, testcert.CertPEM(root.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, manage := "127.0.0.1:"+strconv.Itoa(ftptest.FreePort(t)), "127.0.0.1:"+strconv.Itoa(ftptest.FreePort(t))
	p.DirectoryURL, p.ManagementURL = "https://"+listen+"/dir", "https://"+manage
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": manage,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": p.HTTPPort, "tlsPort": p.TLSPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": o.eab != nil, "externalAccountMACKeys": o.eab,
		"retryAfter":   map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm": "ecdsa",
		"profiles": map[string]any{
			"default": map[string]any{"description": "ftpsd tests", "validityPeriod": int(o.validity.Seconds())},
		},
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0",
		"PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_AUTHZREUSE=0")
	p.proc = start(t, "pebble", cmd, func() bool {
		resp, err := p.HTTPClient().Get(p.DirectoryURL)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// Stop kills Pebble and waits until it has exited: the CA is down (its
// ports refuse connections) for the rest of the test.
func (p *Pebble) Stop() {
	_ = p.proc.cmd.Process.Kill()
	<-p.proc.exited
}

// Orders returns how many orders Pebble has created and how many
// certificates it has issued so far, counted in its log.
func (p *Pebble) Orders() (orders, issued int) {
	out := p.proc.output.String()
	return strings.Count(out, "Added order "), strings.Count(out, "Issued certificate serial ")
}

// pebbleBinary returns the Pebble program's path, or skips the test.
func pebbleBinary(t testing.TB) string {
	t.Helper()
	testenv.FullTier(t, "Pebble")
	bin := os.Getenv("FTPSD_PEBBLE")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "ftpsd-pebble", "pebble")
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "acmetest: no Pebble at %s (set FTPSD_PEBBLE, or run GOBIN=$HOME/.cache/ftpsd-pebble "+
			"go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3)", bin)
	}
	return bin
}

// HTTPClient returns an HTTP client that trusts Pebble's HTTPS listeners
// and nothing else, with a bounded timeout.
func (p *Pebble) HTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.TLSRoots, MinVersion: tls.VersionTLS12},
	}}
}

// IssuingRoots returns the root of the certificates Pebble issues, from
// its management interface's /roots/0 (a new one at each Pebble start).
func (p *Pebble) IssuingRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pemBytes := p.IssuingRootPEM(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("pebble: no certificate in /roots/0:\n%s", pemBytes)
	}
	return pool
}

// IssuingRootPEM returns /roots/0 as served: the issuing root, PEM.
func (p *Pebble) IssuingRootPEM(t testing.TB) []byte {
	t.Helper()
	b, err := p.get(p.ManagementURL + "/roots/0")
	if err != nil {
		t.Fatalf("pebble: issuing root: %v", err)
	}
	return b
}

func (p *Pebble) get(url string) ([]byte, error) {
	resp, err := p.HTTPClient().Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}
