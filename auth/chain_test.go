package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
)

// table is a Source over a map of passwords, counting its calls.
type table struct {
	name     string
	accounts map[string]string // user → password
	home     string
	down     bool
	took     time.Duration

	mu    sync.Mutex
	calls int
}

func (s *table) Name() string { return s.name }

func (s *table) Authenticate(_ context.Context, req Request) (config.User, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	time.Sleep(s.took)
	pass, ok := s.accounts[req.User]
	switch {
	case s.down:
		return config.User{}, fmt.Errorf("%w: %s is down", ErrUnavailable, s.name)
	case !ok:
		return config.User{}, ErrUnknownUser
	case pass != req.Password:
		return config.User{}, ErrBadPassword
	}
	return config.User{Name: req.User, Home: s.home}, nil
}

func (s *table) Check(context.Context) error { return nil }
func (s *table) Close() error                { return nil }

func (s *table) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func login(t *testing.T, c *Chain, user, pass string) (Answer, error) {
	t.Helper()
	return c.Authenticate(context.Background(), Request{User: user, Password: pass})
}

// TestChainOrderDecides checks that the first source that knows the user
// decides, a wrong password there included, and that a source down stops
// the chain.
func TestChainOrderDecides(t *testing.T) {
	local := &table{name: "local", accounts: map[string]string{"alice": "local-pw", "bob": "b"}, home: "local"}
	remote := &table{name: "http", accounts: map[string]string{"alice": "remote-pw", "carol": "c"}, home: "remote"}
	c := NewChain([]Source{local, remote}, Options{})
	if a, err := login(t, c, "alice", "local-pw"); err != nil || a.Source != "local" || a.User.Home != "local" {
		t.Errorf("alice with local's password = %+v, %v; want local's account", a, err)
	}
	if _, err := login(t, c, "alice", "remote-pw"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("alice with the second source's password = %v, want ErrBadPassword (no fall-through)", err)
	}
	if a, err := login(t, c, "carol", "c"); err != nil || a.Source != "http" || a.User.Name != "carol" {
		t.Errorf("carol = %+v, %v; want the second source's account", a, err)
	}
	if _, err := login(t, c, "mallory", "x"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user = %v, want ErrUnknownUser", err)
	}
	reversed := NewChain([]Source{remote, local}, Options{})
	if a, err := login(t, reversed, "alice", "remote-pw"); err != nil || a.Source != "http" {
		t.Errorf("reversed order: alice = %+v, %v; want the http account", a, err)
	}
	remote.down = true
	before := local.count()
	if _, err := login(t, reversed, "bob", "b"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("first source down: %v, want ErrUnavailable", err)
	}
	if local.count() != before {
		t.Errorf("a source down let the next one answer (%d calls)", local.count()-before)
	}
}

// TestChainRefusesABadAccount checks that a home escaping the root,
// answered by a source, is refused as the source's failure.
func TestChainRefusesABadAccount(t *testing.T) {
	for _, home := range []string{"../x", "/etc", "a/../../b"} {
		c := NewChain([]Source{&table{name: "http", accounts: map[string]string{"a": "p"}, home: home}}, Options{})
		if _, err := login(t, c, "a", "p"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("home %q: %v, want ErrUnavailable", home, err)
		}
	}
}

// TestChainPadsFailures checks that a wrong password at the first source
// is told to wait what asking the sources after it takes.
func TestChainPadsFailures(t *testing.T) {
	first := &table{name: "local", accounts: map[string]string{"alice": "a"}}
	second := &table{name: "http", accounts: map[string]string{}, took: 20 * time.Millisecond}
	c := NewChain([]Source{first, second}, Options{})
	if _, err := login(t, c, "mallory", "x"); !errors.Is(err, ErrUnknownUser) {
		t.Fatal(err)
	}
	a, err := login(t, c, "alice", "wrong")
	if !errors.Is(err, ErrBadPassword) {
		t.Fatal(err)
	}
	if a.Pad < 20*time.Millisecond || a.Pad > 200*time.Millisecond {
		t.Errorf("pad of a wrong password at the first source = %v, want about the second's 20ms", a.Pad)
	}
}

// TestCache checks the positive cache: N logins within the ttl ask the
// source once, a failure is not kept, a wrong password does not hit,
// Forget empties it, an entry expires, and the size is bounded.
func TestCache(t *testing.T) {
	src := &table{name: "http", accounts: map[string]string{"alice": "a", "bob": "b"}}
	c := NewChain([]Source{src}, Options{CacheTTL: time.Hour, CacheSize: 1})
	for range 5 {
		if _, err := login(t, c, "alice", "a"); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 1 {
		t.Errorf("5 logins within the ttl asked the source %d times, want 1", n)
	}
	if _, err := login(t, c, "alice", "wrong"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("a wrong password for a cached user = %v, want ErrBadPassword", err)
	}
	if n := src.count(); n != 2 {
		t.Errorf("a wrong password was answered from the cache (%d calls)", n)
	}
	if _, err := login(t, c, "carol", "c"); err == nil {
		t.Fatal("unknown carol admitted")
	}
	src.accounts["carol"] = "c"
	if _, err := login(t, c, "carol", "c"); err != nil {
		t.Errorf("carol after her account was made = %v: a failure was cached", err)
	}
	if n := c.cache.len(); n != 1 {
		t.Errorf("cache of size 1 holds %d entries", n)
	}
	c.Forget()
	if n := c.cache.len(); n != 0 {
		t.Errorf("Forget left %d entries", n)
	}
	before := src.count()
	_, _ = login(t, c, "carol", "c")
	if src.count() != before+1 {
		t.Error("a login after Forget did not ask the source")
	}

	now := time.Now()
	short := NewChain([]Source{src}, Options{CacheTTL: time.Minute})
	short.cache.now = func() time.Time { return now }
	_, _ = login(t, short, "bob", "b")
	now = now.Add(time.Minute)
	before = src.count()
	_, _ = login(t, short, "bob", "b")
	if src.count() != before+1 {
		t.Error("an entry older than the ttl answered")
	}
}

// TestCacheSkipsLocal checks that local accounts are not cached.
func TestCacheSkipsLocal(t *testing.T) {
	src := &table{name: config.SourceLocal, accounts: map[string]string{"alice": "a"}}
	c := NewChain([]Source{src}, Options{CacheTTL: time.Hour})
	_, _ = login(t, c, "alice", "a")
	_, _ = login(t, c, "alice", "a")
	if n := src.count(); n != 2 {
		t.Errorf("local asked %d times for 2 logins, want 2", n)
	}
}
