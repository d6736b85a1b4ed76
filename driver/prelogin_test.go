package driver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Before login, on the default limits: a flood of silent connections from
// a few addresses does not keep others out (max_unauthenticated_per_ip,
// and the eviction at a full max_unauthenticated).

// defaultLimits gives the server the default [server] section (testConfig
// lifts the per-address caps, since most tests connect from 127.0.0.1),
// on the test's listen addresses.
func defaultLimits(c *config.Config) {
	def := config.Default().Server
	def.Listen, def.ImplicitListen = c.Server.Listen, c.Server.ImplicitListen
	c.Server = def
}

// flood keeps up silent connections to addr: workers per address, each
// holding one connection not logged in and opening the next as soon as the
// server closes it (421 at login_timeout, or to make room for another
// address), or refusedPause after the server refused one.
type flood struct {
	held, refused, closed atomic.Int64
	told                  atomic.Int64 // closed connections that read a 421 first
	cancel                context.CancelFunc
	wg                    sync.WaitGroup
}

// refusedPause paces a flood's refused workers: enough to keep the server
// full, without a load on the test machine's CPUs that would slow the
// client's login down on its own.
const refusedPause = 500 * time.Millisecond

func startFlood(t *testing.T, addr string, addrs, workers int) *flood {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &flood{cancel: cancel}
	for a := range addrs {
		d := ftptest.Dialer{Local: loopback(2 + a), Timeout: 5 * time.Second}
		for range workers {
			f.wg.Go(func() { f.work(ctx, d, addr) })
		}
	}
	t.Cleanup(f.stop)
	return f
}

func (f *flood) work(ctx context.Context, d ftptest.Dialer, addr string) {
	for ctx.Err() == nil {
		c, err := d.Connect(addr)
		if err != nil {
			sleepCtx(ctx, refusedPause)
			continue
		}
		if c.Greeting().Code != 220 {
			f.refused.Add(1)
			_ = c.Close()
			sleepCtx(ctx, refusedPause)
			continue
		}
		f.held.Add(1)
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		c.Timeout = time.Minute
		if r, err := c.Reply(); err == nil && r.Code == 421 && strings.Contains(r.Msg, "max_unauthenticated") {
			f.told.Add(1)
		}
		stop()
		_ = c.Close()
		f.held.Add(-1)
		f.closed.Add(1)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (f *flood) stop() {
	f.cancel()
	f.wg.Wait()
}

// TestFloodOnDefaults: silent connections kept up from 3, then 12,
// addresses on the default limits, reopened as the server closes them; a
// client from another address logs in, uploads and downloads 64 KiB within
// 2 s, five times. From 3 addresses (270 workers) max_unauthenticated_per_ip
// (32) holds the flood to 96 connections; from 12 (360 workers) it fills
// max_unauthenticated (256) and each login takes the place of a flood
// connection.
func TestFloodOnDefaults(t *testing.T) {
	testenv.FullTier(t, "hundreds of connections for several seconds")
	raiseFDLimit(t, 4096) // the flood holds at most 360 sockets on each side
	for _, tc := range []struct {
		addrs, workers int
		reason         string // the refusals the flood meets
	}{
		{3, 90, "max_unauthenticated_per_ip"},
		{12, 30, "max_unauthenticated"},
	} {
		t.Run(fmt.Sprintf("%d addresses", tc.addrs), func(t *testing.T) {
			ts := startServer(t, defaultLimits)
			f := startFlood(t, ts.Addr, tc.addrs, tc.workers)
			ftptest.MustEventually(t, 20*time.Second, "the flood meets the limits", func() bool { return f.refused.Load() >= 50 })

			client := ftptest.Dialer{Local: loopback(100)}
			data := ftptest.RandomData(t, 64<<10)
			var slowest time.Duration
			for round := range 5 {
				start := time.Now()
				c, err := client.Login(ts.Addr, userName, userPass)
				if err != nil {
					t.Fatalf("round %d: login during the flood (%d held, %d refused): %v", round, f.held.Load(), f.refused.Load(), err)
				}
				m := c.Must(t)
				name := fmt.Sprintf("during-flood-%d.bin", round)
				m.Stor(name, data)
				ftptest.MustSameData(t, "download during the flood", m.Retr(name), data)
				m.Quit()
				took := time.Since(start)
				if took > 2*time.Second {
					t.Errorf("round %d: login and transfers took %v, want under 2s", round, took)
				}
				slowest = max(slowest, took)
				time.Sleep(300 * time.Millisecond)
			}
			held, refused, closed, told := f.held.Load(), f.refused.Load(), f.closed.Load(), f.told.Load()
			f.stop()
			series := fmt.Sprintf(`ftpsd_connections_refused_total{reason=%q}`, tc.reason)
			counted := metricValue(t, ts, series)
			evicted := metricValue(t, ts, "ftpsd_unauthenticated_evicted_total")
			t.Logf("flood from %d addresses: %d held at the end, %d refused (%v counted under %s), %d closed by the server (%v evicted, %d told 421); slowest round %v",
				tc.addrs, held, refused, counted, tc.reason, closed, evicted, told, slowest)
			if counted == 0 {
				t.Errorf("no refusal counted under %s", tc.reason)
			}
			if tc.reason == "max_unauthenticated" && (evicted < 5 || told < 5) {
				t.Errorf("%v flood connections evicted, %d of them told 421; want at least one per login (5)", evicted, told)
			}
		})
	}
}

// TestUnauthenticatedPerIPRefusals: connections over
// max_unauthenticated_per_ip get 421 naming the key; each is counted,
// and the address gets one log line for them all.
func TestUnauthenticatedPerIPRefusals(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Server.MaxUnauthenticatedPerIP = 2 })
	from := ftptest.Dialer{Local: loopback(2)}
	for range 2 {
		from.MustDial(t, ts.Addr)
	}
	const refusals = 50
	for i := range refusals {
		c := mustConnect(t, from, ts.Addr)
		if g := c.Greeting(); g.Code != 421 || !strings.Contains(g.Msg, "max_unauthenticated_per_ip") {
			t.Fatalf("connection %d over the cap: %q, want 421 naming max_unauthenticated_per_ip", i, g)
		}
		c.ExpectClosed()
	}
	ftptest.Dialer{Local: loopback(3)}.MustDial(t, ts.Addr) // another address is not capped
	series := `ftpsd_connections_refused_total{reason="max_unauthenticated_per_ip"}`
	ftptest.MustEventually(t, 5*time.Second, "every refusal counted", func() bool { return metricValue(t, ts, series) == refusals })
	want := map[string]any{"client": "127.0.0.2", "reason": "max_unauthenticated_per_ip", "refused": 1}
	if n, all := ts.countLogs("connection refused", want), ts.countLogs("connection refused", nil); n != 1 || all != 1 {
		t.Fatalf("%d refusal lines naming the key, %d in all, for %d refusals; want 1", n, all, refusals)
	}
}
