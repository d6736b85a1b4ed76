package pasv

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"ftpsd/internal/ftptest"
)

// fakeResolver answers LookupNetIP from a settable answer and counts calls.
type fakeResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	err   error
	calls atomic.Int64
	bad   atomic.Value // string: a lookup the announcer should not make
}

func (r *fakeResolver) set(err error, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err, r.addrs = err, nil
	for _, a := range addrs {
		r.addrs = append(r.addrs, netip.MustParseAddr(a))
	}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	if network != "ip4" || host != "ftp.example.net" {
		r.bad.Store(network + " " + host)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.Addr(nil), r.addrs...), r.err
}

var (
	outside  = netip.MustParseAddr("127.0.0.1")
	inside   = netip.MustParseAddr("127.0.0.2")
	local4   = netip.MustParseAddr("127.0.0.1")
	public4  = netip.MustParseAddr("203.0.113.7")
	internal = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}
)

func TestAnnouncerAddress(t *testing.T) {
	tests := []struct {
		name    string
		public  string
		client  netip.Addr
		local   netip.Addr
		want    netip.Addr
		wantErr error
	}{
		{"public for outside client", "203.0.113.7", outside, local4, public4, nil},
		{"local for internal client", "203.0.113.7", inside, local4, local4, nil},
		{"local for internal network", "203.0.113.7", netip.MustParseAddr("10.1.2.3"), local4, local4, nil},
		{"mapped internal client", "203.0.113.7", netip.MustParseAddr("::ffff:127.0.0.2"), netip.MustParseAddr("::ffff:127.0.0.1"), local4, nil},
		{"mapped outside client", "203.0.113.7", netip.MustParseAddr("::ffff:198.51.100.9"), netip.MustParseAddr("::ffff:127.0.0.1"), public4, nil},
		{"no public address", "", outside, local4, local4, nil},
		{"no public address, internal client", "", inside, local4, local4, nil},
		{"no public address, IPv6 control", "", netip.MustParseAddr("::1"), netip.MustParseAddr("::1"), netip.Addr{}, ErrNotIPv4},
		{"internal client on IPv6 control", "203.0.113.7", netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1"), public4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := observed()
			a, err := NewAnnouncer(context.Background(), AddressOptions{
				PublicAddress: tt.public, InternalNetworks: internal, Logger: logger,
				Resolver: &fakeResolver{err: errors.New("no lookup expected")},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			got, err := a.Address(tt.client, tt.local, false)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Address(%v, %v) = %v, %v; want %v, %v", tt.client, tt.local, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestAnnouncerAfterCCC is the announce decision: channel state (TLS or
// cleared by CCC) x client inside or outside internal_networks x
// announce_after_ccc.
func TestAnnouncerAfterCCC(t *testing.T) {
	tests := []struct {
		cleared  bool
		client   netip.Addr
		afterCCC Announce
		want     netip.Addr
	}{
		{false, outside, AnnounceLocal, public4},
		{false, outside, AnnouncePublic, public4},
		{false, inside, AnnounceLocal, local4},
		{false, inside, AnnouncePublic, local4},
		{true, outside, AnnounceLocal, local4},
		{true, outside, AnnouncePublic, public4},
		{true, inside, AnnounceLocal, local4},
		{true, inside, AnnouncePublic, local4},
	}
	for _, tt := range tests {
		logger, _ := observed()
		a, err := NewAnnouncer(context.Background(), AddressOptions{
			PublicAddress: "203.0.113.7", InternalNetworks: internal, AfterCCC: tt.afterCCC, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Address(tt.client, local4, tt.cleared)
		a.Close()
		if err != nil || got != tt.want {
			t.Errorf("cleared=%v client=%v afterCCC=%v: Address = %v, %v; want %v", tt.cleared, tt.client, tt.afterCCC, got, err, tt.want)
		}
	}
}

func TestAnnouncerRejectsIPv6Public(t *testing.T) {
	logger, _ := observed()
	for _, pub := range []string{"2001:db8::1", "::1"} {
		if _, err := NewAnnouncer(context.Background(), AddressOptions{PublicAddress: pub, Logger: logger}); !errors.Is(err, ErrNotIPv4) {
			t.Errorf("public address %s: err = %v, want ErrNotIPv4", pub, err)
		}
	}
}

func TestAnnouncerDNSName(t *testing.T) {
	logger, logs := observed()
	r := &fakeResolver{}
	r.set(nil, "2001:db8::7", "198.51.100.1") // IPv6 answers are skipped
	a, err := NewAnnouncer(context.Background(), AddressOptions{
		PublicAddress: "ftp.example.net", Refresh: time.Hour, Resolver: r,
		InternalNetworks: internal, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	expect := func(step, want string) {
		t.Helper()
		if got, err := a.Address(outside, local4, false); err != nil || got != netip.MustParseAddr(want) {
			t.Fatalf("%s: Address = %v, %v; want %s", step, got, err, want)
		}
		if got, _ := a.Address(inside, local4, false); got != local4 {
			t.Fatalf("%s: internal client got %v, want %v", step, got, local4)
		}
	}
	expect("initial resolution", "198.51.100.1")

	r.set(nil, "198.51.100.2")
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect("after a changed answer", "198.51.100.2")

	lookupErr := errors.New("SERVFAIL")
	r.set(lookupErr)
	if err := a.Refresh(context.Background()); !errors.Is(err, lookupErr) {
		t.Fatalf("failing Refresh: err = %v, want %v", err, lookupErr)
	}
	expect("after a failing refresh", "198.51.100.2")

	r.set(nil, "2001:db8::8")
	if err := a.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with only IPv6 answers succeeded")
	}
	expect("after an IPv6-only answer", "198.51.100.2")

	if got := logs.FilterMessage("public address resolved").Len(); got != 2 {
		t.Errorf("%d 'resolved' log entries, want 2 (one per change)", got)
	}
	if bad := r.bad.Load(); bad != nil {
		t.Errorf("unexpected lookup %q", bad)
	}
}

func TestAnnouncerNameFailsAtStart(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		addrs []string
	}{
		{"lookup error", errors.New("NXDOMAIN"), nil},
		{"only IPv6 answers", nil, []string{"2001:db8::1", "2001:db8::2"}},
		{"no answer", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := observed()
			r := &fakeResolver{}
			r.set(tt.err, tt.addrs...)
			a, err := NewAnnouncer(context.Background(), AddressOptions{
				PublicAddress: "ftp.example.net", Refresh: 10 * time.Millisecond, Resolver: r, Logger: logger,
			})
			if err == nil {
				a.Close()
				t.Fatal("NewAnnouncer succeeded")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.err)
			}
			// No refresh loop was left running.
			time.Sleep(50 * time.Millisecond)
			if n := r.calls.Load(); n != 1 {
				t.Errorf("%d lookups, want 1", n)
			}
		})
	}
}

// TestAnnouncerRefreshLoop: the loop picks up changes by itself, keeps the
// last good address when a lookup fails, and stops at Close, which is safe
// to call twice.
func TestAnnouncerRefreshLoop(t *testing.T) {
	logger, logs := observed()
	r := &fakeResolver{}
	r.set(nil, "198.51.100.1")
	a, err := NewAnnouncer(context.Background(), AddressOptions{
		PublicAddress: "ftp.example.net", Refresh: 10 * time.Millisecond, Resolver: r, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	current := func() netip.Addr {
		got, _ := a.Address(outside, local4, false)
		return got
	}

	r.set(nil, "198.51.100.2")
	ftptest.MustEventually(t, 2*time.Second, "the loop to pick up the new answer", func() bool {
		return current() == netip.MustParseAddr("198.51.100.2")
	})

	r.set(errors.New("timeout"))
	before := r.calls.Load()
	ftptest.MustEventually(t, 2*time.Second, "a few failing refreshes", func() bool { return r.calls.Load() >= before+3 })
	if got := current(); got != netip.MustParseAddr("198.51.100.2") {
		t.Fatalf("after failing refreshes: %v, want the last good 198.51.100.2", got)
	}
	if logs.FilterLevelExact(zapcore.WarnLevel).Len() == 0 {
		t.Error("failing refreshes were not logged")
	}

	done := make(chan struct{})
	go func() {
		a.Close()
		a.Close()
		close(done)
	}()
	if _, ok := ftptest.Receive(done, 2*time.Second); !ok {
		t.Fatal("Close did not return")
	}
	stopped := r.calls.Load()
	time.Sleep(100 * time.Millisecond)
	if n := r.calls.Load(); n != stopped {
		t.Fatalf("%d lookups after Close, want none", n-stopped)
	}
	if got := current(); got != netip.MustParseAddr("198.51.100.2") {
		t.Errorf("after Close: %v", got)
	}
}

func TestAnnouncerCloseStatic(t *testing.T) {
	logger, _ := observed()
	for _, pub := range []string{"", "203.0.113.7"} {
		a, err := NewAnnouncer(context.Background(), AddressOptions{PublicAddress: pub, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		a.Close()
		if err := a.Refresh(context.Background()); err != nil {
			t.Errorf("Refresh of a static announcer (%q): %v", pub, err)
		}
	}
}
