package driver

import (
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/hooks"
	"ftpsd/internal/testenv"
	"ftpsd/metrics"
	"ftpsd/quota"
)

// discardFile is an upload that keeps nothing: the benchmark measures the
// transfer wrapper (loggedTransfer), not a store.
type discardFile struct{ ftpserver.FileTransfer }

func (discardFile) Write(p []byte) (int, error) { return len(p), nil }
func (discardFile) Close() error                { return nil }

// dropSink is a hooks.Sink that drops what it is given.
type dropSink struct{}

func (dropSink) Emit(hooks.Event) {}

// BenchmarkUploadTransfer is the driver's side of an upload of 1 MiB, as
// the lib drives it (writes of 32 KiB, io.Copy's, then Close), without an
// event sink and with one: the difference is the SHA-256 computed while
// the data streams (and the event). CPU per GiB is cpu-ns/op (the
// process's CPU time, from getrusage) × 1024.
func BenchmarkUploadTransfer(b *testing.B) {
	const size, chunk = 1 << 20, 32 << 10
	buf := make([]byte, chunk)
	for _, bc := range []struct {
		name string
		sink hooks.Sink
	}{{"no_sink", nil}, {"sink", dropSink{}}} {
		b.Run(bc.name, func(b *testing.B) {
			home, err := newMemoryBackend().open("/")
			if err != nil {
				b.Fatal(err)
			}
			s := &session{metrics: metrics.New(), events: bc.sink, cc: fakeClient{}}
			s.logPtr.Store(zap.NewNop())
			c := newClientFs(home, false, s, 0, nil, newHomeQuota(&quota.Table{}, "/", home, func() quota.Limit { return quota.Limit{} }))
			b.SetBytes(size)
			b.ReportAllocs()
			before := testenv.ProcessCPU(b)
			for b.Loop() {
				if err := s.beginTransfer(); err != nil {
					b.Fatal(err)
				}
				t := c.transfer(discardFile{}, "/up.bin", metrics.Upload, true)
				for range size / chunk {
					if _, err := t.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if err := t.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
