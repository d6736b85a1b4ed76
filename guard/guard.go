package guard

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the Options left zero.
const (
	DefaultBaseDelay    = 500 * time.Millisecond
	DefaultMaxDelay     = 4 * time.Second
	DefaultLogEvery     = time.Minute
	DefaultMaxAddresses = 65536
	DefaultMaxBans      = 65536
)

// Options configures a Guard.
type Options struct {
	// MaxFailures failed logins from one network within Window ban it for
	// BanTime; 0 never bans.
	MaxFailures     int
	Window, BanTime time.Duration
	// Exempt addresses are never banned, even in a banned network; their
	// failures are still delayed, and counted for their network.
	Exempt []netip.Prefix
	// BaseDelay is the delay of a first failure, doubled for each further
	// failure within Window up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// LogEvery is the interval of Refused's log lines per network.
	LogEvery time.Duration
	// IPv6PrefixLength is how many leading bits of an IPv6 client address
	// name its network (see Network); 0 means DefaultIPv6PrefixLength.
	IPv6PrefixLength int
	// MaxAddresses bounds the networks observed at once (failures,
	// refusals); the one seen longest ago is forgotten first. Bans are
	// kept apart and never forgotten for it.
	MaxAddresses int
	// MaxBans bounds the networks banned at once. A ban is never
	// forgotten before it ends: beyond MaxBans a network that fails too
	// often is not banned (Failure.BanTableFull) but keeps the longest
	// delay until a ban ends.
	MaxBans int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Guard holds the state of client networks. It is safe for concurrent
// use.
type Guard struct {
	opts Options
	mu   sync.Mutex
	seen map[netip.Prefix]*list.Element // of *entry
	lru  list.List                      // front: touched last
	bans bans
	turns
}

// entry is what the Guard observed of one network.
type entry struct {
	net      netip.Prefix
	failures []time.Time // the latest failed logins, oldest first
	denials  []time.Time // the latest logins denied (see Denied), oldest first
	refused  int         // refusals not logged yet
	lastLog  time.Time   // of the last refusal line
}

// New returns a Guard with opts, zero values replaced by the defaults.
func New(opts Options) *Guard {
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = DefaultLogEvery
	}
	if opts.IPv6PrefixLength <= 0 {
		opts.IPv6PrefixLength = DefaultIPv6PrefixLength
	}
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = DefaultMaxAddresses
	}
	if opts.MaxBans <= 0 {
		opts.MaxBans = DefaultMaxBans
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{
		opts:  opts,
		seen:  make(map[netip.Prefix]*list.Element),
		bans:  bans{until: make(map[netip.Prefix]time.Time)},
		turns: turns{m: make(map[netip.Prefix]*turn)},
	}
}

// lookup returns the entry of n, marking it touched, or nil.
func (g *Guard) lookup(n netip.Prefix) *entry {
	el := g.seen[n]
	if el == nil {
		return nil
	}
	g.lru.MoveToFront(el)
	return el.Value.(*entry)
}

// track returns the entry of n, made if needed; the network touched
// longest ago is forgotten beyond MaxAddresses.
func (g *Guard) track(n netip.Prefix) *entry {
	if e := g.lookup(n); e != nil {
		return e
	}
	e := &entry{net: n}
	g.seen[n] = g.lru.PushFront(e)
	if g.lru.Len() > g.opts.MaxAddresses {
		g.forget(g.lru.Back())
	}
	return e
}

func (g *Guard) forget(el *list.Element) {
	delete(g.seen, el.Value.(*entry).net)
	g.lru.Remove(el)
}

// Tracked returns the number of networks the Guard observes.
func (g *Guard) Tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lru.Len()
}
