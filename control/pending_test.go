package control

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// pendingModel is what pendingSet must answer, computed the slow way: the
// connections of each address oldest first, and when each address's count
// last changed.
type pendingModel struct {
	conns   map[string][]*Conn
	changed map[string]int
	clock   int
}

func (m *pendingModel) add(c *Conn, key string) {
	m.conns[key] = append(m.conns[key], c)
	m.clock++
	m.changed[key] = m.clock
}

func (m *pendingModel) remove(c *Conn, key string) {
	for i, x := range m.conns[key] {
		if x == c {
			m.conns[key] = append(m.conns[key][:i:i], m.conns[key][i+1:]...)
			m.clock++
			m.changed[key] = m.clock
			return
		}
	}
}

// victimFor is pendingSet.victimFor by a scan of every address: the
// busiest, the one busy longest among equals.
func (m *pendingModel) victimFor(key string) *Conn {
	busiest := ""
	for k, cs := range m.conns {
		if len(cs) == 0 {
			continue
		}
		if b := len(m.conns[busiest]); busiest == "" || len(cs) > b || len(cs) == b && m.changed[k] < m.changed[busiest] {
			busiest = k
		}
	}
	if busiest == "" || len(m.conns[key])+1 >= len(m.conns[busiest]) {
		return nil
	}
	return m.conns[busiest][0]
}

// TestPendingSetMatchesModel: random arrivals, logins and evictions over a
// few addresses; after each, pendingSet's counts, total and victim agree
// with the model's.
func TestPendingSetMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPendingSet()
	m := &pendingModel{conns: map[string][]*Conn{}, changed: map[string]int{}}
	keyOf := map[*Conn]string{}
	var open []*Conn
	for step := range 20000 {
		key := strconv.Itoa(rng.IntN(12))
		switch op := rng.IntN(10); {
		case op < 5 || len(open) == 0:
			c := &Conn{}
			p.add(c, key)
			m.add(c, key)
			keyOf[c] = key
			open = append(open, c)
		case op < 8: // a login or a close
			i := rng.IntN(len(open))
			c := open[i]
			open = append(open[:i], open[i+1:]...)
			p.remove(c)
			p.remove(c) // a second removal (close after login) changes nothing
			m.remove(c, keyOf[c])
		default: // a newcomer over the global cap
			want := m.victimFor(key)
			if got := p.victimFor(key); got != want {
				t.Fatalf("step %d: victim for %s: %p, want %p", step, key, got, want)
			}
			if want == nil {
				continue
			}
			p.remove(want)
			m.remove(want, keyOf[want])
			for i, c := range open {
				if c == want {
					open = append(open[:i], open[i+1:]...)
					break
				}
			}
			c := &Conn{}
			p.add(c, key)
			m.add(c, key)
			keyOf[c] = key
			open = append(open, c)
		}
		if p.total != len(open) {
			t.Fatalf("step %d: total %d, want %d", step, p.total, len(open))
		}
		for k, cs := range m.conns {
			if p.count(k) != len(cs) {
				t.Fatalf("step %d: count of %s %d, want %d", step, k, p.count(k), len(cs))
			}
		}
	}
}
