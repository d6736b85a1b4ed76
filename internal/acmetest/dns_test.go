package acmetest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A TSIG-signed RFC 2136 update adds a TXT record that a query then
// returns; an unsigned update and one signed with a wrong secret are
// refused and change nothing.
func TestDNSUpdateWithTSIG(t *testing.T) {
	d := NewDNS(t, "ftpsd.test")
	name := "_acme-challenge.x.ftpsd.test."
	if r := d.Query(t, name, dns.TypeTXT); len(r.Answer) != 0 {
		t.Fatalf("TXT %s before any update: %v", name, r.Answer)
	}

	update := func(value string) *dns.Msg {
		m := new(dns.Msg)
		m.SetUpdate(d.Zone)
		m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: []string{value}}})
		return m
	}
	// Unsigned.
	c := dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(update("unsigned"), d.Addr)
	if err != nil {
		t.Fatalf("unsigned update: %v", err)
	}
	t.Logf("unsigned update: %s", dns.RcodeToString[r.Rcode])
	if r.Rcode != dns.RcodeRefused && r.Rcode != dns.RcodeNotAuth {
		t.Errorf("unsigned update: rcode %s, want REFUSED or NOTAUTH", dns.RcodeToString[r.Rcode])
	}
	// Signed with another secret under the same key name.
	wrong := dns.Client{Net: "tcp", Timeout: 5 * time.Second,
		TsigSecret: map[string]string{d.KeyName: "d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGxvbmcgISE="}}
	m := update("wrongly signed")
	m.SetTsig(d.KeyName, d.Algorithm, 300, time.Now().Unix())
	r, _, err = wrong.Exchange(m, d.Addr)
	switch {
	case err != nil && r == nil:
		t.Fatalf("wrongly signed update: %v", err)
	case r.Rcode != dns.RcodeRefused && r.Rcode != dns.RcodeNotAuth:
		t.Errorf("wrongly signed update: rcode %s (err %v), want REFUSED or NOTAUTH", dns.RcodeToString[r.Rcode], err)
	}
	t.Logf("wrongly signed update: %s (client: %v)", dns.RcodeToString[r.Rcode], err)
	if r := d.Query(t, name, dns.TypeTXT); len(r.Answer) != 0 {
		t.Fatalf("TXT %s after refused updates: %v", name, r.Answer)
	}

	d.SetTXT(t, name, "token-1")
	r = d.Query(t, name, dns.TypeTXT)
	if len(r.Answer) != 1 {
		t.Fatalf("TXT %s after the signed update: %v, want one record", name, r.Answer)
	}
	if txt, ok := r.Answer[0].(*dns.TXT); !ok || len(txt.Txt) != 1 || txt.Txt[0] != "token-1" {
		t.Fatalf("TXT %s: %v, want \"token-1\"", name, r.Answer[0])
	}
	if !r.Authoritative {
		t.Errorf("answer for %s not authoritative", name)
	}
}
