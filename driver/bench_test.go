package driver_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"

	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
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
