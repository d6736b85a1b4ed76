package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultCacheSize bounds the users the cache holds when Options says
// nothing: at most one entry each, some hundred bytes.
const DefaultCacheSize = 10000

// cache keeps the admissions of external sources for a while ([auth]
// cache_ttl), so that a client opening many connections is checked once.
// An entry is the user's last admitted password, as an HMAC-SHA256 under
// a key drawn when the process starts: the password itself is not kept,
// and the MAC is worthless outside the process. Failures are never kept.
// When full, expired entries go first, then any. A nil *cache keeps
// nothing. It is safe for concurrent use.
type cache struct {
	key  [32]byte
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry // by user name
}

type cacheEntry struct {
	mac     [sha256.Size]byte
	answer  Answer
	expires time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	c := &cache{ttl: ttl, size: size, now: now, entries: make(map[string]cacheEntry)}
	_, _ = rand.Read(c.key[:]) // never fails (crypto/rand panics instead)
	return c
}

// mac returns the HMAC of req's user and password.
func (c *cache) mac(req Request) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(req.User))
	m.Write([]byte{0})
	m.Write([]byte(req.Password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// get returns the admission of req's user and password while it lasts.
func (c *cache) get(req Request) (Answer, bool) {
	if c == nil {
		return Answer{}, false
	}
	mac := c.mac(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[req.User]
	switch {
	case !ok:
		return Answer{}, false
	case !c.now().Before(e.expires):
		delete(c.entries, req.User)
		return Answer{}, false
	case !hmac.Equal(e.mac[:], mac[:]):
		return Answer{}, false
	}
	return e.answer, true
}

// put keeps the admission a of req's user and password for the ttl.
func (c *cache) put(req Request, a Answer) {
	if c == nil {
		return
	}
	mac := c.mac(req)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[req.User]; !ok && len(c.entries) >= c.size {
		c.evictLocked(now)
	}
	c.entries[req.User] = cacheEntry{mac: mac, answer: a, expires: now.Add(c.ttl)}
}

// evictLocked makes room for one entry: the expired ones go, or else
// one chosen by the map's order.
func (c *cache) evictLocked(now time.Time) {
	for name, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, name)
		}
	}
	for name := range c.entries {
		if len(c.entries) < c.size {
			return
		}
		delete(c.entries, name)
	}
}

// clear forgets every entry.
func (c *cache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// len returns the entries held, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
