package control

import "container/list"

// pendingSet holds the open connections that have not logged in, grouped
// by client address, for server.max_unauthenticated_per_ip and for the
// eviction that keeps a full server.max_unauthenticated fair (see
// Registry.add). Every operation is O(1): each address keeps its
// connections oldest first, and the addresses are kept in levels by how
// many they hold, so the busiest address is the first of the top level.
// It is guarded by the Registry's lock.
type pendingSet struct {
	total int
	addrs map[string]*pendingAddr
	// levels[n] lists the addresses that hold n pending connections, in
	// the order they reached n; levels[0] stays empty.
	levels []*list.List
	top    int // the highest n whose level is not empty; 0 when none
}

// pendingAddr is one client address with pending connections.
type pendingAddr struct {
	key   string
	conns *list.List    // of *Conn, oldest first
	level *list.Element // its element in levels[conns.Len()]
}

func newPendingSet() pendingSet {
	return pendingSet{addrs: make(map[string]*pendingAddr), levels: []*list.List{list.New()}}
}

// count returns the pending connections of the address key.
func (p *pendingSet) count(key string) int {
	if a := p.addrs[key]; a != nil {
		return a.conns.Len()
	}
	return 0
}

// add records c, from the address key, as pending.
func (p *pendingSet) add(c *Conn, key string) {
	a := p.addrs[key]
	if a == nil {
		a = &pendingAddr{key: key, conns: list.New()}
		p.addrs[key] = a
	}
	p.unlevel(a)
	c.reg.pendingElem = a.conns.PushBack(c)
	c.reg.pendingAt = a
	p.total++
	p.relevel(a)
}

// remove forgets c if it is pending (it logged in, closed or was
// evicted).
func (p *pendingSet) remove(c *Conn) {
	a := c.reg.pendingAt
	if a == nil {
		return
	}
	p.unlevel(a)
	a.conns.Remove(c.reg.pendingElem)
	c.reg.pendingElem, c.reg.pendingAt = nil, nil
	p.total--
	if a.conns.Len() == 0 {
		delete(p.addrs, a.key)
	} else {
		p.relevel(a)
	}
	if p.levels[p.top].Len() == 0 {
		p.top-- // a was the only address at the top; it is one level down now, or gone
	}
}

// victimFor returns the connection that a newcomer from the address key
// takes the place of when the server holds as many pending connections as
// it may: the oldest pending connection of the busiest address, provided
// that the newcomer's address, newcomer included, would still hold fewer
// than the busiest holds now. Otherwise (the newcomer's address is among
// the busiest, or one short of them) it returns nil and the newcomer is
// refused. Among addresses equally busy, the one that has been so the
// longest gives way.
func (p *pendingSet) victimFor(key string) *Conn {
	if p.top == 0 || p.count(key)+1 >= p.top {
		return nil
	}
	busiest := p.levels[p.top].Front().Value.(*pendingAddr)
	return busiest.conns.Front().Value.(*Conn)
}

// unlevel takes a out of its level before its count changes; the caller
// then corrects top, which moves by one level at most.
func (p *pendingSet) unlevel(a *pendingAddr) {
	if a.level == nil {
		return
	}
	n := a.conns.Len()
	p.levels[n].Remove(a.level)
	a.level = nil
}

// relevel puts a at the back of the level of its count.
func (p *pendingSet) relevel(a *pendingAddr) {
	n := a.conns.Len()
	for len(p.levels) <= n {
		p.levels = append(p.levels, list.New())
	}
	a.level = p.levels[n].PushBack(a)
	p.top = max(p.top, n)
}
