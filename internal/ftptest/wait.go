package ftptest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond, at first every millisecond and then every 20ms,
// until it holds or timeout has passed, and reports whether it held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 20*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// MustEventually fails the test unless cond holds within timeout; what
// names the awaited state in the failure.
func MustEventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Serve accepts connections on ln until the test ends and hands each to
// handle in a goroutine of its own, with a deadline of timeout, closing it
// when handle returns: a toy server for tests. When the test ends it
// closes ln and the connections still open, and waits for its goroutines.
func Serve(t testing.TB, ln net.Listener, timeout time.Duration, handle func(net.Conn)) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]struct{}{}
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					_ = c.Close()
				}()
				_ = c.SetDeadline(time.Now().Add(timeout))
				handle(c)
			})
		}
	})
}

// Receive waits up to timeout for a value from ch (or for ch to be
// closed) and reports whether one came in time.
func Receive[T any](ch <-chan T, timeout time.Duration) (v T, ok bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v = <-ch:
		return v, true
	case <-timer.C:
		return v, false
	}
}
