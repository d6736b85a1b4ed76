package driver_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
)

// s3BenchSize is the file BenchmarkS3VersusOS sends each way.
const s3BenchSize = 256 << 20

// BenchmarkS3VersusOS uploads and downloads one file through a server on
// backend "os" and one on backend "s3" (a real MinIO on this machine, at
// the default part_size), alternately in each iteration so that both see
// the same load, and reports each rate in MiB/s and the ratios s3/os
// (stor-ratio, retr-ratio): the cost of the object store's data path
// beside the disk's. The *-cpu-s/GiB figures are the CPU time per GiB of
// this process (client and server) with each backend, and of MinIO: on a
// machine whose cores are busy they, more than the rates, say where the
// time goes. Each iteration also puts and gets the file straight to MinIO
// with minio-go (four parts at once, as its PutObject does with a known
// size): stor-vs-store and retr-vs-store are ftpsd's s3 rates over those,
// what is left to gain in ftpsd rather than in the store.
func BenchmarkS3VersusOS(b *testing.B) {
	m := miniotest.New(b)
	defaults := config.Default().Storage
	s3 := startServerWith(b, func(cfg *config.Config) {
		cfg.Storage = s3Storage(b, m, m.Endpoint)
		cfg.Storage.PartSize, cfg.Storage.MaxUploadMemory = defaults.PartSize, defaults.MaxUploadMemory
	}, nil)
	disk := startServer(b, nil)
	data := ftptest.RandomData(b, s3BenchSize)
	clients := map[*testServer]*ftptest.Client{
		s3: benchLogin(b, s3, ftptest.Dialer{}), disk: benchLogin(b, disk, ftptest.Dialer{}),
	}
	want := crc32.Checksum(data, castagnoli)
	storeCPU := minioCPU(b)
	var stor, retr [3]time.Duration       // [os, s3, straight to the store]
	var storCPU, retrCPU [3]time.Duration // of this process [os, s3], of MinIO
	b.SetBytes(2 * s3BenchSize)
	b.ResetTimer()
	for b.Loop() {
		for i, ts := range []*testServer{disk, s3} {
			c := clients[ts]
			start, cpu, store := time.Now(), processCPU(b), storeCPU()
			if err := c.Stor("big.bin", data); err != nil {
				b.Fatal(err)
			}
			stor[i] += time.Since(start)
			storCPU[i] += processCPU(b) - cpu
			storCPU[2] += storeCPU() - store
			start, cpu, store = time.Now(), processCPU(b), storeCPU()
			got := retrCRC(b, c, "big.bin")
			retr[i] += time.Since(start)
			retrCPU[i] += processCPU(b) - cpu
			retrCPU[2] += storeCPU() - store
			if got != want {
				b.Fatalf("RETR through %s: crc32c %x, want %x", ts.Cfg.Storage.Backend, got, want)
			}
		}
		stor[2] += timed(b, func() error {
			_, err := m.Client().PutObject(context.Background(), miniotest.Bucket, "direct.bin", bytes.NewReader(data), s3BenchSize,
				minio.PutObjectOptions{PartSize: uint64(defaults.PartSize.Bytes())})
			return err
		})
		retr[2] += timed(b, func() error {
			obj, err := m.Client().GetObject(context.Background(), miniotest.Bucket, "direct.bin", minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			h := crc32.New(castagnoli)
			if _, err := io.Copy(h, obj); err != nil {
				return err
			}
			if h.Sum32() != want {
				return fmt.Errorf("GET straight from the store: crc32c %x, want %x", h.Sum32(), want)
			}
			return nil
		})
	}
	b.StopTimer()
	mibps := func(d time.Duration) float64 { return float64(b.N) * s3BenchSize / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibps(stor[0]), "os-stor-MiB/s")
	b.ReportMetric(mibps(stor[1]), "s3-stor-MiB/s")
	b.ReportMetric(mibps(retr[0]), "os-retr-MiB/s")
	b.ReportMetric(mibps(retr[1]), "s3-retr-MiB/s")
	perGiB := func(d time.Duration) float64 { return d.Seconds() / (float64(b.N) * s3BenchSize / (1 << 30)) }
	b.ReportMetric(perGiB(storCPU[0]), "os-stor-cpu-s/GiB")
	b.ReportMetric(perGiB(storCPU[1]), "s3-stor-cpu-s/GiB")
	b.ReportMetric(perGiB(retrCPU[0]), "os-retr-cpu-s/GiB")
	b.ReportMetric(perGiB(retrCPU[1]), "s3-retr-cpu-s/GiB")
	b.ReportMetric(perGiB(storCPU[2]), "minio-stor-cpu-s/GiB")
	b.ReportMetric(perGiB(retrCPU[2]), "minio-retr-cpu-s/GiB")
	b.ReportMetric(stor[0].Seconds()/stor[1].Seconds(), "stor-ratio")
	b.ReportMetric(retr[0].Seconds()/retr[1].Seconds(), "retr-ratio")
	b.ReportMetric(mibps(stor[2]), "store-put-MiB/s")
	b.ReportMetric(mibps(retr[2]), "store-get-MiB/s")
	b.ReportMetric(stor[2].Seconds()/stor[1].Seconds(), "stor-vs-store")
	b.ReportMetric(retr[2].Seconds()/retr[1].Seconds(), "retr-vs-store")
}

// timed returns how long f took, and fails b when f does.
func timed(b *testing.B, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// retrCRC downloads name and returns its CRC-32C: the client neither
// holds the file nor spends more than a fast checksum on it.
func retrCRC(b *testing.B, c *ftptest.Client, name string) uint32 {
	b.Helper()
	x, err := c.Open("RETR " + name)
	if err != nil {
		b.Fatal(err)
	}
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, x.Conn); err != nil {
		b.Fatal(err)
	}
	if r, err := x.Finish(); err != nil || r.Code != 226 {
		b.Fatalf("end of RETR %s: %v %v, want 226", name, r, err)
	}
	return h.Sum32()
}

// processCPU returns the CPU time (user and system) this process spent.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minioCPU returns a function that gives the CPU time of the MinIO server
// this process started (the child whose command is "minio"), from
// /proc/PID/stat; 0 where /proc is not there.
func minioCPU(b *testing.B) func() time.Duration {
	b.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		f, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		comm, rest, ok := strings.Cut(string(f), ") ")
		fields := strings.Fields(rest)
		if !ok || !strings.HasSuffix(comm, "(minio") || len(fields) < 13 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		return func() time.Duration {
			f, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			_, rest, _ := strings.Cut(string(f), ") ")
			fields := strings.Fields(rest)
			utime, _ := strconv.ParseInt(fields[11], 10, 64)
			stime, _ := strconv.ParseInt(fields[12], 10, 64)
			return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
		}
	}
	return func() time.Duration { return 0 }
}

// storeLatency is the delay the proxy of BenchmarkS3StorDistantStore adds
// to each request: a store in another region, or across a WAN.
const storeLatency = 30 * time.Millisecond

// BenchmarkS3StorDistantStore uploads through backend "s3" to MinIO behind
// a proxy that delays each request by storeLatency before passing it on,
// as a distant store answers: what sending parts one after the other
// costs, each part paying the delay, and what sending them concurrently
// saves.
func BenchmarkS3StorDistantStore(b *testing.B) {
	m := miniotest.New(b)
	target, err := url.Parse(m.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(storeLatency)
		proxy.ServeHTTP(w, r) // the Host header stays the proxy's, which the client signed
	}))
	b.Cleanup(srv.Close)
	defaults := config.Default().Storage
	ts := startServerWith(b, func(cfg *config.Config) {
		cfg.Storage = s3Storage(b, m, srv.URL)
		cfg.Storage.PartSize, cfg.Storage.MaxUploadMemory = defaults.PartSize, defaults.MaxUploadMemory
	}, nil)
	const size = 128 << 20
	data := ftptest.RandomData(b, size)
	c := benchLogin(b, ts, ftptest.Dialer{})
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if err := c.Stor("big.bin", data); err != nil {
			b.Fatal(err)
		}
	}
}
