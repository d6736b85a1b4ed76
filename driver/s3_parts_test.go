package driver_test

import (
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
)

// The tests of an upload whose parts go to the store concurrently (s3fs's
// multipart): MinIO is frozen (SIGSTOP) for a moment so that the parts
// stay in flight while the test looks at them.

// s3PartsTimeout is the storage.timeout of these tests: longer than the
// moments MinIO is frozen, so that no part fails unless a test wants it.
const s3PartsTimeout = 15 * time.Second

// startS3PartsServer is startS3Server with s3PartsTimeout and edit.
func startS3PartsServer(t *testing.T, m *miniotest.Server, edit func(*config.Config)) *testServer {
	t.Helper()
	return startS3Server(t, m, func(cfg *config.Config) {
		cfg.Storage.Timeout = config.Duration(s3PartsTimeout)
		if edit != nil {
			edit(cfg)
		}
	})
}

// waitUploadMemory waits until ftpsd_upload_memory_bytes is want, and
// returns the most it saw meanwhile.
func waitUploadMemory(t *testing.T, ts *testServer, what string, want float64) float64 {
	t.Helper()
	var most, got float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = metricValue(t, ts, "ftpsd_upload_memory_bytes")
		most = max(most, got)
		if got == want {
			return most
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ftpsd_upload_memory_bytes %v, want %v (%.1f parts)", what, got, want, want/float64(ts.Cfg.Storage.PartSize.Bytes()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestS3UploadCutWithPartsInFlight cuts an upload (reset, ABOR) while four
// of its parts are in flight to a store that does not answer yet: the
// upload fails, the old object stays, the multipart upload is aborted and
// every part's memory comes back.
func TestS3UploadCutWithPartsInFlight(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3PartsServer(t, m, nil)
	part := int(ts.Cfg.Storage.PartSize.Bytes())
	old := ftptest.RandomData(t, 300_000)
	newContent := ftptest.RandomData(t, 6*part)
	for i, how := range []string{"reset data", "ABOR"} {
		t.Run(how, func(t *testing.T) {
			putObject(t, m, aliceKey("keep.bin"), old)
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			x := startStor(t, c, "keep.bin", newContent[:part+1])
			// The first part sent, the second filling: the multipart
			// upload was created (freezing MinIO before it answered
			// would hold the upload there).
			waitUploadMemory(t, ts, "the second part filling", float64(2*part))
			m.Freeze()
			thawed := false
			defer func() {
				if !thawed {
					m.Thaw()
				}
			}()
			go func() { _, _ = x.Conn.Write(newContent[part+1:]) }()
			// Four parts sent, none answered: four part buffers held.
			waitUploadMemory(t, ts, "four parts in flight", float64(4*part))
			switch how {
			case "reset data":
				_ = ftptest.Reset(x.Raw)
			case "ABOR":
				c.Send("ABOR")
				_ = ftptest.Reset(x.Raw)
			}
			m.Thaw()
			thawed = true
			if r := c.Reply(); r.Code/100 != 4 && r.Code/100 != 5 {
				t.Fatalf("reply to the cut upload: %v, want 4xx/5xx", r)
			}
			waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), i+1)
			if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(old) {
				t.Fatalf("keep.bin after the cut upload: sha256 %s, want the old %s", got, ftptest.SHA256Hex(old))
			}
			ftptest.MustEventually(t, 10*time.Second, "the multipart upload aborted",
				func() bool { return incompleteUploads(t, m, aliceKey("keep.bin")) == 0 })
			waitUploadMemory(t, ts, "the cut upload ended", 0)
			_ = c.Close()
		})
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Stor("keep.bin", newContent)
	if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(newContent) {
		t.Fatalf("keep.bin after a complete STOR: sha256 %s, want the new content's", got)
	}
	c.Quit()
}

// TestS3PartFailsMidUpload: the store stops answering while parts are in
// flight; the upload fails with 451 storage unavailable once
// storage.timeout passed, and the object it would have replaced stays.
func TestS3PartFailsMidUpload(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, func(cfg *config.Config) { cfg.Storage.Timeout = config.Duration(2 * time.Second) })
	part := int(ts.Cfg.Storage.PartSize.Bytes())
	old := ftptest.RandomData(t, 300_000)
	putObject(t, m, aliceKey("keep.bin"), old)
	newContent := ftptest.RandomData(t, 8*part)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	x := startStor(t, c, "keep.bin", newContent[:part+1])
	waitUploadMemory(t, ts, "the second part filling", float64(2*part))
	m.Freeze()
	go func() { _, _ = x.Conn.Write(newContent[part+1:]); _ = x.Conn.Close() }()
	start := time.Now()
	r := c.Reply()
	t.Logf("reply after %s: %v", time.Since(start).Round(time.Millisecond), r)
	m.Thaw()
	if r.Code != 451 || !strings.Contains(r.Msg, "storage unavailable") {
		t.Fatalf("reply to an upload whose parts the store did not take: %v, want 451 storage unavailable", r)
	}
	_ = x.Raw.Close()
	waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), 1)
	if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(old) {
		t.Fatalf("keep.bin after the failed upload: sha256 %s, want the old %s", got, ftptest.SHA256Hex(old))
	}
	waitUploadMemory(t, ts, "the failed upload ended", 0)
	c.Stor("keep.bin", newContent)
	if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(newContent) {
		t.Fatalf("keep.bin once the store is back: sha256 %s, want the new content's", got)
	}
	c.Quit()
}

// TestS3PartsWithinUploadMemory: with max_upload_memory at eight parts,
// uploads take parts beyond their first only while less than half of it
// is held (two uploads hold two parts each, a third one), and the other
// half still admits new uploads up to the bound (then 450). With the
// store frozen and every upload sending, nothing takes more; all complete
// and the memory comes back.
func TestS3PartsWithinUploadMemory(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3PartsServer(t, m, func(cfg *config.Config) {
		cfg.Storage.MaxUploadMemory = config.BytesOf(8 * cfg.Storage.PartSize.Bytes())
	})
	part := int(ts.Cfg.Storage.PartSize.Bytes())
	bound := float64(8 * part)
	content := map[string][]byte{}
	xfers := map[string]*ftptest.Transfer{}
	login := func() *ftptest.MustClient {
		c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	for _, step := range []struct {
		name string
		held int // parts held once it started
	}{{"a.bin", 2}, {"b.bin", 4}, {"c.bin", 5}} {
		content[step.name] = ftptest.RandomData(t, 6*part)
		xfers[step.name] = startStor(t, login(), step.name, content[step.name][:part+1])
		waitUploadMemory(t, ts, step.name+" started", float64(step.held*part))
	}
	for i, name := range []string{"d.bin", "e.bin", "f.bin"} { // their first MiB: one part each
		content[name] = ftptest.RandomData(t, 2<<20)
		xfers[name] = startStor(t, login(), name, content[name][:1<<20])
		waitUploadMemory(t, ts, name+" started", float64((6+i)*part))
	}
	mustRefuseUpload(t, login(), "g.bin")

	m.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			m.Thaw()
		}
	}()
	done := make(chan error, len(xfers))
	for _, name := range []string{"a.bin", "b.bin", "c.bin"} {
		go func() { done <- xfers[name].Send(content[name][part+1:]) }()
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if got := metricValue(t, ts, "ftpsd_upload_memory_bytes"); got != bound {
			t.Fatalf("uploads sending to a frozen store: ftpsd_upload_memory_bytes %v, want max_upload_memory %v throughout", got, bound)
		}
	}
	m.Thaw()
	thawed = true
	for _, name := range []string{"d.bin", "e.bin", "f.bin"} {
		go func() { done <- xfers[name].Send(content[name][1<<20:]) }()
	}
	for range xfers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range content {
		if got, want := objectSHA(t, m, aliceKey(name)), ftptest.SHA256Hex(data); got != want {
			t.Fatalf("%s in the bucket: sha256 %s, want %s", name, got, want)
		}
		if n := incompleteUploads(t, m, aliceKey(name)); n != 0 {
			t.Fatalf("%s: %d incomplete multipart uploads after it completed", name, n)
		}
	}
	waitUploadMemory(t, ts, "every upload ended", 0)
}
