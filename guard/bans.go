package guard

import (
	"net/netip"
	"time"
)

// Failure is the Guard's verdict on a failed login.
type Failure struct {
	// Delay is how long to wait before answering the client.
	Delay time.Duration
	// Failures counts the failed logins of the client's network within
	// the window, this one included.
	Failures int
	// Network is the client's network, which a ban covers.
	Network netip.Prefix
	// BanStarted is true for the failure that banned the network, once
	// per ban; Until is then the end of the ban.
	BanStarted bool
	Until      time.Time
	// BanTableFull is true for a failure that would have banned the
	// network had Options.MaxBans bans not been in force; the failure
	// stays counted, and the next one tries again.
	BanTableFull bool
}

// Banned reports whether a is banned now: its network is, and a is not
// exempt.
func (g *Guard) Banned(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.banned(a, g.Network(a), g.opts.Now())
}

func (g *Guard) banned(a netip.Addr, n netip.Prefix, now time.Time) bool {
	return g.bans.active(n, now) && !g.exempt(a)
}

// Failed records a failed login from a and returns the delay to apply
// and whether it started a ban.
func (g *Guard) Failed(a netip.Addr) Failure {
	n := g.Network(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if g.banned(a, n, now) { // a check that was under way when the ban started
		return Failure{Delay: g.opts.MaxDelay, Failures: g.opts.MaxFailures, Network: n}
	}
	e := g.track(n)
	e.failures = keepLatest(append(recent(e.failures, now, g.opts.Window), now), max(g.opts.MaxFailures, maxDoublings))
	e.denials = recent(e.denials, now, g.opts.Window)
	f := Failure{Delay: g.delay(len(e.failures) + len(e.denials)), Failures: len(e.failures), Network: n}
	if g.opts.MaxFailures > 0 && f.Failures >= g.opts.MaxFailures && !g.exempt(a) {
		until := now.Add(g.opts.BanTime)
		if !g.bans.add(n, now, until, g.opts.MaxBans) {
			f.BanTableFull = true
			return f
		}
		e.failures, e.denials = nil, nil
		f.BanStarted, f.Until = true, until
	}
	return f
}

// Denied records a login from a refused after a right password (the
// account may not log in from a, or not now) and returns the delay to
// apply: the delay of a failure. A denial lengthens the delays of the
// network's next failures and denials as a failure does, so that neither
// the reply nor its timing tells a right password from a wrong one, but
// it counts toward no ban, and forgets no failure as a success does.
func (g *Guard) Denied(a netip.Addr) time.Duration {
	n := g.Network(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if g.banned(a, n, now) {
		return g.opts.MaxDelay
	}
	e := g.track(n)
	e.failures = recent(e.failures, now, g.opts.Window)
	e.denials = keepLatest(append(recent(e.denials, now, g.opts.Window), now), maxDoublings)
	return g.delay(len(e.failures) + len(e.denials))
}

// maxDoublings bounds the failures kept for the delay: by then any
// sensible MaxDelay is reached.
const maxDoublings = 16

// recent returns the times of list (oldest first) within window before
// now.
func recent(list []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(list) && !list[i].After(now.Add(-window)) {
		i++
	}
	return list[i:]
}

// keepLatest returns the last n times of list at most.
func keepLatest(list []time.Time, n int) []time.Time {
	if len(list) > n {
		return list[len(list)-n:]
	}
	return list
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
	a = a.Unmap()
	for _, p := range g.opts.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Succeeded records a successful login from a: the failures of its
// network are forgotten.
func (g *Guard) Succeeded(a netip.Addr) {
	n := g.Network(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.lookup(n); e != nil {
		e.failures, e.denials = nil, nil
	}
}

// BannedCount returns the number of networks banned now.
func (g *Guard) BannedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bans.count(g.opts.Now())
}

// Suspect reports whether the network of a has failed or denied logins
// within the window or a is banned: its password checks wait behind those of other
// networks.
func (g *Guard) Suspect(a netip.Addr) bool {
	n := g.Network(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if g.banned(a, n, now) {
		return true
	}
	e := g.lookup(n)
	return e != nil && len(recent(e.failures, now, g.opts.Window))+len(recent(e.denials, now, g.opts.Window)) > 0
}
