package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"ftpsd/config"
)

// Results of a source's answer, as Observer hears them.
const (
	ResultOK          = "ok"
	ResultBadPassword = "bad_password"
	ResultUnknown     = "unknown"
	ResultUnavailable = "unavailable"
)

// Results returns the results a source's answer may have.
func Results() []string {
	return []string{ResultOK, ResultBadPassword, ResultUnknown, ResultUnavailable}
}

// Observer hears each answer of a source and each login the cache
// answered (metrics).
type Observer interface {
	AuthRequest(source, result string)
	AuthCacheHit(source string)
}

// Options configure a Chain.
type Options struct {
	// CacheTTL keeps an admission by a source other than "local" that
	// long ([auth] cache_ttl; 0: no cache).
	CacheTTL time.Duration
	// CacheSize bounds the users the cache holds (0: DefaultCacheSize).
	CacheSize int
	// Observer, when set, hears every answer.
	Observer Observer
}

// Chain asks its sources in order ([auth] sources): the first that knows
// the user decides. A source that cannot answer ends the login: the next
// is never asked, so that a directory that is down cannot let an account
// of the same name elsewhere answer in its place.
//
// A failure takes as long as asking every source would: a wrong password
// at the first source is answered no sooner than an unknown user who was
// asked about everywhere (see Answer.Pad). It is safe for concurrent use.
type Chain struct {
	sources []Source
	took    []answerTimes // each source's recent answer times, see learn
	cache   *cache        // nil: no cache
	obs     Observer
}

// NewChain returns the chain of sources, asked in this order.
func NewChain(sources []Source, opts Options) *Chain {
	c := &Chain{sources: sources, took: make([]answerTimes, len(sources)), obs: opts.Observer}
	if opts.CacheTTL > 0 {
		c.cache = newCache(opts.CacheTTL, opts.CacheSize, time.Now)
	}
	return c
}

// Answer is the outcome of a login.
type Answer struct {
	// User is the account admitted (its Name is set).
	User config.User
	// Source is the name of the source that decided.
	Source string
	// Pad is how long a failed login should wait, beside the guard's
	// delay, so that it takes as long as asking every source: the typical
	// (median of the last 15) answer times of the sources after the one
	// that decided. Zero on success and when every source was asked.
	Pad time.Duration
}

// Authenticate asks the sources about req in order and returns the
// account of the first that knows the user, with the name of that
// source. Its error wraps ErrBadPassword, ErrUnknownUser (no source knows
// the user), ErrUnavailable, or is a source's own error (which also ends
// the login). An account a source answers that does not pass
// config.User.CheckAccount (a home outside storage.root...) is
// ErrUnavailable: the source answered nonsense.
func (c *Chain) Authenticate(ctx context.Context, req Request) (Answer, error) {
	if a, ok := c.cache.get(req); ok {
		if c.obs != nil {
			c.obs.AuthCacheHit(a.Source)
		}
		return a, nil
	}
	for i, src := range c.sources {
		start := time.Now()
		u, err := src.Authenticate(ctx, req)
		result := resultOf(err)
		if c.obs != nil && result != "" {
			c.obs.AuthRequest(src.Name(), result)
		}
		if result != ResultUnavailable && result != "" {
			c.learn(i, time.Since(start))
		}
		switch {
		case errors.Is(err, ErrUnknownUser):
			continue
		case err != nil:
			a := Answer{Source: src.Name()}
			if errors.Is(err, ErrBadPassword) {
				a.Pad = c.rest(i)
			}
			return a, err
		}
		if u.Name == "" {
			u.Name = req.User
		}
		if err := u.CheckAccount(); err != nil {
			return Answer{Source: src.Name()}, fmt.Errorf("%w: %s answered an account refused: %w", ErrUnavailable, src.Name(), err)
		}
		a := Answer{User: u, Source: src.Name()}
		if src.Name() != config.SourceLocal {
			c.cache.put(req, a)
		}
		return a, nil
	}
	return Answer{}, ErrUnknownUser
}

// resultOf names the answer err stands for; "" for an error of the
// source's caller (a login that gave up waiting for its turn), which is
// no answer.
func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrUnknownUser):
		return ResultUnknown
	case errors.Is(err, ErrBadPassword):
		return ResultBadPassword
	case errors.Is(err, ErrUnavailable):
		return ResultUnavailable
	}
	return ""
}

// learn records an answer time of source i.
func (c *Chain) learn(i int, took time.Duration) { c.took[i].add(took) }

// rest returns the typical time of asking the sources after index i.
func (c *Chain) rest(i int) time.Duration {
	var d time.Duration
	for j := i + 1; j < len(c.sources); j++ {
		d += c.took[j].median()
	}
	return d
}

// answerTimes are the last answer times of a source; their median is its
// typical time, which an outlier (a first connection's handshake, a
// stall) does not move.
type answerTimes struct {
	mu    sync.Mutex
	times [15]time.Duration
	n     int // answers recorded, the last len(times) kept
}

func (a *answerTimes) add(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.times[a.n%len(a.times)] = d
	a.n++
}

func (a *answerTimes) median() time.Duration {
	a.mu.Lock()
	kept := a.times[:min(a.n, len(a.times))]
	sorted := slices.Clone(kept)
	a.mu.Unlock()
	if len(sorted) == 0 {
		return 0
	}
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

// Forget empties the cache (a reload: accounts or passwords may have
// changed).
// A nil *Chain forgets nothing.
func (c *Chain) Forget() {
	if c != nil {
		c.cache.clear()
	}
}

// Check calls each source's Check and returns their errors, each naming
// the key at fault.
func (c *Chain) Check(ctx context.Context) error {
	var problems []error
	for _, src := range c.sources {
		if err := src.Check(ctx); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// Close closes every source.
func (c *Chain) Close() error {
	var problems []error
	for _, src := range c.sources {
		if err := src.Close(); err != nil {
			problems = append(problems, fmt.Errorf("close auth source %q: %w", src.Name(), err))
		}
	}
	return errors.Join(problems...)
}
