package tlsconf

import (
	"crypto/tls"
	"testing"
)

// selfSignedFor returns a self-signed certificate for hosts.
func selfSignedFor(t *testing.T, hosts ...string) *tls.Certificate {
	t.Helper()
	s, err := New(Options{SelfSigned: true, Hosts: hosts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.cert.Load()
}

// Set serves its certificates to new handshakes at once: by server name
// when one matches, else the first; a connection made before keeps the
// certificate it got, and Leaf reports the first.
func TestSetServesByServerName(t *testing.T) {
	s, err := New(Options{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	placeholder := s.Leaf()
	addr := serve(t, s.Config())
	before := mustDial(t, addr, &tls.Config{InsecureSkipVerify: true, ServerName: "a.example"})

	a, b := selfSignedFor(t, "a.example"), selfSignedFor(t, "b.example")
	if err := s.Set(a, b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sni  string
		want *tls.Certificate
	}{{"a.example", a}, {"b.example", b}, {"", a}, {"c.example", a}} {
		got := mustDial(t, addr, &tls.Config{InsecureSkipVerify: true, ServerName: c.sni}).PeerCertificates[0]
		if !got.Equal(c.want.Leaf) {
			t.Errorf("server name %q: served %v, want %v", c.sni, got.DNSNames, c.want.Leaf.DNSNames)
		}
	}
	if !s.Leaf().Equal(a.Leaf) {
		t.Errorf("Leaf() = %v, want the first certificate given to Set", s.Leaf().DNSNames)
	}
	if !before.PeerCertificates[0].Equal(placeholder) {
		t.Errorf("the connection made before Set saw %v", before.PeerCertificates[0].DNSNames)
	}
	if err := s.Set(&tls.Certificate{}); err == nil {
		t.Error("Set accepted a certificate without its leaf")
	}
}
