package driver_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The soak's size: FTPSD_SOAK_SESSIONS sessions (default 20; the full soak
// is 200) of soakTransfers transfers each, a tenth of them sabotaged.
const (
	soakDefaultSessions = 20
	soakTransfers       = 10
	soakSabotage        = 0.10
)

// sabotage is one way a client breaks a transfer.
type sabotage int

const (
	intact       sabotage = iota
	resetData             // the data connection is reset half way
	abortData             // ABOR half way
	bareFIN               // the upload ends with a FIN and no close_notify
	vanishClient          // control and data connections reset, no QUIT
	sabotages
)

func (s sabotage) String() string {
	return [...]string{"intact", "reset", "ABOR", "bare FIN", "vanish"}[s]
}

// soakStats counts what the soak did and found.
type soakStats struct {
	uploads, downloads, sabotaged       atomic.Int64
	sabotagedCommitted, corrupted, lost atomic.Int64
}

// TestSoak runs many sessions at once, each uploading and downloading its
// own files with checksums, a tenth of the transfers broken on purpose
// (reset, ABOR, bare FIN, the client vanishing). No file may be corrupted
// or lost, no broken upload may be stored, and goroutines, descriptors and
// partial uploads return to their baseline.
func TestSoak(t *testing.T) {
	testenv.FullTier(t, "a soak of many sessions")
	sessions := soakDefaultSessions
	if v := os.Getenv("FTPSD_SOAK_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FTPSD_SOAK_SESSIONS=%q: want a positive number", v)
		}
		sessions = n
	}
	raiseFDLimit(t, uint64(16*sessions+1024))
	ts := startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, min(2*sessions, 400)))
		c.Server.MaxConnections = 0
	})
	ftptest.MustLogin(t, ts.Addr, userName, userPass).Quit() // the server's lasting goroutines start
	ftptest.MustEventually(t, 5*time.Second, "warm-up session ended", func() bool { return ts.Server.Sessions() == 0 })
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	seed := uint64(time.Now().UnixNano())
	t.Logf("soak: %d sessions x %d transfers, seed %d", sessions, soakTransfers, seed)
	var stats soakStats
	var wg sync.WaitGroup
	for id := range sessions {
		wg.Go(func() { soakSession(t, ts, id, rand.New(rand.NewPCG(seed, uint64(id))), &stats) })
	}
	wg.Wait()
	ftptest.MustEventually(t, 30*time.Second, "every session ended", func() bool { return ts.Server.Sessions() == 0 })
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	ftptest.MustEventually(t, 15*time.Second, "goroutines and descriptors back to their baseline", func() bool {
		return runtime.NumGoroutine() <= goroutines+5 && openFDs(t) <= fds+5
	})
	t.Logf("soak: %d uploads, %d downloads, %d sabotaged; %d sabotaged uploads stored, %d corrupted, %d lost",
		stats.uploads.Load(), stats.downloads.Load(), stats.sabotaged.Load(),
		stats.sabotagedCommitted.Load(), stats.corrupted.Load(), stats.lost.Load())
	if stats.sabotagedCommitted.Load()+stats.corrupted.Load()+stats.lost.Load() != 0 {
		t.Fatal("the soak lost, corrupted or stored broken data")
	}
}

// soakSession is one client: it logs in and runs soakTransfers transfers
// on two files of its own, checking each stored file after each upload.
func soakSession(t *testing.T, ts *testServer, id int, rng *rand.Rand, stats *soakStats) {
	names := [2]string{fmt.Sprintf("soak-%d-a.bin", id), fmt.Sprintf("soak-%d-b.bin", id)}
	var stored [2][]byte // what each file must hold
	for i, n := range names {
		stored[i] = soakData(rng)
		ftptest.WriteFile(t, ts.AliceDir(), n, stored[i])
	}
	c, err := ftptest.Dialer{}.Login(ts.Addr, userName, userPass)
	if err != nil {
		t.Errorf("session %d: %v", id, err)
		return
	}
	defer c.Close()
	if err := c.ProtP(); err != nil {
		t.Errorf("session %d: %v", id, err)
		return
	}
	for range soakTransfers {
		f := rng.IntN(2)
		how := intact
		if rng.Float64() < soakSabotage {
			how = sabotage(1 + rng.IntN(int(sabotages)-1))
			stats.sabotaged.Add(1)
		}
		var err error
		if rng.IntN(2) == 0 {
			stats.uploads.Add(1)
			content := soakData(rng)
			var ok bool
			if ok, err = soakUpload(c, names[f], content, how); ok {
				stored[f] = content
			}
		} else {
			stats.downloads.Add(1)
			err = soakDownload(c, names[f], stored[f], how, stats)
		}
		got, rerr := os.ReadFile(filepath.Join(ts.AliceDir(), names[f]))
		switch {
		case rerr != nil:
			stats.lost.Add(1)
			t.Errorf("session %d: %s after a %s transfer: %v", id, names[f], how, rerr)
		case !bytes.Equal(got, stored[f]):
			if how != intact {
				stats.sabotagedCommitted.Add(1)
			} else {
				stats.corrupted.Add(1)
			}
			t.Errorf("session %d: %s holds %d bytes after a %s transfer, want the %d stored", id, names[f], len(got), how, len(stored[f]))
		}
		if err != nil {
			t.Errorf("session %d: %s transfer: %v", id, how, err)
			return
		}
		if how == vanishClient {
			return
		}
	}
	if err := c.Quit(); err != nil {
		t.Errorf("session %d: %v", id, err)
	}
}

// soakData returns 16 KiB to 256 KiB of random bytes.
func soakData(rng *rand.Rand) []byte {
	b := make([]byte, 16<<10+rng.IntN(240<<10))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// soakUpload stores content as name, broken as how says, and reports
// whether the server answered 226 (the upload is then stored).
func soakUpload(c *ftptest.Client, name string, content []byte, how sabotage) (bool, error) {
	x, err := c.Open("STOR " + name)
	if err != nil {
		return false, err
	}
	if how == intact {
		return true, x.Send(content)
	}
	if _, err := x.Conn.Write(content[:len(content)/2]); err != nil {
		return false, fmt.Errorf("write half: %w", err)
	}
	return soakBreak(c, x, how)
}

// soakDownload reads name, broken as how says; an intact download must
// bring want.
func soakDownload(c *ftptest.Client, name string, want []byte, how sabotage, stats *soakStats) error {
	x, err := c.Open("RETR " + name)
	if err != nil {
		return err
	}
	if how == intact {
		got, err := x.Receive()
		if err == nil && !bytes.Equal(got, want) {
			stats.corrupted.Add(1)
			return fmt.Errorf("RETR %s: %d bytes differ from the %d stored", name, len(got), len(want))
		}
		return err
	}
	if how == bareFIN {
		how = resetData // a download has no upload to cut
	}
	if _, err := x.Conn.Read(make([]byte, 4096)); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	_, err = soakBreak(c, x, how)
	return err
}

// soakBreak breaks the transfer x as how says, then reads every reply up
// to the one to a NOOP sent after it (the lib answers NOOP only once the
// transfer ended), so that the session can go on. A broken upload sent
// half its content: it must never be stored, so soakBreak reports false.
func soakBreak(c *ftptest.Client, x *ftptest.Transfer, how sabotage) (bool, error) {
	switch how {
	case resetData:
		_ = ftptest.Reset(x.Raw)
	case bareFIN:
		if err := x.EndBare(); err != nil {
			return false, err
		}
		defer x.Raw.Close()
	case abortData:
		defer ftptest.Reset(x.Raw)
		if err := c.Send("ABOR"); err != nil {
			return false, err
		}
	case vanishClient:
		_ = ftptest.Reset(x.Raw)
		_ = c.Abort()
		return false, nil
	}
	if err := c.Send("NOOP"); err != nil {
		return false, err
	}
	for {
		r, err := c.Reply()
		if err != nil {
			return false, fmt.Errorf("replies after a %s transfer: %w", how, err)
		}
		if r.Code == 200 {
			return false, nil
		}
	}
}
