package guard

import (
	"context"
	"net/netip"
	"sync"
)

// turns lets one caller per network through at a time; it holds only the
// networks in use.
type turns struct {
	mu sync.Mutex
	m  map[netip.Prefix]*turn
}

type turn struct {
	slot  chan struct{} // holds a token while someone has the turn
	users int           // callers holding or waiting for the turn
}

// Turn waits until no other caller holds the turn of a's network (or ctx
// ends, which returns ctx's error) and returns the function that ends the
// turn. The login takes the turn of its client around the password check,
// so that parallel logins from one network queue behind each other
// instead of all at once for the shared password-hashing slots.
func (g *Guard) Turn(ctx context.Context, a netip.Addr) (done func(), err error) {
	n := g.Network(a)
	t := g.turns.join(n)
	select {
	case t.slot <- struct{}{}:
		return func() { <-t.slot; g.turns.leave(n, t) }, nil
	case <-ctx.Done():
		g.turns.leave(n, t)
		return nil, ctx.Err()
	}
}

func (ts *turns) join(a netip.Prefix) *turn {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.m[a]
	if t == nil {
		t = &turn{slot: make(chan struct{}, 1)}
		ts.m[a] = t
	}
	t.users++
	return t
}

func (ts *turns) leave(a netip.Prefix, t *turn) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t.users--; t.users == 0 {
		delete(ts.m, a)
	}
}
