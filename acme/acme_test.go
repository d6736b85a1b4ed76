package acme

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"ftpsd/config"
)

// The renewal check runs a tenth of renew_before apart, between a second
// and a minute, so that certmagic's "expires within five checks"
// emergency rule stays inside renew_before.
func TestRenewCheckInterval(t *testing.T) {
	for before, want := range map[time.Duration]time.Duration{
		0: time.Minute, 5 * time.Second: time.Second, 30 * time.Second: 3 * time.Second,
		720 * time.Hour: time.Minute,
	} {
		if got := renewCheckInterval(before); got != want {
			t.Errorf("renewCheckInterval(%v) = %v, want %v", before, got, want)
		}
		if before > 0 && 5*renewCheckInterval(before) > before && before >= 10*time.Second {
			t.Errorf("renew_before %v: five checks (%v) reach past it", before, 5*renewCheckInterval(before))
		}
	}
}

// renew_before becomes, for each certificate, the ratio of its lifetime
// certmagic renews at; unset, certmagic's third stays.
func TestConfigForRenewBefore(t *testing.T) {
	a := config.Default().ACME
	a.Domains, a.Challenge, a.HTTPListen, a.Storage = []string{"ftp.example.net"}, config.ChallengeHTTP01, "127.0.0.1:0", t.TempDir()
	now := time.Now()
	cert := certmagic.Certificate{Certificate: tls.Certificate{Leaf: &x509.Certificate{
		NotBefore: now, NotAfter: now.Add(90*24*time.Hour - time.Second)}}}
	for before, want := range map[time.Duration]float64{0: certmagic.DefaultRenewalWindowRatio, 30 * 24 * time.Hour: 1.0 / 3,
		9 * 24 * time.Hour: 0.1, 200 * 24 * time.Hour: 1} {
		a.RenewBefore = config.Duration(before)
		m, err := New(Options{ACME: a, Serve: func(...*tls.Certificate) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		got := m.configFor(cert).RenewalWindowRatio
		m.cache.Stop()
		if d := got - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("renew_before %v: ratio %v, want %v", before, got, want)
		}
		if m.magic.DisableARI != (before > 0) {
			t.Errorf("renew_before %v: DisableARI %v", before, m.magic.DisableARI)
		}
	}
}
