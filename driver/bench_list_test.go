package driver_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Benchmarks of listings through an in-process server over loopback TLS
// as in bench_test.go. The client runs in this process: allocs/op, B/op
// and cpu-ns/op (the process's CPU time per listing, from getrusage)
// count both sides.

// listEntries is the size of the listed directory, as in bench/run.sh.
const listEntries = 20000

// BenchmarkList: LIST and MLSD of a directory of 20,000 files on the os
// backend, each listing checked for every entry.
func BenchmarkList(b *testing.B) {
	ts := startQuietServer(b, nil)
	makeListDir(b, filepath.Join(ts.AliceDir(), "big"), listEntries)
	c := benchLogin(b, ts, ftptest.Dialer{})
	for _, cmd := range []string{"LIST", "MLSD"} {
		b.Run(cmd, func(b *testing.B) {
			b.ReportAllocs()
			before := testenv.ProcessCPU(b)
			for b.Loop() {
				x, err := c.Open(cmd + " big")
				if err != nil {
					b.Fatal(err)
				}
				got, err := x.Receive()
				if err != nil {
					b.Fatal(err)
				}
				if n := bytes.Count(got, []byte(".dat\r\n")); n != listEntries {
					b.Fatalf("%s: %d entries, want %d", cmd, n, listEntries)
				}
			}
			b.ReportMetric(float64(testenv.ProcessCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// makeListDir makes dir with n empty files of the names bench/run.sh
// lists (e00000.dat...), sized as there (sparse).
func makeListDir(b *testing.B, dir string, n int) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("e%05d.dat", i))
		f, err := os.Create(p)
		if err == nil {
			err = f.Truncate(int64(i) * 4099 % (1 << 20))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
