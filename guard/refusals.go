package guard

import "net/netip"

// Refused records a connection from a refused at accept (a cap, a ban)
// and reports whether to log it now: once per network and LogEvery.
// count is then the number of refusals of the network since its last
// line, this one included.
func (g *Guard) Refused(a netip.Addr) (log bool, count int) {
	n := g.Network(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	e := g.track(n)
	e.refused++
	if !e.lastLog.IsZero() && now.Sub(e.lastLog) < g.opts.LogEvery {
		return false, 0
	}
	count, e.refused, e.lastLog = e.refused, 0, now
	return true, count
}
