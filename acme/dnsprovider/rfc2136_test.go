package dnsprovider_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"ftpsd/acme/dnsprovider"
	"ftpsd/internal/acmetest"
)

// testZone is the zone of the test DNS server.
const testZone = "ftpsd.test."

// newRFC2136 returns a provider updating d with its key, with opts'
// fields that are set overriding d's.
func newRFC2136(t *testing.T, d *acmetest.DNS, edit func(*dnsprovider.RFC2136Options)) *dnsprovider.RFC2136 {
	t.Helper()
	opts := dnsprovider.RFC2136Options{Nameserver: d.Addr, Zone: d.Zone, KeyName: d.KeyName,
		Algorithm: strings.TrimSuffix(d.Algorithm, "."), Secret: d.Secret, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&opts)
	}
	p, err := dnsprovider.NewRFC2136(opts)
	if err != nil {
		t.Fatalf("NewRFC2136: %v", err)
	}
	return p
}

// txtValues returns the TXT values knot serves for name, sorted.
func txtValues(t *testing.T, d *acmetest.DNS, name string) []string {
	t.Helper()
	r := d.Query(t, name, dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		t.Fatalf("query TXT %s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var values []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(values)
	return values
}

func txt(name, value string) libdns.Record {
	return libdns.TXT{Name: name, Text: value}
}

func TestRFC2136AppendIsServed(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, nil)
	ctx := context.Background()

	got, err := p.AppendRecords(ctx, testZone, []libdns.Record{txt("_acme-challenge.www", "token-1")})
	if err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("AppendRecords returned %d records, want 1: %v", len(got), got)
	}
	rr := got[0].RR()
	if _, ok := got[0].(libdns.TXT); !ok || rr.Name != "_acme-challenge.www" || rr.Data != "token-1" ||
		rr.TTL != dnsprovider.DefaultTTL {
		t.Errorf("AppendRecords returned %#v, want libdns.TXT _acme-challenge.www token-1 TTL %s", got[0], dnsprovider.DefaultTTL)
	}
	if v := txtValues(t, d, "_acme-challenge.www."+testZone); !slices.Equal(v, []string{"token-1"}) {
		t.Errorf("knot serves TXT %q, want [token-1]", v)
	}
	r := d.Query(t, "_acme-challenge.www."+testZone, dns.TypeTXT)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 60 {
		t.Errorf("answer %v, want one TXT with TTL 60", r.Answer)
	}
}

// TestRFC2136DeleteRemovesOnlyItsValue is two challenges on one name
// (example.com and *.example.com): each cleanup removes its own value.
func TestRFC2136DeleteRemovesOnlyItsValue(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, nil)
	ctx := context.Background()
	name, fqdn := "_acme-challenge", "_acme-challenge."+testZone

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []string{"apex-token", "wildcard-token"} {
		wg.Go(func() { _, errs[i] = p.AppendRecords(ctx, testZone, []libdns.Record{txt(name, v)}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	if v := txtValues(t, d, fqdn); !slices.Equal(v, []string{"apex-token", "wildcard-token"}) {
		t.Fatalf("after two appends knot serves %q, want both values", v)
	}

	deleted, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt(name, "apex-token")})
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if len(deleted) != 1 || deleted[0].RR().Data != "apex-token" || deleted[0].RR().Name != name {
		t.Errorf("DeleteRecords returned %v, want the one apex-token record", deleted)
	}
	if v := txtValues(t, d, fqdn); !slices.Equal(v, []string{"wildcard-token"}) {
		t.Fatalf("after deleting apex-token knot serves %q, want [wildcard-token]", v)
	}

	// Deleting what is not there is no error and deletes nothing.
	deleted, err = p.DeleteRecords(ctx, testZone, []libdns.Record{txt(name, "apex-token")})
	if err != nil || len(deleted) != 0 {
		t.Errorf("deleting again: %v, %v; want nothing deleted, no error", deleted, err)
	}

	if _, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt(name, "wildcard-token")}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if v := txtValues(t, d, fqdn); len(v) != 0 {
		t.Fatalf("after deleting both knot serves %q, want none", v)
	}
}

// TestRFC2136DeleteMissingName: removing a record whose name does not
// exist (the server answers NXDOMAIN: here a name under one that exists,
// out of the zone wildcard's reach) is no error and removes nothing, as a
// cleanup run twice would.
func TestRFC2136DeleteMissingName(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, nil)
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, testZone, []libdns.Record{txt("host", "v")}); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	if r := d.Query(t, "_acme-challenge.host."+testZone, dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Fatalf("knot answers %s for the missing name, want NXDOMAIN: the test proves nothing", dns.RcodeToString[r.Rcode])
	}
	deleted, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt("_acme-challenge.host", "v")})
	if err != nil || len(deleted) != 0 {
		t.Errorf("DeleteRecords(missing name) = %v, %v; want nothing deleted, no error", deleted, err)
	}
	if v := txtValues(t, d, "host."+testZone); !slices.Equal(v, []string{"v"}) {
		t.Errorf("host serves %q, want [v]", v)
	}
}

// TestRFC2136LongValue: a value longer than a TXT string's 255 bytes is
// split and served joined, and removed by the same value.
func TestRFC2136LongValue(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, nil)
	ctx := context.Background()
	long := strings.Repeat("0123456789", 60)
	if _, err := p.AppendRecords(ctx, "ftpsd.test", []libdns.Record{txt("long", long)}); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	if v := txtValues(t, d, "long."+testZone); !slices.Equal(v, []string{long}) {
		t.Fatalf("knot serves %d values (%v), want the 600-byte value", len(v), v)
	}
	deleted, err := p.DeleteRecords(ctx, "ftpsd.test", []libdns.Record{txt("long", long)})
	if err != nil || len(deleted) != 1 {
		t.Fatalf("DeleteRecords: %v, %v; want one deleted", deleted, err)
	}
	if v := txtValues(t, d, "long."+testZone); len(v) != 0 {
		t.Fatalf("after delete knot serves %d values, want none", len(v))
	}
}

// TestRFC2136ZoneNames: the zone with or without its final dot, given to
// the provider or to AppendRecords, and a zone below the configured one
// (as certmagic may find) name the same record.
func TestRFC2136ZoneNames(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, func(o *dnsprovider.RFC2136Options) { o.Zone = "FTPSD.test" })
	ctx := context.Background()
	for _, c := range []struct{ zone, name string }{
		{"ftpsd.test", "a"}, {"ftpsd.test.", "b"}, {"", "c"}, {"sub.ftpsd.test.", "d"}, {"ftpsd.test.", "e.sub"},
	} {
		if _, err := p.AppendRecords(ctx, c.zone, []libdns.Record{txt(c.name, "v")}); err != nil {
			t.Fatalf("AppendRecords(zone %q, %q): %v", c.zone, c.name, err)
		}
	}
	for _, fqdn := range []string{"a.ftpsd.test.", "b.ftpsd.test.", "c.ftpsd.test.", "d.sub.ftpsd.test.", "e.sub.ftpsd.test."} {
		if v := txtValues(t, d, fqdn); !slices.Equal(v, []string{"v"}) {
			t.Errorf("%s: knot serves %q, want [v]", fqdn, v)
		}
	}
}

func TestRFC2136Refusals(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	ctx := context.Background()
	otherSecret := make([]byte, 32)
	if _, err := rand.Read(otherSecret); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*dnsprovider.RFC2136Options)
		zone string
		want []string
	}{
		{"wrong secret", func(o *dnsprovider.RFC2136Options) { o.Secret = base64.StdEncoding.EncodeToString(otherSecret) },
			testZone, []string{"refused the key ftpsd-acme.ftpsd.test.", "BADSIG"}},
		{"unknown key", func(o *dnsprovider.RFC2136Options) { o.KeyName = "other-key." + testZone },
			testZone, []string{"refused the key other-key.ftpsd.test.", "BADKEY"}},
		{"wrong algorithm", func(o *dnsprovider.RFC2136Options) { o.Algorithm = "hmac-sha512" },
			testZone, []string{"refused the key", "BADKEY"}},
		{"zone the server does not serve", func(o *dnsprovider.RFC2136Options) { o.Zone = "other.test" },
			"other.test.", []string{"NOTAUTH", "not authoritative for other.test."}},
		{"name outside the zone", nil, "example.org.", []string{"_acme-challenge.example.org. is outside the zone ftpsd.test."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newRFC2136(t, d, c.edit)
			_, err := p.AppendRecords(ctx, c.zone, []libdns.Record{txt("_acme-challenge", "refused")})
			if err == nil {
				t.Fatal("AppendRecords succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if v := txtValues(t, d, "_acme-challenge."+testZone); len(v) != 0 {
				t.Errorf("knot serves %q after a refused update, want nothing", v)
			}
		})
	}
	// The delete is refused the same way, and the record stays.
	d.SetTXT(t, "_acme-challenge."+testZone, "kept")
	p := newRFC2136(t, d, func(o *dnsprovider.RFC2136Options) { o.Secret = base64.StdEncoding.EncodeToString(otherSecret) })
	if _, err := p.DeleteRecords(ctx, testZone, []libdns.Record{txt("_acme-challenge", "kept")}); err == nil ||
		!strings.Contains(err.Error(), "BADSIG") {
		t.Errorf("DeleteRecords with the wrong secret: %v, want a BADSIG error", err)
	}
	if v := txtValues(t, d, "_acme-challenge."+testZone); !slices.Equal(v, []string{"kept"}) {
		t.Errorf("knot serves %q after a refused delete, want [kept]", v)
	}
}

// TestRFC2136ServerDown: a server that does not answer is an error naming
// it, within the timeout.
func TestRFC2136ServerDown(t *testing.T) {
	p, err := dnsprovider.NewRFC2136(dnsprovider.RFC2136Options{Nameserver: "127.0.0.1:1", Zone: testZone,
		KeyName: "k", Secret: base64.StdEncoding.EncodeToString([]byte("secret")), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.AppendRecords(context.Background(), testZone, []libdns.Record{txt("x", "y")})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("AppendRecords to a closed port: %v, want an error naming 127.0.0.1:1", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s, want at most the 2s timeout", d)
	}
}

func TestNewRFC2136Options(t *testing.T) {
	good := dnsprovider.RFC2136Options{Nameserver: "192.0.2.1:53", Zone: "example.com", KeyName: "acme",
		Secret: base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))}
	if _, err := dnsprovider.NewRFC2136(good); err != nil {
		t.Fatalf("NewRFC2136(%+v): %v", good, err)
	}
	for _, alg := range []string{"hmac-sha256", "hmac-sha512", "HMAC-SHA384", "hmac-sha224", "hmac-sha1", "hmac-sha256."} {
		o := good
		o.Algorithm = alg
		if _, err := dnsprovider.NewRFC2136(o); err != nil {
			t.Errorf("Algorithm %q: %v", alg, err)
		}
	}
	cases := []struct {
		option string
		edit   func(*dnsprovider.RFC2136Options)
	}{
		{"Nameserver", func(o *dnsprovider.RFC2136Options) { o.Nameserver = "" }},
		{"Nameserver", func(o *dnsprovider.RFC2136Options) { o.Nameserver = "192.0.2.1" }},
		{"Nameserver", func(o *dnsprovider.RFC2136Options) { o.Nameserver = "192.0.2.1:domain" }},
		{"Nameserver", func(o *dnsprovider.RFC2136Options) { o.Nameserver = "192.0.2.1:0" }},
		{"Zone", func(o *dnsprovider.RFC2136Options) { o.Zone = "" }},
		{"Zone", func(o *dnsprovider.RFC2136Options) { o.Zone = "a..b" }},
		{"KeyName", func(o *dnsprovider.RFC2136Options) { o.KeyName = "" }},
		{"Algorithm", func(o *dnsprovider.RFC2136Options) { o.Algorithm = "hmac-md5" }},
		{"Secret", func(o *dnsprovider.RFC2136Options) { o.Secret = "" }},
		{"Secret", func(o *dnsprovider.RFC2136Options) { o.Secret = "not base64!" }},
		{"Timeout", func(o *dnsprovider.RFC2136Options) { o.Timeout = -time.Second }},
	}
	for _, c := range cases {
		o := good
		c.edit(&o)
		_, err := dnsprovider.NewRFC2136(o)
		var oe *dnsprovider.OptionError
		if !errors.As(err, &oe) || oe.Option != c.option {
			t.Errorf("NewRFC2136(%+v) = %v, want an OptionError for %s", o, err, c.option)
		}
	}
}

// fakeAnswerer is a DNS server on loopback that accepts every update and
// answers NOERROR, signed with secret (unsigned when it is empty): what a
// server that does not check the key, or someone between, would answer.
func fakeAnswerer(t *testing.T, keyName, secret string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			r := new(dns.Msg).SetReply(req)
			if secret != "" {
				r.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
			}
			_ = w.WriteMsg(r)
		})}
	if secret != "" {
		srv.TsigSecret = map[string]string{keyName: secret}
	}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().String()
}

// TestRFC2136AnswerMustBeSigned: a NOERROR that is not signed with the
// key, or signed with another secret, is not taken as success.
func TestRFC2136AnswerMustBeSigned(t *testing.T) {
	const keyName = "acme.example.com."
	secret := base64.StdEncoding.EncodeToString([]byte("the key's own secret"))
	other := base64.StdEncoding.EncodeToString([]byte("some other secret"))
	for _, c := range []struct {
		name, answerSecret, want string
	}{
		{"unsigned", "", "answered NOERROR but not signed with the key acme.example.com."},
		{"other secret", other, "answer not trusted: dns: bad signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := fakeAnswerer(t, keyName, c.answerSecret)
			p, err := dnsprovider.NewRFC2136(dnsprovider.RFC2136Options{Nameserver: addr, Zone: "example.com",
				KeyName: keyName, Secret: secret, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.AppendRecords(context.Background(), "example.com.", []libdns.Record{txt("_acme-challenge", "v")})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("AppendRecords: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestRFC2136DeleteWithoutValueOrType: libdns' special cases, a record
// without a value (every value of its type) and one without a type
// (every record of its name), remove that much and no more.
func TestRFC2136DeleteWithoutValueOrType(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	p := newRFC2136(t, d, nil)
	ctx := context.Background()
	recs := []libdns.Record{txt("a", "1"), txt("a", "2"), txt("b", "3"),
		libdns.RR{Name: "a", Type: "AAAA", Data: "2001:db8::1"}, libdns.RR{Name: "b", Type: "AAAA", Data: "2001:db8::2"}}
	if _, err := p.AppendRecords(ctx, testZone, recs); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}

	deleted, err := p.DeleteRecords(ctx, testZone, []libdns.Record{libdns.RR{Name: "a", Type: "TXT"}})
	if err != nil || len(deleted) != 2 {
		t.Fatalf("DeleteRecords(a TXT) = %v, %v; want the 2 TXT of a", deleted, err)
	}
	if v := txtValues(t, d, "a."+testZone); len(v) != 0 {
		t.Errorf("a still has TXT %q", v)
	}
	if r := d.Query(t, "a."+testZone, dns.TypeAAAA); len(r.Answer) != 1 {
		t.Errorf("a has %d AAAA, want its one left", len(r.Answer))
	}

	deleted, err = p.DeleteRecords(ctx, testZone, []libdns.Record{libdns.RR{Name: "b"}})
	if err != nil || len(deleted) != 2 {
		t.Fatalf("DeleteRecords(b) = %v, %v; want b's TXT and AAAA", deleted, err)
	}
	for _, q := range []uint16{dns.TypeTXT, dns.TypeAAAA} {
		if r := d.Query(t, "b."+testZone, q); len(r.Answer) != 0 {
			t.Errorf("b still has %v", r.Answer)
		}
	}
	if r := d.Query(t, "a."+testZone, dns.TypeAAAA); len(r.Answer) != 1 {
		t.Errorf("deleting b took a's AAAA")
	}
}
