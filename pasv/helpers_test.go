package pasv

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/internal/ftptest"
)

// errNoPort is what libPASV returns when no candidate could be bound, like
// the lib's ErrNoAvailableListeningPort.
var errNoPort = errors.New("could not find any port to listen to")

// libPASV does what ftpserverlib v0.32.3 does for one PASV/EPSV with a
// PassiveTransferPortRange (getPassivePortCandidates, then
// findListenerWithinPortRange), then what our driver does with the
// listener that bound (MainDriverExtensionPassiveWrapper). wrap may be nil
// (no wrapper, as with the lib's PortRange). listenCalls counts the
// net.ListenTCP calls.
func libPASV(a ftpserver.PasvPortGetter, wrap func(net.Listener) (net.Listener, error)) (port int, l net.Listener, listenCalls int, err error) {
	nb := min(max(a.NumberAttempts(), 10), 1000)
	maxFetches := nb * 4
	candidates := make([]int, 0, nb)
	tried := make(map[int]struct{}, nb)
	for i := 0; len(candidates) < nb && i < maxFetches; i++ {
		_, listened, ok := a.FetchNext()
		if !ok {
			break
		}
		if _, dup := tried[listened]; dup {
			continue
		}
		tried[listened] = struct{}{}
		candidates = append(candidates, listened)
	}
	for _, p := range candidates {
		listenCalls++
		tl, errListen := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4zero, Port: p})
		if errListen != nil {
			continue
		}
		if wrap == nil {
			return p, tl, listenCalls, nil
		}
		wl, errWrap := wrap(tl)
		if errWrap != nil {
			_ = tl.Close()
			return 0, nil, listenCalls, errWrap
		}
		return p, wl, listenCalls, nil
	}
	return 0, nil, listenCalls, errNoPort
}

// freeRange returns the bounds of ftptest.PortRange(tb, size): ports below
// the kernel's ephemeral range, where no client socket of any process on
// the host takes a port (which would make it "foreign" in the middle of a
// test), all bindable now.
func freeRange(tb testing.TB, size int) (start, end int) {
	tb.Helper()
	r := ftptest.PortRange(tb, size)
	return r.Start, r.End
}

// holdPort binds port on 0.0.0.0 as a foreign process would.
func holdPort(tb testing.TB, port int) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		tb.Fatalf("hold port %d: %v", port, err)
	}
	return l
}

// observed returns a logger that records every entry, and the records.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// newTestAllocator returns an allocator on [start,end] logging to an
// observer.
func newTestAllocator(tb testing.TB, start, end int, wait time.Duration, now func() time.Time) (*Allocator, *observer.ObservedLogs) {
	tb.Helper()
	logger, logs := observed()
	a, err := NewAllocator(Options{Start: start, End: end, Wait: wait, Logger: logger, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return a, logs
}

// lease does one libPASV through the allocator's wrapper and fails the
// test if it does not bind.
func lease(tb testing.TB, a *Allocator) (int, net.Listener) {
	tb.Helper()
	port, l, _, err := libPASV(a, a.WrapPassiveListener)
	if err != nil {
		tb.Fatalf("PASV: %v (stats %+v)", err, a.Stats())
	}
	return port, l
}
