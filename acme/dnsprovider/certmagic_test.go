package dnsprovider_test

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap/zaptest"

	"ftpsd/acme/dnsprovider"
	"ftpsd/internal/acmetest"
)

// obtain orders a certificate for name from ca through certmagic's
// DNS01Solver with p, pointed at d as the core ACME manager must point it
// in tests (Resolvers: the test server's address; see the package doc),
// and returns its chain, leaf first.
func obtain(t *testing.T, d *acmetest.DNS, ca *acmetest.Pebble, p certmagic.DNSProvider, name string) []*x509.Certificate {
	t.Helper()
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zaptest.NewLogger(t),
	})
	t.Cleanup(cache.Stop)
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: t.TempDir()},
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		Logger:  zaptest.NewLogger(t),
	})
	cfg.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA: ca.DirectoryURL, TestCA: ca.DirectoryURL, TrustedRoots: ca.TLSRoots,
		Email: "admin@ftpsd.test", Agreed: true,
		DisableHTTPChallenge: true, DisableTLSALPNChallenge: true,
		DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider:        p,
			Resolvers:          []string{d.Addr},
			PropagationTimeout: 30 * time.Second,
			Logger:             zaptest.NewLogger(t),
		}},
		CertObtainTimeout: 90 * time.Second,
		Logger:            zaptest.NewLogger(t),
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cfg.ObtainCertSync(ctx, name); err != nil {
		t.Fatalf("ObtainCertSync(%s): %v", name, err)
	}
	cert, err := cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		t.Fatalf("CacheManagedCertificate(%s): %v", name, err)
	}
	var chain []*x509.Certificate
	for _, der := range cert.Certificate.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}

// verifyIssued checks that chain is a certificate for name that a client
// trusting Pebble's issuing root accepts.
func verifyIssued(t *testing.T, ca *acmetest.Pebble, chain []*x509.Certificate, name string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: ca.IssuingRoots(t), Intermediates: inter}); err != nil {
		t.Errorf("the certificate for %s does not verify against Pebble's root: %v", name, err)
	}
}

// TestCertmagicDNS01 orders certificates from Pebble through certmagic's
// DNS01Solver with each provider, knot answering Pebble's DNS-01 queries
// and certmagic's propagation check: the certificate is issued, and the
// challenge records are gone afterwards.
func TestCertmagicDNS01(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	ca := acmetest.NewPebble(t, d.Addr)

	providers := []struct {
		name string
		new  func(t *testing.T) certmagic.DNSProvider
	}{
		{"rfc2136", func(t *testing.T) certmagic.DNSProvider { return newRFC2136(t, d, nil) }},
		{"exec", func(t *testing.T) certmagic.DNSProvider {
			p, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: []string{nsupdateScript(t, d, t.TempDir())},
				Logger: zaptest.NewLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	issued := 0
	for _, pr := range providers {
		t.Run(pr.name, func(t *testing.T) {
			name := pr.name + ".ftpsd.test"
			began := time.Now()
			chain := obtain(t, d, ca, pr.new(t), name)
			t.Logf("issued in %s", time.Since(began).Round(time.Millisecond))
			issued++
			verifyIssued(t, ca, chain, name)
			if !slices.Contains(chain[0].DNSNames, name) {
				t.Errorf("certificate names %v, want %s", chain[0].DNSNames, name)
			}
			if v := txtValues(t, d, "_acme-challenge."+name+"."); len(v) != 0 {
				t.Errorf("after the order knot still serves the challenge %q", v)
			}
			if orders, n := ca.Orders(); n != issued {
				t.Errorf("Pebble issued %d certificates (%d orders), want %d", n, orders, issued)
			}
		})
	}
}
