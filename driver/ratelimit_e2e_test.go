package driver_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Bandwidth limits (max_download_rate, max_upload_rate) end to end: real
// curl transfers timed by the wall clock. Each test takes seconds by
// design, so they are in the full tier only. The limiter itself, with a
// fake clock, is tested in ratelimit_test.go.

const mib = 1 << 20

// withRates sets the rates of the account name ("" leaves a key unset).
func withRates(t testing.TB, name, download, upload string) func(*config.Config) {
	return func(cfg *config.Config) {
		for i := range cfg.Users {
			if cfg.Users[i].Name != name {
				continue
			}
			for _, r := range []struct {
				key  *config.ByteSize
				text string
			}{{&cfg.Users[i].MaxDownloadRate, download}, {&cfg.Users[i].MaxUploadRate, upload}} {
				if r.text == "" {
					continue
				}
				v, err := config.ParseByteSize(r.text)
				if err != nil {
					t.Fatal(err)
				}
				*r.key = v
			}
			return
		}
		t.Fatalf("no test user %q", name)
	}
}

// curlRun is one curl transfer of timedCurls.
type curlRun struct {
	user, pass string
	args       []string      // after curlBase: the transfer
	wall       time.Duration // from the start of curl to its exit
	took       time.Duration // the transfer, as curl timed it
	begin, end time.Time     // the transfer, as curl timed it, on the wall clock
	err        error
	stderr     string
}

// curlTimes makes curl print when the transfer began (after the login and
// the commands before it) and when it ended, in seconds from its start.
var curlTimes = []string{"-w", `%{time_pretransfer} %{time_total}\n`}

// timedCurls runs the curl transfers at once and times each; it fails the
// test if one fails. The limit is judged on the transfer as curl timed it
// (from its pretransfer time to its end: the data and the final reply),
// without the start of the process and the login.
func timedCurls(t *testing.T, curl, work string, runs ...*curlRun) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			start := time.Now()
			var out string
			args := append(append(curlBase(r.user, r.pass), curlTimes...), r.args...)
			out, r.stderr, r.err = runToolErr(t, work, curl, args...)
			r.wall = time.Since(start)
			var pre, total float64
			if _, err := fmt.Sscan(out, &pre, &total); err != nil && r.err == nil {
				r.err = fmt.Errorf("curl's times %q: %w", out, err)
			}
			r.took = time.Duration((total - pre) * float64(time.Second))
			r.begin = start.Add(time.Duration(pre * float64(time.Second)))
			r.end = start.Add(time.Duration(total * float64(time.Second)))
		})
	}
	wg.Wait()
	for _, r := range runs {
		if r.err != nil {
			t.Fatalf("curl as %s %v: %v\n%s", r.user, r.args, r.err, tail(r.stderr, 2000))
		}
		t.Logf("curl as %s %v: transfer %v, curl %v", r.user, r.args[len(r.args)-1], r.took.Round(time.Millisecond), r.wall.Round(time.Millisecond))
	}
}

// mustTakeBetween fails unless d lies within [lo, hi].
func mustTakeBetween(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %v, want %v to %v", what, d.Round(time.Millisecond), lo, hi)
		return
	}
	t.Logf("%s took %v (want %v to %v)", what, d.Round(time.Millisecond), lo, hi)
}

// TestE2EBandwidthDownload: a 20 MiB download at max_download_rate = "2MiB"
// takes 9 to 11 s, while another account's download of the same size on
// the same server, at the same time, runs unthrottled.
func TestE2EBandwidthDownload(t *testing.T) {
	testenv.FullTier(t, "a 10 s download timed by the wall clock")
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, withRates(t, userName, "2MiB", ""), "big.bin", 20*mib)
	ftptest.WriteFile(t, ts.ReaderDir(), "big.bin", data)
	work := t.TempDir()
	limited := &curlRun{user: userName, pass: userPass, args: []string{"-o", filepath.Join(work, "limited.bin"), "ftp://" + ts.Addr + "/big.bin"}}
	free := &curlRun{user: readerName, pass: readerPass, args: []string{"-o", filepath.Join(work, "free.bin"), "ftp://" + ts.Addr + "/big.bin"}}
	timedCurls(t, curl, work, limited, free)

	ftptest.MustSameFile(t, filepath.Join(work, "limited.bin"), data)
	ftptest.MustSameFile(t, filepath.Join(work, "free.bin"), data)
	mustTakeBetween(t, "20 MiB at max_download_rate 2MiB", limited.took, 9*time.Second, 11*time.Second)
	mustTakeBetween(t, "20 MiB of an account without a limit, meanwhile (curl's whole run)", free.wall, 0, 3*time.Second)
	// Every chunk but the first burst waited for the bucket.
	if got := metricValue(t, ts, `ftpsd_rate_limited_bytes_total{direction="download"}`); got < 19*mib || got > 20*mib {
		t.Errorf(`ftpsd_rate_limited_bytes_total{direction="download"} = %v, want 19 to 20 MiB`, got)
	}
}

// TestE2EBandwidthUpload: a 6 MiB upload at max_upload_rate = "1MiB"
// takes 6 s within 10 %, on each backend, and the file is stored whole.
func TestE2EBandwidthUpload(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			testenv.FullTier(t, "a 6 s upload timed by curl")
			curl := testenv.NeedTool(t, "curl", "curl")
			ts := startServerOn(t, backend, withRates(t, userName, "", "1MiB"))
			work := t.TempDir()
			data := ftptest.RandomData(t, 6*mib)
			local := ftptest.WriteFile(t, work, "up.bin", data)
			up := &curlRun{user: userName, pass: userPass, args: []string{"-T", local, "ftp://" + ts.Addr + "/up.bin"}}
			timedCurls(t, curl, work, up)
			ts.MustHaveFile(t, "up.bin", data)
			mustTakeBetween(t, "6 MiB at max_upload_rate 1MiB", up.took, 5400*time.Millisecond, 6600*time.Millisecond)
			if got := metricValue(t, ts, `ftpsd_rate_limited_bytes_total{direction="upload"}`); got < 5*mib || got > 6*mib {
				t.Errorf(`ftpsd_rate_limited_bytes_total{direction="upload"} = %v, want 5 to 6 MiB`, got)
			}
		})
	}
}

// TestE2EBandwidthAccountWide: two sessions of one account downloading at
// once share its max_download_rate: 2 x 4 MiB at "2MiB" take 4 s from the
// first transfer's start to the last one's end, not 2. The two curls'
// logins may end apart on a busy machine; a sharing is judged only on
// transfers that ran together for at least a second (the other one
// started late: tried again, three times at most). Unshared, two
// transfers that overlap by a second end 3 s after the first began.
func TestE2EBandwidthAccountWide(t *testing.T) {
	testenv.FullTier(t, "4 s downloads timed by the wall clock")
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, withRates(t, userName, "2MiB", ""), "a.bin", 4*mib)
	ts.PutFile(t, "b.bin", data)
	work := t.TempDir()
	var runs []*curlRun
	var overlap time.Duration
	for attempt := 1; attempt <= 3; attempt++ {
		runs = []*curlRun{
			{user: userName, pass: userPass, args: []string{"-o", filepath.Join(work, "a.bin"), "ftp://" + ts.Addr + "/a.bin"}},
			{user: userName, pass: userPass, args: []string{"-o", filepath.Join(work, "b.bin"), "ftp://" + ts.Addr + "/b.bin"}},
		}
		timedCurls(t, curl, work, runs...)
		for _, name := range []string{"a.bin", "b.bin"} {
			ftptest.MustSameFile(t, filepath.Join(work, name), data)
		}
		overlap = minTime(runs[0].end, runs[1].end).Sub(maxTime(runs[0].begin, runs[1].begin))
		if overlap >= time.Second {
			break
		}
		t.Logf("attempt %d: the transfers ran together for %v only", attempt, overlap.Round(time.Millisecond))
	}
	if overlap < time.Second {
		t.Fatalf("in 3 attempts the two transfers never ran together for a second (last: %v)", overlap.Round(time.Millisecond))
	}
	span := maxTime(runs[0].end, runs[1].end).Sub(minTime(runs[0].begin, runs[1].begin))
	mustTakeBetween(t, "8 MiB in two sessions of one account at 2MiB, first start to last end", span, 3600*time.Millisecond, 4400*time.Millisecond)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestE2EBandwidthReload: a reload that raises the rate applies to a
// download already running: 6 MiB at "1MiB", raised to "4MiB" after 1 s,
// take about 1 + 5/4 s instead of 6.
func TestE2EBandwidthReload(t *testing.T) {
	testenv.FullTier(t, "a download timed by the wall clock across a reload")
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, withRates(t, userName, "1MiB", ""), "big.bin", 6*mib)
	work := t.TempDir()
	run := &curlRun{user: userName, pass: userPass, args: []string{"-o", filepath.Join(work, "big.bin"), "ftp://" + ts.Addr + "/big.bin"}}
	next := ts.Cfg
	next.Users = append([]config.User(nil), ts.Cfg.Users...)
	withRates(t, userName, "4MiB", "")(&next)
	reloaded := make(chan error, 1)
	go func() {
		if !ftptest.Eventually(5*time.Second, func() bool { return ts.countLogs("login", map[string]any{"result": "ok"}) > 0 }) {
			reloaded <- fmt.Errorf("curl did not log in within 5 s")
			return
		}
		time.Sleep(time.Second)
		reloaded <- ts.Server.Reload(next)
	}()
	timedCurls(t, curl, work, run)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameFile(t, filepath.Join(work, "big.bin"), data)
	if n := ts.countLogs("session closed by reload", nil); n != 0 {
		t.Fatalf("the reload closed %d session(s): a changed rate must not close sessions", n)
	}
	mustTakeBetween(t, "6 MiB at 1MiB then 4MiB after a reload", run.took, 1400*time.Millisecond, 3200*time.Millisecond)
}

// TestE2EBandwidthAbortAndHangUp: a transfer waiting for its account's
// bucket ends at once when the client aborts it (ABOR) or hangs up, and
// an upload cut so is not stored. At "64KiB" a 256 KiB buffer of an
// upload waits 4 s, a 1 MiB download 16 s.
func TestE2EBandwidthAbortAndHangUp(t *testing.T) {
	testenv.FullTier(t, "seconds of timed transfers")
	ts := startServer(t, withRates(t, userName, "64KiB", "64KiB"))
	ts.PutFile(t, "big.bin", ftptest.RandomData(t, mib))
	small := []byte("a small file after ABOR\n")
	ts.PutFile(t, "small.txt", small)
	failed := map[string]any{"result": "failed"}

	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	x := c.Open("RETR big.bin")
	if _, err := io.ReadFull(x.Conn, make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Send("ABOR")
	c.Expect(426, "the aborted transfer's reply")
	c.Expect(226, "ABOR's reply")
	waitLogs(t, ts, "transfer", failed, 1)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the aborted download ended %v after ABOR, want within 1 s", d)
	}
	ftptest.MustSameData(t, "RETR after ABOR", c.Retr("small.txt"), small)
	c.Quit()

	up := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	up.ProtP()
	x = up.Open("STOR up.bin")
	if _, err := x.Conn.Write(ftptest.RandomData(t, 300<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the server holds 256 KiB, for 4 s at 64 KiB/s
	start = time.Now()
	if err := up.Abort(); err != nil { // the client hangs up: a reset control connection
		t.Fatal(err)
	}
	waitLogs(t, ts, "transfer", failed, 2)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the upload ended %v after its client hung up, want within 1 s", d)
	}
	x.Conn.Close()
	if _, err := os.Stat(filepath.Join(ts.AliceDir(), "up.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the cut upload was stored (stat: %v)", err)
	}
	ts.MustNoPartialUploads(t)
}
