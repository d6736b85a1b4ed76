package ftptest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Range is an inclusive range of TCP ports.
type Range struct{ Start, End int }

// Len returns the number of ports in r.
func (r Range) Len() int { return r.End - r.Start + 1 }

// Contains reports whether port lies in r.
func (r Range) Contains(port int) bool { return port >= r.Start && port <= r.End }

// String returns r as ftpsd's configuration writes it: "START-END".
func (r Range) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// lowestPort is where the search for free ports starts.
const lowestPort = 20000

// The ports handed out so far in this process: the search goes on after
// the last range handed out, so that two servers of one test binary never
// get the same ports (a passive range is bound only at PASV time).
var ports struct {
	sync.Mutex
	next int // 0 until the first call
}

// PortRange returns n consecutive ports below the kernel's ephemeral
// range (net.ipv4.ip_local_port_range; 32768-60999 where it cannot be
// read), where no process's client socket takes a port, each of which
// could be bound on 127.0.0.1 and on 0.0.0.0 just now. No port is handed
// out twice in one process; where the search starts depends on the
// process, so that test binaries running at once rarely probe the same
// ports. It fails the test when there is no such range.
func PortRange(t testing.TB, n int) Range {
	t.Helper()
	r, err := findRange(n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FreePort is PortRange of one port.
func FreePort(t testing.TB) int {
	t.Helper()
	return PortRange(t, 1).Start
}

func findRange(n int) (Range, error) {
	ephLo, ephHi := ephemeralRange()
	lo, hi := lowestPort, ephLo-1
	if n < 1 || n > hi-lo+1 {
		return Range{}, fmt.Errorf("no %d ports between %d and the ephemeral range %d-%d", n, lo, ephLo, ephHi)
	}
	ports.Lock()
	defer ports.Unlock()
	if ports.next == 0 {
		ports.next = lo + rand.IntN(hi-lo+1)
	}
	for probed := 0; probed <= hi-lo+1; probed += n {
		start := ports.next
		if start+n-1 > hi {
			start = lo
		}
		ports.next = start + n
		if bindable(start, n) {
			return Range{Start: start, End: start + n - 1}, nil
		}
	}
	return Range{}, fmt.Errorf("no %d consecutive free ports in %d-%d (below the ephemeral range %d-%d)", n, lo, hi, ephLo, ephHi)
}

// ephemeralRange returns the kernel's range of automatic local ports.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	if f := strings.Fields(string(b)); len(f) == 2 {
		l, err1 := strconv.Atoi(f[0])
		h, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			return l, h
		}
	}
	return lo, hi
}

// bindable reports whether each port of start..start+n-1 can be listened
// on at 127.0.0.1 and at 0.0.0.0 (as the passive listeners are).
func bindable(start, n int) bool {
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		var held []net.Listener
		ok := true
		for p := start; p < start+n && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		if !ok {
			return false
		}
	}
	return true
}

// HeldPorts returns the ports of r that cannot be listened on at 0.0.0.0
// now (as passive listeners are): held by a listener or a connection.
func HeldPorts(r Range) []int {
	var held []int
	for p := r.Start; p <= r.End; p++ {
		if !bindable(p, 1) {
			held = append(held, p)
		}
	}
	return held
}
