package control

import (
	"net"
	"sync"
	"testing"
	"time"
)

type countingEvents struct {
	mu       sync.Mutex
	refused  map[string]int
	failed   int
	cleared  int
	timedOut int
}

func (e *countingEvents) ConnectionRefused(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refused == nil {
		e.refused = map[string]int{}
	}
	e.refused[reason]++
}

func (e *countingEvents) HandshakeFailed() { e.mu.Lock(); e.failed++; e.mu.Unlock() }
func (e *countingEvents) LoginTimedOut()   { e.mu.Lock(); e.timedOut++; e.mu.Unlock() }
func (e *countingEvents) ControlCleared()  { e.mu.Lock(); e.cleared++; e.mu.Unlock() }

func (e *countingEvents) get(reason string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused[reason]
}

func dialFrom(t *testing.T, local, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, raw)
}

func TestConnectionCaps(t *testing.T) {
	ev := &countingEvents{}
	s := startEchoWith(t, Options{MaxConns: 3, MaxPerIP: 2, Events: ev})
	a := dialFrom(t, "127.0.0.1", s.addr)
	a.expect("220")
	b := dialFrom(t, "127.0.0.1", s.addr)
	b.expect("220")
	over := dialFrom(t, "127.0.0.1", s.addr)
	over.expect("421 Too many connections (max_connections_per_ip)")
	over.closed()
	c := dialFrom(t, "127.0.0.2", s.addr)
	c.expect("220")
	full := dialFrom(t, "127.0.0.3", s.addr)
	full.expect("421 Too many connections (max_connections)")
	full.closed()
	if ev.get("max_connections_per_ip") != 1 || ev.get("max_connections") != 1 {
		t.Fatalf("refusals counted: %v", ev.refused)
	}
	// A slot frees when a client leaves.
	_ = a.raw.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.registry.Len() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	again := dialFrom(t, "127.0.0.1", s.addr)
	again.expect("220")
	again.cmd("NOOP", "200 got NOOP")
}
