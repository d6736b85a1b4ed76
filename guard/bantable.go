package guard

import (
	"net/netip"
	"time"
)

// bans holds the networks banned now, apart from the observed ones so
// that no other traffic can push a ban out. Every ban lasts BanTime and
// starts now, so ending them in the order they started ends them in
// time: prune costs only the bans it removes.
type bans struct {
	until map[netip.Prefix]time.Time
	queue []ban // by start, oldest first; may hold ended bans
}

type ban struct {
	net   netip.Prefix
	until time.Time
}

// prune forgets the bans ended by now.
func (b *bans) prune(now time.Time) {
	i := 0
	for ; i < len(b.queue) && !now.Before(b.queue[i].until); i++ {
		if q := b.queue[i]; b.until[q.net].Equal(q.until) {
			delete(b.until, q.net)
		}
	}
	b.queue = b.queue[i:]
}

// active reports whether n is banned at now.
func (b *bans) active(n netip.Prefix, now time.Time) bool {
	until, ok := b.until[n]
	return ok && now.Before(until)
}

// add bans n until then, unless max bans are in force at now; it
// reports whether it did.
func (b *bans) add(n netip.Prefix, now, until time.Time, max int) bool {
	b.prune(now)
	if len(b.until) >= max {
		return false
	}
	b.until[n] = until
	b.queue = append(b.queue, ban{net: n, until: until})
	return true
}

// count returns the number of bans in force at now.
func (b *bans) count(now time.Time) int {
	b.prune(now)
	return len(b.until)
}
