package driver_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// benchEntries is the size of the directory the listing benchmarks list,
// that of the LIST row of bench/run.sh.
const benchEntries = 20_000

// BenchmarkListing lists a directory of benchEntries files on the os
// backend through an in-process server over loopback TLS (PROT P), with
// each listing command: ns/op is the time of one listing, cpu-ns/op the
// process's CPU time (server and client) per listing, B/op and allocs/op
// those of both sides.
func BenchmarkListing(b *testing.B) {
	ts := startServer(b, nil)
	dir := filepath.Join(ts.AliceDir(), "big")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range benchEntries {
		f, err := os.Create(filepath.Join(dir, "entry-"+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
	c := benchLogin(b, ts, ftptest.Dialer{})
	for _, cmd := range []string{"LIST", "MLSD", "NLST"} {
		b.Run(cmd, func(b *testing.B) {
			before := testenv.ProcessCPU(b)
			b.ReportAllocs()
			for b.Loop() {
				x, err := c.Open(cmd + " big")
				if err != nil {
					b.Fatal(err)
				}
				data, err := x.Receive()
				if err != nil {
					b.Fatal(err)
				}
				if n := bytes.Count(data, []byte("\r\n")); n != benchEntries {
					b.Fatalf("%s: %d lines, want %d", cmd, n, benchEntries)
				}
			}
			b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
