package guard

import (
	"net/netip"
	"time"
)

// Failure is the Guard's verdict on a failed login.
type Failure struct {
	// Delay is how long to wait before answering the client.
	Delay time.Duration
	// Failures counts the address's failed logins within the window,
	// this one included.
	Failures int
	// BanStarted is true for the failure that banned the address, once
	// per ban; Until is then the end of the ban.
	BanStarted bool
	Until      time.Time
}

// Banned reports whether a is banned now.
func (g *Guard) Banned(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.lookup(a.Unmap())
	return e != nil && g.opts.Now().Before(e.bannedUntil)
}

// Failed records a failed login from a and returns the delay to apply
// and whether it started a ban.
func (g *Guard) Failed(a netip.Addr) Failure {
	a = a.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	e := g.track(a)
	if now.Before(e.bannedUntil) { // a check that was under way when the ban started
		return Failure{Delay: g.opts.MaxDelay, Failures: g.opts.MaxFailures}
	}
	e.failures = append(e.recent(now, g.opts.Window), now)
	if keep := max(g.opts.MaxFailures, maxDoublings); len(e.failures) > keep {
		e.failures = e.failures[len(e.failures)-keep:]
	}
	f := Failure{Delay: g.delay(len(e.failures)), Failures: len(e.failures)}
	if g.opts.MaxFailures > 0 && f.Failures >= g.opts.MaxFailures && !g.exempt(a) {
		e.bannedUntil = now.Add(g.opts.BanTime)
		e.failures = nil
		f.BanStarted, f.Until = true, e.bannedUntil
	}
	return f
}

// maxDoublings bounds the failures kept for the delay: by then any
// sensible MaxDelay is reached.
const maxDoublings = 16

// recent returns the failures within window before now.
func (e *entry) recent(now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(e.failures) && !e.failures[i].After(now.Add(-window)) {
		i++
	}
	return e.failures[i:]
}

// delay returns BaseDelay doubled for each failure after the first, at
// most MaxDelay.
func (g *Guard) delay(failures int) time.Duration {
	d := g.opts.BaseDelay
	for i := 1; i < failures && d < g.opts.MaxDelay; i++ {
		d *= 2
	}
	return min(d, g.opts.MaxDelay)
}

func (g *Guard) exempt(a netip.Addr) bool {
	for _, p := range g.opts.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Succeeded records a successful login from a: its failures are
// forgotten.
func (g *Guard) Succeeded(a netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.lookup(a.Unmap()); e != nil {
		e.failures = nil
	}
}

// BannedCount returns the number of addresses banned now.
func (g *Guard) BannedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now, n := g.opts.Now(), 0
	for el := g.lru.Front(); el != nil; el = el.Next() {
		if now.Before(el.Value.(*entry).bannedUntil) {
			n++
		}
	}
	return n
}

// Suspect reports whether a has failed logins within the window or is
// banned: its password checks wait behind those of other addresses.
func (g *Guard) Suspect(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	e := g.lookup(a.Unmap())
	return e != nil && (now.Before(e.bannedUntil) || len(e.recent(now, g.opts.Window)) > 0)
}
