package driver_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/testenv"
)

// Benchmarks of the data path through an in-process server over loopback
// TLS (PROT P, data connections resuming the control session): the copy
// of a large file each way (MB/s; -benchmem shows the allocations of the
// server and the client together), and small files in one session.

const bigTransfer = 64 << 20

func BenchmarkRetrBig(b *testing.B) {
	ts := startServer(b, nil)
	data := ftptest.RandomData(b, bigTransfer)
	ftptest.WriteFile(b, ts.AliceDir(), "big.bin", data)
	c := benchLogin(b, ts, ftptest.Dialer{})
	b.SetBytes(bigTransfer)
	b.ResetTimer()
	for b.Loop() {
		got, err := c.Retr("big.bin")
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != bigTransfer {
			b.Fatalf("got %d bytes, want %d", len(got), bigTransfer)
		}
	}
}

func BenchmarkStorBig(b *testing.B) {
	ts := startServer(b, nil)
	data := ftptest.RandomData(b, bigTransfer)
	c := benchLogin(b, ts, ftptest.Dialer{})
	b.SetBytes(bigTransfer)
	b.ResetTimer()
	for b.Loop() {
		if err := c.Stor("big.bin", data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ftptest.MustSameFile(b, filepath.Join(ts.AliceDir(), "big.bin"), data)
}

// BenchmarkStorBigEvents is BenchmarkStorBig without an event sink and
// with one (driver.WithEvents), in one run: the difference is the SHA-256
// of the upload path. cpu-ns/op is the process's CPU time (server and
// client, user and system) per upload, from getrusage.
func BenchmarkStorBigEvents(b *testing.B) {
	data := ftptest.RandomData(b, bigTransfer)
	for _, bc := range []struct {
		name string
		opts []driver.Option
	}{{"no_sink", nil}, {"sink", []driver.Option{driver.WithEvents(discardEvents{})}}} {
		b.Run(bc.name, func(b *testing.B) {
			ts := startServerWith(b, nil, bc.opts)
			c := benchLogin(b, ts, ftptest.Dialer{})
			b.SetBytes(bigTransfer)
			before := testenv.ProcessCPU(b)
			b.ResetTimer()
			for b.Loop() {
				if err := c.Stor("big.bin", data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// discardEvents is a hooks.Sink that drops the events.
type discardEvents struct{}

func (discardEvents) Emit(hooks.Event) {}

// The small-file benchmarks use a client with Nagle's algorithm on, as
// Python's ftplib and most OpenSSL-based clients have it (Go turns it
// off).
func BenchmarkStorSmall(b *testing.B) {
	ts := startServer(b, nil)
	data := bytes.Repeat([]byte("x"), 1000)
	c := benchLogin(b, ts, nagleDialer())
	b.ResetTimer()
	for b.Loop() {
		if err := c.Stor("small.txt", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRetrSmall(b *testing.B) {
	ts := startServer(b, nil)
	data := bytes.Repeat([]byte("x"), 1000)
	ftptest.WriteFile(b, ts.AliceDir(), "small.txt", data)
	c := benchLogin(b, ts, nagleDialer())
	b.ResetTimer()
	for b.Loop() {
		got, err := c.Retr("small.txt")
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			b.Fatalf("got %d bytes, want the %d stored", len(got), len(data))
		}
	}
}

func benchLogin(b *testing.B, ts *testServer, d ftptest.Dialer) *ftptest.Client {
	b.Helper()
	d.RequireResume = true
	c, err := d.Login(ts.Addr, userName, userPass)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// nagleDialer dials the control and data connections with Nagle's
// algorithm on.
func nagleDialer() ftptest.Dialer {
	return ftptest.Dialer{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if tc, ok := conn.(*net.TCPConn); ok {
			err = tc.SetNoDelay(false)
		}
		return conn, err
	}}
}

// BenchmarkBackendBig: the upload and the download of a 64 MiB file on
// the os backend and on the s3 backend against a real MinIO (default
// part_size and timeout), in one run, so that s3/os is a ratio of one
// machine's figures. cpu-ns/op is this process's CPU (server and client),
// not MinIO's. The s3 case is skipped without MinIO (under CI=true it
// fails, see internal/miniotest) and under -short.
func BenchmarkBackendBig(b *testing.B) {
	data := ftptest.RandomData(b, bigTransfer)
	for _, backend := range []config.Backend{config.BackendOS, config.BackendS3} {
		b.Run(string(backend), func(b *testing.B) {
			ts, check := startBackend(b, backend, data)
			c := benchLogin(b, ts, ftptest.Dialer{})
			b.Run("upload", func(b *testing.B) {
				b.SetBytes(bigTransfer)
				before := testenv.ProcessCPU(b)
				for b.Loop() {
					if err := c.Stor("up.bin", data); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
				b.StopTimer()
				check(b, "up.bin")
			})
			b.Run("download", func(b *testing.B) {
				b.SetBytes(bigTransfer)
				before := testenv.ProcessCPU(b)
				for b.Loop() {
					got, err := c.Retr("big.bin")
					if err != nil {
						b.Fatal(err)
					}
					if len(got) != bigTransfer {
						b.Fatalf("got %d bytes, want %d", len(got), bigTransfer)
					}
				}
				b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
			})
		})
	}
}

// startBackend starts a server on backend (s3: in a MinIO of its own)
// whose user alice has data as big.bin, and returns it with a check that
// alice's file name holds data.
func startBackend(b *testing.B, backend config.Backend, data []byte) (*testServer, func(*testing.B, string)) {
	b.Helper()
	if backend == config.BackendOS {
		ts := startServer(b, nil)
		ftptest.WriteFile(b, ts.AliceDir(), "big.bin", data)
		return ts, func(b *testing.B, name string) {
			ftptest.MustSameFile(b, filepath.Join(ts.AliceDir(), name), data)
		}
	}
	m := miniotest.New(b)
	ts := startServer(b, func(cfg *config.Config) {
		def := config.Default().Storage
		cfg.Storage = s3Storage(b, m, m.Endpoint)
		cfg.Storage.PartSize, cfg.Storage.Timeout = def.PartSize, def.Timeout
	})
	putObject(b, m, aliceKey("big.bin"), data)
	return ts, func(b *testing.B, name string) {
		if got := objectSHA(b, m, aliceKey(name)); got != ftptest.SHA256Hex(data) {
			b.Fatalf("%s in the bucket: sha256 %q, want %s", name, got, ftptest.SHA256Hex(data))
		}
	}
}
