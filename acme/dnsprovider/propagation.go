package dnsprovider

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// Provider is what certmagic's DNS01Solver takes (its DNSProvider).
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// PropagationOptions configure WaitPropagated.
type PropagationOptions struct {
	// Servers are the "host:port" addresses of the servers to check.
	// Empty: the zone's name servers (its NS records, found with
	// Resolver), each at NameserverPort.
	Servers []string
	// Resolver finds the zone's name servers and their addresses; nil:
	// the system's.
	Resolver *net.Resolver
	// NameserverPort is the port of the zone's name servers (53 when
	// zero).
	NameserverPort int
	// Timeout bounds the wait (DefaultPropagationTimeout when zero);
	// Interval is the time between two rounds of queries (2s when zero).
	Timeout, Interval time.Duration
	// Logger gets a line when the wait is over; nil logs nothing.
	Logger *zap.Logger
}

// DefaultPropagationTimeout is how long WaitPropagated waits when its
// options say nothing: certmagic's own default.
const DefaultPropagationTimeout = 2 * time.Minute

// queryTimeout bounds one query to one server.
const queryTimeout = 5 * time.Second

// WaitPropagated returns p with an AppendRecords that, once p's has
// succeeded, waits until every authoritative server of the zone serves
// every TXT value added (asked without recursion), so that the CA,
// which may ask any of them, finds the record. When Timeout passes
// first, it removes the records again and returns an error naming the
// servers that do not serve them and what they answered.
//
// certmagic's own check (see the package doc) is satisfied by the first
// name server that serves the value, and in tests needs Resolvers set to
// the test server; this one asks them all.
func WaitPropagated(p Provider, opts PropagationOptions) Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultPropagationTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.NameserverPort == 0 {
		opts.NameserverPort = 53
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &propagated{Provider: p, opts: opts}
}

// propagated is a Provider whose AppendRecords waits for propagation.
type propagated struct {
	Provider
	opts PropagationOptions
}

func (w *propagated) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	added, err := w.Provider.AppendRecords(ctx, zone, recs)
	if err != nil {
		return added, err
	}
	if err := w.wait(ctx, zone, added); err != nil {
		// Nothing would remove them: certmagic cleans up only what it
		// presented.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
		defer cancel()
		if _, derr := w.Provider.DeleteRecords(cctx, zone, added); derr != nil {
			err = fmt.Errorf("%w (and removing the records again: %v)", err, derr)
		}
		return nil, err
	}
	return added, nil
}

// wait polls the servers until each serves every TXT value of recs.
func (w *propagated) wait(ctx context.Context, zone string, recs []libdns.Record) error {
	zone = dns.Fqdn(zone)
	want := map[string][]string{} // fqdn → values
	for _, r := range recs {
		rr := r.RR()
		if strings.EqualFold(rr.Type, "TXT") {
			name := strings.ToLower(libdns.AbsoluteName(rr.Name, zone))
			want[name] = append(want[name], rr.Data)
		}
	}
	if len(want) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	start := time.Now()
	var missing map[string]string
	for {
		servers, err := w.servers(ctx, zone)
		if err == nil {
			missing = w.check(ctx, servers, want)
			if len(missing) == 0 {
				w.opts.Logger.Info("acme dns record propagated", zap.String("zone", zone), zap.Strings("servers", servers),
					zap.Duration("took", time.Since(start).Round(time.Millisecond)))
				return nil
			}
		} else {
			missing = map[string]string{"the zone's name servers": err.Error()}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the record is not on every authoritative server of %s after %s: %s", zone,
				time.Since(start).Round(100*time.Millisecond), describeMissing(missing))
		case <-time.After(w.opts.Interval):
		}
	}
}

// servers returns the addresses to check: the configured ones, or the
// zone's name servers at NameserverPort.
func (w *propagated) servers(ctx context.Context, zone string) ([]string, error) {
	if len(w.opts.Servers) > 0 {
		return w.opts.Servers, nil
	}
	nss, err := w.opts.Resolver.LookupNS(ctx, zone)
	if err != nil {
		return nil, err
	}
	if len(nss) == 0 {
		return nil, fmt.Errorf("%s has no NS records", zone)
	}
	port := strconv.Itoa(w.opts.NameserverPort)
	out := make([]string, 0, len(nss))
	for _, ns := range nss {
		out = append(out, net.JoinHostPort(ns.Host, port))
	}
	slices.Sort(out)
	return out, nil
}

// check asks every server for every name at once and returns, per
// server that does not serve a value yet, why.
func (w *propagated) check(ctx context.Context, servers []string, want map[string][]string) map[string]string {
	var mu sync.Mutex
	missing := map[string]string{}
	var wg sync.WaitGroup
	for _, server := range servers {
		for name, values := range want {
			wg.Go(func() {
				if why := w.serves(ctx, server, name, values); why != "" {
					mu.Lock()
					missing[server] = why
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return missing
}

// serves asks server for name's TXT records and says which of values it
// does not serve, or "".
func (w *propagated) serves(ctx context.Context, server, name string, values []string) string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	dialer := &net.Dialer{Resolver: w.opts.Resolver, Timeout: queryTimeout}
	c := &dns.Client{Net: "udp", Dialer: dialer, Timeout: queryTimeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return err.Error()
	}
	if r.Rcode != dns.RcodeSuccess {
		return name + " TXT: " + rcodeName(r.Rcode)
	}
	have := map[string]bool{}
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.EqualFold(txt.Hdr.Name, name) {
			have[strings.Join(txt.Txt, "")] = true
		}
	}
	var lacking []string
	for _, v := range values {
		if !have[v] {
			lacking = append(lacking, strconv.Quote(v))
		}
	}
	if len(lacking) > 0 {
		return name + " TXT lacks " + strings.Join(lacking, ", ")
	}
	return ""
}

// describeMissing lists the servers and why each is not there yet.
func describeMissing(missing map[string]string) string {
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+missing[k])
	}
	return strings.Join(parts, "; ")
}
