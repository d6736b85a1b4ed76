package pasv

import (
	"net"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// BenchmarkPASV95 compares one PASV on a 100-port range of which 95 ports
// stay held for the whole benchmark: through the allocator (the 95 leased
// by sessions, through WrapPassiveListener) and through the lib's own
// PortRange (the 95 merely bound; it draws candidates at random, with
// replacement, and knows nothing of the ports in use). Each iteration binds
// one port and closes it. Metrics: listens/op is the listen calls per
// successful PASV, fail% the share of PASVs that found no port.
func BenchmarkPASV95(b *testing.B) {
	const size, held = 100, 95

	run := func(b *testing.B, getter ftpserver.PasvPortGetter, wrap func(net.Listener) (net.Listener, error)) {
		var listens, ok, failed int
		for b.Loop() {
			_, l, n, err := libPASV(getter, wrap)
			listens += n
			if err != nil {
				failed++
				continue
			}
			ok++
			_ = l.Close()
		}
		if ok > 0 {
			b.ReportMetric(float64(listens)/float64(ok), "listens/op")
		}
		b.ReportMetric(100*float64(failed)/float64(ok+failed), "fail%")
	}

	b.Run("allocator", func(b *testing.B) {
		start, end := freeRange(b, size)
		a, _ := newTestAllocator(b, start, end, 0, nil)
		for range held {
			_, l := lease(b, a)
			defer l.Close()
		}
		if s := a.Stats(); s.InUse != held {
			b.Fatalf("InUse = %d, want %d", s.InUse, held)
		}
		run(b, a, a.WrapPassiveListener)
		if s := a.Stats(); s.InUse != held {
			b.Fatalf("InUse = %d after the run, want %d", s.InUse, held)
		}
	})

	b.Run("lib-PortRange", func(b *testing.B) {
		start, end := freeRange(b, size)
		for p := start; p < start+held; p++ {
			l := holdPort(b, p)
			defer l.Close()
		}
		run(b, ftpserver.PortRange{Start: start, End: end}, nil)
	})
}
