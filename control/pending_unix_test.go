//go:build unix

package control

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestPendingSetManyAddresses: 10,000 addresses with one connection each
// and one with three, then 100,000 arrivals: each newcomer takes the place
// of the busy address's oldest, which then comes back. Each step costs the
// same whatever the number of addresses: a scan of the addresses per
// arrival would take a billion steps here.
func TestPendingSetManyAddresses(t *testing.T) {
	const addrs, arrivals = 10000, 100000
	p := newPendingSet()
	keys := make([]string, addrs)
	conns := make([]*Conn, addrs)
	for i := range conns {
		keys[i] = "10.0." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255)
		conns[i] = &Conn{}
		p.add(conns[i], keys[i])
	}
	const busyKey = "192.0.2.1"
	busy := []*Conn{{}, {}, {}}
	for _, c := range busy {
		p.add(c, busyKey)
	}
	start := cpuTime(t)
	for i := range arrivals {
		j := i % addrs
		v := p.victimFor(keys[j])
		if v != busy[0] {
			t.Fatalf("arrival %d: victim %p, want the busy address's oldest %p", i, v, busy[0])
		}
		p.remove(v)
		p.remove(conns[j]) // one leaves: the newcomer's address is back to one
		p.add(conns[j], keys[j])
		busy = append(busy[1:], v)
		p.add(v, busyKey)
	}
	if took := cpuTime(t) - start; took > 5*time.Second {
		t.Fatalf("%d arrivals over %d addresses took %v of CPU", arrivals, addrs, took)
	}
	t.Logf("%d arrivals over %d addresses: %v of CPU", arrivals, addrs, cpuTime(t)-start)
	if p.total != addrs+3 || p.top != 3 || p.count(busyKey) != 3 {
		t.Fatalf("total %d, top %d, busy %d; want %d, 3, 3", p.total, p.top, p.count(busyKey), addrs+3)
	}
}

// cpuTime returns the CPU time the process used so far: unlike the time
// on the clock, it does not grow when other processes have the CPUs.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
