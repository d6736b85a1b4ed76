package dnsprovider_test

import (
	"context"
	"crypto/x509"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/libdns"
	"go.uber.org/zap/zaptest"

	"ftpsd/acme/dnsprovider"
	"ftpsd/internal/acmetest"
)

// obtain orders a certificate for name from ca through certmagic's
// DNS01Solver with p, pointed at d as the core ACME manager must point it
// in tests (Resolvers: the test server's address; see the package doc),
// with certmagic's propagation check bounded by propagation (-1: none),
// and returns its chain, leaf first.
func obtain(t *testing.T, d *acmetest.DNS, ca *acmetest.Pebble, p certmagic.DNSProvider, name string,
	propagation time.Duration) ([]*x509.Certificate, error) {
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
			PropagationTimeout: propagation,
			Logger:             zaptest.NewLogger(t),
		}},
		CertObtainTimeout: 90 * time.Second,
		Logger:            zaptest.NewLogger(t),
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cfg.ObtainCertSync(ctx, name); err != nil {
		return nil, err
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
	return chain, nil
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
			chain, err := obtain(t, d, ca, pr.new(t), name, 30*time.Second)
			if err != nil {
				t.Fatalf("ObtainCertSync(%s): %v", name, err)
			}
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

// lagging is a provider whose records reach the server a while after
// AppendRecords returns, as on a secondary server that has not yet
// transferred the zone.
type lagging struct {
	certmagic.DNSProvider
	delay time.Duration
	wg    *sync.WaitGroup
	t     *testing.T
}

func (l lagging) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	l.wg.Go(func() {
		time.Sleep(l.delay)
		if _, err := l.DNSProvider.AppendRecords(context.Background(), zone, recs); err != nil {
			l.t.Errorf("late AppendRecords: %v", err)
		}
	})
	out := make([]libdns.Record, 0, len(recs))
	for _, r := range recs {
		rr := r.RR()
		out = append(out, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data})
	}
	return out, nil
}

// TestCertmagicWaitsForPropagation proves that certmagic's propagation
// check, with Resolvers set to the test server on its loopback port, asks
// that server and holds the CA's validation until the record is there:
// with the record 4 seconds late the order fails without the check
// (Pebble validates at once and finds nothing) and succeeds with it; and
// that WaitPropagated, with certmagic's check off as the ACME manager
// sets it, does the same.
func TestCertmagicWaitsForPropagation(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	ca := acmetest.NewPebble(t, d.Addr)
	var wg sync.WaitGroup
	defer wg.Wait()
	late := lagging{DNSProvider: newRFC2136(t, d, nil), delay: 4 * time.Second, wg: &wg, t: t}

	if _, err := obtain(t, d, ca, late, "nocheck.ftpsd.test", -1); err == nil {
		t.Fatal("without the propagation check a record 4s late was validated: the test proves nothing")
	} else {
		t.Logf("without the check: %v", err)
	}
	wg.Wait()

	waiting := dnsprovider.WaitPropagated(late, dnsprovider.PropagationOptions{Servers: []string{d.Addr},
		Timeout: 30 * time.Second, Interval: 500 * time.Millisecond})
	for _, c := range []struct {
		how, name   string
		p           certmagic.DNSProvider
		propagation time.Duration
	}{
		{"certmagic's check", "checked.ftpsd.test", late, 30 * time.Second},
		{"WaitPropagated", "waited.ftpsd.test", waiting, -1},
	} {
		_, issuedBefore := ca.Orders()
		began := time.Now()
		chain, err := obtain(t, d, ca, c.p, c.name, c.propagation)
		if err != nil {
			t.Fatalf("with %s, ObtainCertSync: %v", c.how, err)
		}
		if took := time.Since(began); took < late.delay {
			t.Errorf("with %s, issued in %s, before the record was there (%s)", c.how, took, late.delay)
		}
		verifyIssued(t, ca, chain, c.name)
		if _, issued := ca.Orders(); issued != issuedBefore+1 {
			t.Errorf("with %s, Pebble issued %d certificates, want %d", c.how, issued, issuedBefore+1)
		}
	}
}
