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
)

// Options configures a Guard.
type Options struct {
	// MaxFailures failed logins from one address within Window ban it for
	// BanTime; 0 never bans.
	MaxFailures     int
	Window, BanTime time.Duration
	// Exempt addresses are never banned; their failures are still delayed.
	Exempt []netip.Prefix
	// BaseDelay is the delay of a first failure, doubled for each further
	// failure within Window up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// LogEvery is the interval of Refused's log lines per address.
	LogEvery time.Duration
	// MaxAddresses bounds the addresses tracked at once.
	MaxAddresses int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Guard holds the state of client addresses. It is safe for concurrent
// use.
type Guard struct {
	opts Options
	mu   sync.Mutex
	addr map[netip.Addr]*list.Element // of *entry
	lru  list.List                    // front: touched last
	turns
}

// entry is what the Guard knows about one address.
type entry struct {
	addr        netip.Addr
	failures    []time.Time // the latest failed logins, oldest first
	bannedUntil time.Time
	refused     int       // refusals not logged yet
	lastLog     time.Time // of the last refusal line
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
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = DefaultMaxAddresses
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{opts: opts, addr: make(map[netip.Addr]*list.Element), turns: turns{m: make(map[netip.Addr]*turn)}}
}

// lookup returns the entry of a, marking it touched, or nil.
func (g *Guard) lookup(a netip.Addr) *entry {
	el := g.addr[a]
	if el == nil {
		return nil
	}
	g.lru.MoveToFront(el)
	return el.Value.(*entry)
}

// track returns the entry of a, made if needed; the address touched
// longest ago is forgotten beyond MaxAddresses.
func (g *Guard) track(a netip.Addr) *entry {
	if e := g.lookup(a); e != nil {
		return e
	}
	e := &entry{addr: a}
	g.addr[a] = g.lru.PushFront(e)
	if g.lru.Len() > g.opts.MaxAddresses {
		g.forget(g.lru.Back())
	}
	return e
}

func (g *Guard) forget(el *list.Element) {
	delete(g.addr, el.Value.(*entry).addr)
	g.lru.Remove(el)
}

// Tracked returns the number of addresses the Guard holds.
func (g *Guard) Tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lru.Len()
}
