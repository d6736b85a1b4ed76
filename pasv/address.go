package pasv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ftpsd/every"
)

// Resolver looks up a host name; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// AddressOptions configures an Announcer.
type AddressOptions struct {
	// PublicAddress is the address announced to outside clients: an IPv4
	// address or a DNS name. Empty announces the control connection's own
	// local address.
	PublicAddress string
	// Refresh is how often a DNS name is resolved again; zero means 5m.
	Refresh time.Duration
	// InternalNetworks are the client networks that get the control
	// connection's local address instead of the public one.
	InternalNetworks []netip.Prefix
	// AfterCCC says what a reply carries once the client cleared the
	// control channel (CCC), when firewalls on the path read it:
	// AnnounceLocal (the default) or AnnouncePublic.
	AfterCCC Announce
	// Resolver resolves PublicAddress; nil means net.DefaultResolver.
	Resolver Resolver
	// Logger receives resolution failures and changes. Required.
	Logger *zap.Logger
}

// Announce names the address a passive reply carries on a cleared control
// channel.
type Announce int

const (
	// AnnounceLocal announces the control connection's local address: a NAT
	// firewall that inspects FTP (NetScreen ALG, Linux's conntrack ftp
	// helper) opens a pinhole only for the server's own address, which it
	// then rewrites to the public one.
	AnnounceLocal Announce = iota
	// AnnouncePublic announces the public address, as on a TLS channel, for
	// an inspector that does not rewrite.
	AnnouncePublic
)

// ErrNotIPv4 is returned when the address for a 227 reply is not IPv4
// (clients connected over IPv6 use EPSV).
var ErrNotIPv4 = errors.New("PASV can announce only an IPv4 address; use EPSV")

// resolveTimeout bounds one resolution of the public DNS name.
const resolveTimeout = 10 * time.Second

// DefaultRefresh is how often a public DNS name is resolved again.
const DefaultRefresh = 5 * time.Minute

// Announcer chooses the address of passive replies. It is safe for
// concurrent use.
type Announcer struct {
	opts    AddressOptions
	name    string // DNS name to resolve; empty for a static address
	current atomic.Pointer[netip.Addr]
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// NewAnnouncer resolves the public address once (a name that does not
// resolve at start is an error) and, for a DNS name, keeps it fresh until
// Close.
func NewAnnouncer(ctx context.Context, opts AddressOptions) (*Announcer, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	a := &Announcer{opts: opts, done: make(chan struct{})}
	if opts.PublicAddress == "" {
		close(a.done)
		return a, nil
	}
	if ip, err := netip.ParseAddr(opts.PublicAddress); err == nil {
		if !ip.Is4() {
			return nil, fmt.Errorf("public address %s: %w", ip, ErrNotIPv4)
		}
		a.current.Store(&ip)
		close(a.done)
		return a, nil
	}
	a.name = opts.PublicAddress
	if err := a.Refresh(ctx); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	a.stop = stop
	go a.refreshLoop(loopCtx)
	return a, nil
}

// Refresh resolves the public DNS name now. On failure the last good
// address stays in use and the error is returned.
func (a *Announcer) Refresh(ctx context.Context) error {
	if a.name == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := a.opts.Resolver.LookupNetIP(ctx, "ip4", a.name)
	if err != nil {
		return fmt.Errorf("resolve public address %s: %w", a.name, err)
	}
	for _, ip := range addrs {
		if ip = ip.Unmap(); ip.Is4() {
			if old := a.current.Swap(&ip); old == nil || *old != ip {
				a.opts.Logger.Info("public address resolved", zap.String("name", a.name), zap.Stringer("address", ip))
			}
			return nil
		}
	}
	return fmt.Errorf("resolve public address %s: no IPv4 address", a.name)
}

func (a *Announcer) refreshLoop(ctx context.Context) {
	defer close(a.done)
	every.Run(ctx, a.opts.Refresh, func() {
		if err := a.Refresh(ctx); err != nil {
			a.opts.Logger.Warn("public address not refreshed; keeping the last good one",
				zap.Error(err), zap.Stringer("address", a.current.Load()))
		}
	})
}

// Address returns the address to announce to client, whose control
// connection arrived on local. cleared tells that the control channel was
// cleared by CCC, so that the reply is read (and, under NAT, rewritten) by
// the firewalls on the path; see AddressOptions.AfterCCC.
func (a *Announcer) Address(client, local netip.Addr, cleared bool) (netip.Addr, error) {
	client, local = client.Unmap(), local.Unmap()
	chosen := local
	if pub := a.current.Load(); pub != nil && a.public(client, cleared) {
		chosen = *pub
	}
	if !chosen.Is4() {
		return netip.Addr{}, ErrNotIPv4
	}
	return chosen, nil
}

// Public reports whether client, which cleared its control channel or
// not, is told the public side (the public address, the public ports of
// passive.announce_ports) rather than the server's own.
func (a *Announcer) Public(client netip.Addr, cleared bool) bool {
	return a.public(client.Unmap(), cleared)
}

// public reports whether client gets the public address rather than the
// local one.
func (a *Announcer) public(client netip.Addr, cleared bool) bool {
	if cleared && a.opts.AfterCCC == AnnounceLocal {
		return false
	}
	return !a.internal(client)
}

func (a *Announcer) internal(client netip.Addr) bool {
	for _, p := range a.opts.InternalNetworks {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// Close stops refreshing. It is safe to call more than once.
func (a *Announcer) Close() {
	a.once.Do(func() {
		if a.stop != nil {
			a.stop()
		}
		<-a.done
	})
}
