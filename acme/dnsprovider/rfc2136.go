package dnsprovider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// RFC2136Options configure an RFC2136 provider.
type RFC2136Options struct {
	// Nameserver is the primary server of the zone, "host:port", which
	// takes the updates (over TCP).
	Nameserver string
	// Zone is the zone the updates are for (with or without the final
	// dot); every record must be under it.
	Zone string
	// KeyName is the TSIG key's name, as the server knows it.
	KeyName string
	// Algorithm is the TSIG algorithm: "hmac-sha256" (when empty),
	// "hmac-sha512", "hmac-sha384", "hmac-sha224" or "hmac-sha1".
	Algorithm string
	// Secret is the TSIG key's secret, base64 as in a key file.
	Secret string
	// Timeout bounds each exchange with the server (DefaultTimeout when
	// zero).
	Timeout time.Duration
}

// DefaultTimeout is an exchange's or a command's time limit when its
// options say none.
const DefaultTimeout = 30 * time.Second

// DefaultTTL is the TTL of records given without one: short, as a
// challenge record lives for minutes.
const DefaultTTL = 60 * time.Second

// tsigFudge is the TSIG time window, seconds either way (RFC 8945's
// recommended 300).
const tsigFudge = 300

// algorithms maps the Algorithm option's names to TSIG algorithm names.
var algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha512": dns.HmacSHA512,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha1":   dns.HmacSHA1,
}

// OptionError says which option of a provider is wrong and why.
type OptionError struct {
	// Option is the options struct's field name ("Nameserver", "Command"...).
	Option string
	Reason string
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Reason }

// RFC2136 adds and removes records in a zone through dynamic updates
// (RFC 2136) signed with a TSIG key (RFC 8945), as BIND, Knot, PowerDNS
// and most self-hosted DNS servers take them. It implements libdns'
// RecordAppender and RecordDeleter, which certmagic's DNS01Solver needs.
// It is safe for concurrent use: each update is one atomic message.
type RFC2136 struct {
	nameserver string
	zone       string // fully qualified, lower case
	keyName    string // fully qualified, lower case
	algorithm  string
	secret     string
	timeout    time.Duration
}

// NewRFC2136 checks opts and returns the provider. It does not contact
// the server.
func NewRFC2136(opts RFC2136Options) (*RFC2136, error) {
	p := &RFC2136{nameserver: opts.Nameserver, secret: strings.TrimSpace(opts.Secret), timeout: opts.Timeout}
	host, port, err := net.SplitHostPort(opts.Nameserver)
	if err != nil || host == "" {
		return nil, &OptionError{"Nameserver", fmt.Sprintf("%q is not host:port", opts.Nameserver)}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, &OptionError{"Nameserver", fmt.Sprintf("%q: port %q is not a number from 1 to 65535", opts.Nameserver, port)}
	}
	if p.zone, err = fqdn(opts.Zone); err != nil {
		return nil, &OptionError{"Zone", err.Error()}
	}
	if p.keyName, err = fqdn(opts.KeyName); err != nil {
		return nil, &OptionError{"KeyName", err.Error()}
	}
	alg := strings.TrimSuffix(strings.ToLower(opts.Algorithm), ".")
	if alg == "" {
		alg = "hmac-sha256"
	}
	if p.algorithm = algorithms[alg]; p.algorithm == "" {
		return nil, &OptionError{"Algorithm", fmt.Sprintf("%q is not one of hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1", opts.Algorithm)}
	}
	if err := checkSecret(p.secret); err != nil {
		return nil, &OptionError{"Secret", err.Error()}
	}
	switch {
	case p.timeout < 0:
		return nil, &OptionError{"Timeout", "negative"}
	case p.timeout == 0:
		p.timeout = DefaultTimeout
	}
	return p, nil
}

// fqdn returns name fully qualified and in lower case, or says why it is
// not a domain name.
func fqdn(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return strings.ToLower(dns.Fqdn(name)), nil
}

// checkSecret says whether secret is a usable TSIG secret: base64 of at
// least one byte.
func checkSecret(secret string) error {
	if secret == "" {
		return errors.New("empty")
	}
	b, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return fmt.Errorf("not base64: %w", err)
	}
	if len(b) == 0 {
		return errors.New("empty")
	}
	return nil
}

// AppendRecords adds recs (names relative to zone, which is Zone or a
// zone under it; TXT or any type miekg/dns parses) to the zone in one
// update, and returns them as added (with their TTL: DefaultTTL when
// they had none).
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, out, err := p.toRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(p.zone)
	m.Insert(rrs)
	if err := p.update(ctx, m); err != nil {
		return nil, fmt.Errorf("rfc2136: adding %s: %w", describe(rrs), err)
	}
	return out, nil
}

// DeleteRecords removes exactly the records recs (name, type and value;
// the TTL does not matter to an update) and no other record of their
// names, so that two challenges for one name (example.com and
// *.example.com) each remove their own. A record without a value removes
// its name's records of that type; one without a type, every record of
// its name. A record that is not there is no error. It returns the
// records that were in the zone, as asked of the server just before the
// update (the records asked for, when the server does not answer the
// query).
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	m := new(dns.Msg)
	m.SetUpdate(p.zone)
	var deleted []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		name, err := p.absolute(zone, rr.Name)
		if err != nil {
			return nil, err
		}
		present, err := p.present(ctx, zone, name, rr)
		if err != nil {
			// The server may refuse queries and still take the update:
			// the cleanup goes on, and reports what it was asked to remove.
			present = []libdns.Record{rec}
		}
		deleted = append(deleted, present...)
		switch {
		case rr.Type == "":
			m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name}}})
		case rr.Data == "":
			t, ok := dns.StringToType[strings.ToUpper(rr.Type)]
			if !ok {
				return nil, fmt.Errorf("rfc2136: deleting %s: unknown type %q", name, rr.Type)
			}
			m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t}}})
		default:
			one, err := toRR(name, rr)
			if err != nil {
				return nil, err
			}
			m.Remove([]dns.RR{one})
		}
	}
	if len(m.Ns) == 0 {
		return nil, nil
	}
	if err := p.update(ctx, m); err != nil {
		return nil, fmt.Errorf("rfc2136: deleting %s: %w", describe(m.Ns), err)
	}
	return deleted, nil
}

// toRRs converts recs, relative to zone, to resource records, and
// returns them also as libdns records with the TTL they are added with.
func (p *RFC2136) toRRs(zone string, recs []libdns.Record) ([]dns.RR, []libdns.Record, error) {
	rrs := make([]dns.RR, 0, len(recs))
	out := make([]libdns.Record, 0, len(recs))
	for _, rec := range recs {
		rr := rec.RR()
		name, err := p.absolute(zone, rr.Name)
		if err != nil {
			return nil, nil, err
		}
		if rr.TTL < time.Second {
			rr.TTL = DefaultTTL
		}
		one, err := toRR(name, rr)
		if err != nil {
			return nil, nil, err
		}
		rrs = append(rrs, one)
		parsed, err := rr.Parse()
		if err != nil {
			parsed = rr
		}
		out = append(out, parsed)
	}
	return rrs, out, nil
}

// absolute returns the fully qualified name of name relative to zone
// (the configured zone when zone is empty), or an error when it is not
// in the configured zone.
func (p *RFC2136) absolute(zone, name string) (string, error) {
	if zone == "" {
		zone = p.zone
	}
	if name == "" {
		return "", errors.New("rfc2136: a record without a name")
	}
	abs := strings.ToLower(libdns.AbsoluteName(name, dns.Fqdn(zone)))
	if _, ok := dns.IsDomainName(abs); !ok {
		return "", fmt.Errorf("rfc2136: %q is not a domain name", abs)
	}
	if !dns.IsSubDomain(p.zone, abs) {
		return "", fmt.Errorf("rfc2136: %s is outside the zone %s", abs, p.zone)
	}
	return abs, nil
}

// toRR makes the resource record of rr named name. A TXT record's text
// is split into strings of 255 bytes, the most one may hold.
func toRR(name string, rr libdns.RR) (dns.RR, error) {
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: uint32(rr.TTL / time.Second)}
	if strings.EqualFold(rr.Type, "TXT") {
		hdr.Rrtype = dns.TypeTXT
		return &dns.TXT{Hdr: hdr, Txt: splitTXT(rr.Data)}, nil
	}
	one, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, hdr.Ttl, rr.Type, rr.Data))
	if err != nil || one == nil {
		return nil, fmt.Errorf("rfc2136: record %s %s %q: %v", name, rr.Type, rr.Data, err)
	}
	return one, nil
}

// splitTXT cuts text into the character strings of a TXT record.
func splitTXT(text string) []string {
	parts := []string{}
	for len(text) > 255 {
		parts = append(parts, text[:255])
		text = text[255:]
	}
	return append(parts, text)
}

// libdnsTypes are the types libdns has a struct for: a record without a
// type stands for these when DeleteRecords tells what it removed (an
// ANY query may be answered with one RRset only, RFC 8482).
var libdnsTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCAA, dns.TypeCNAME, dns.TypeHTTPS, dns.TypeMX,
	dns.TypeNS, dns.TypeSRV, dns.TypeSVCB, dns.TypeTXT}

// present asks the server which of name's records match want (by type
// and value; any when these are empty) and returns them relative to zone.
func (p *RFC2136) present(ctx context.Context, zone, name string, want libdns.RR) ([]libdns.Record, error) {
	if zone == "" {
		zone = p.zone
	}
	types := libdnsTypes
	if want.Type != "" {
		t, ok := dns.StringToType[strings.ToUpper(want.Type)]
		if !ok {
			return nil, fmt.Errorf("unknown type %q", want.Type)
		}
		types = []uint16{t}
	}
	var found []libdns.Record
	for _, t := range types {
		m := new(dns.Msg)
		m.SetQuestion(name, t)
		m.RecursionDesired = false
		r, err := p.send(ctx, m)
		switch {
		case err != nil:
			return nil, err
		case r.Rcode == dns.RcodeNameError:
			return nil, nil // no such name: no record of any type
		case r.Rcode != dns.RcodeSuccess:
			return nil, p.rcodeError(r.Rcode)
		}
		for _, rr := range r.Answer {
			if !strings.EqualFold(rr.Header().Name, name) || rr.Header().Rrtype != t {
				continue
			}
			got := fromRR(rr, zone)
			if want.Data != "" && got.Data != want.Data {
				continue
			}
			if parsed, err := got.Parse(); err == nil {
				found = append(found, parsed)
			} else {
				found = append(found, got)
			}
		}
	}
	return found, nil
}

// fromRR is the libdns record of rr, named relative to zone.
func fromRR(rr dns.RR, zone string) libdns.RR {
	h := rr.Header()
	out := libdns.RR{Name: libdns.RelativeName(h.Name, dns.Fqdn(zone)), TTL: time.Duration(h.Ttl) * time.Second,
		Type: dns.TypeToString[h.Rrtype]}
	if txt, ok := rr.(*dns.TXT); ok {
		out.Data = strings.Join(txt.Txt, "")
	} else {
		out.Data = strings.TrimPrefix(rr.String(), h.String())
	}
	return out
}

// update sends m and checks that the server accepted it.
func (p *RFC2136) update(ctx context.Context, m *dns.Msg) error {
	r, err := p.send(ctx, m)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return p.rcodeError(r.Rcode)
	}
	return nil
}

// send sends m signed with the key to the server over TCP and returns
// its answer, whatever its rcode, or an error that says what failed: the
// exchange, the server's refusal of the key (the TSIG error it answered),
// or a NOERROR or NXDOMAIN answer not signed with the key.
func (p *RFC2136) send(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	m.SetTsig(p.keyName, p.algorithm, tsigFudge, time.Now().Unix())
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c := &dns.Client{Net: "tcp", Timeout: p.timeout, TsigSecret: map[string]string{p.keyName: p.secret}}
	r, _, err := c.ExchangeContext(ctx, m, p.nameserver)
	if r == nil {
		return nil, fmt.Errorf("%s: %w", p.nameserver, err)
	}
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s refused the key %s: %s, TSIG error %s (are the key's name, algorithm and secret the server's?)",
			p.nameserver, p.keyName, rcodeName(r.Rcode), rcodeName(int(t.Error)))
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return r, nil // an error the caller reports; whether signed or not, it is not taken as success
	}
	if err != nil {
		return nil, fmt.Errorf("%s: answer not trusted: %w", p.nameserver, err)
	}
	if r.IsTsig() == nil {
		return nil, fmt.Errorf("%s answered %s but not signed with the key %s", p.nameserver, rcodeName(r.Rcode), p.keyName)
	}
	return r, nil
}

// rcodeError says what the server's rcode means for an update or query.
func (p *RFC2136) rcodeError(rcode int) error {
	return fmt.Errorf("%s answered %s%s", p.nameserver, rcodeName(rcode), rcodeHint(rcode, p.zone))
}

// rcodeName is an rcode's mnemonic, or its number.
func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return strconv.Itoa(rcode)
}

// rcodeHint says what an rcode usually means for an update.
func rcodeHint(rcode int, zone string) string {
	switch rcode {
	case dns.RcodeNotAuth:
		return " (the server is not authoritative for " + zone + ", or does not know the key)"
	case dns.RcodeRefused:
		return " (the server does not allow this key to update " + zone + ")"
	case dns.RcodeNotZone:
		return " (a name is not in " + zone + ")"
	}
	return ""
}

// describe lists rrs' names and types for an error.
func describe(rrs []dns.RR) string {
	seen := map[string]bool{}
	var names []string
	for _, rr := range rrs {
		s := rr.Header().Name + " " + dns.TypeToString[rr.Header().Rrtype]
		if rr.Header().Rrtype == dns.TypeANY || rr.Header().Rrtype == dns.TypeNone {
			s = rr.Header().Name
		}
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	return strings.Join(names, ", ")
}
