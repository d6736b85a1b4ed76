package driver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Quotas (quota_bytes, quota_files) end to end: uploads refused with 552
// before their 150 when the size is known (ALLO) or the quota is full,
// uploads that cross the limit failed with 552 and discarded, the usage
// that SITE QUOTA shows after uploads, deletions and renames, parallel
// uploads of one home, and homes shared by two accounts. The tests with
// external clients (curl, Python's ftplib) and backend "s3" are in
// quota_tools_test.go.

// withQuota sets quota_bytes (when bytes > 0) and quota_files (when files
// > 0) of the account name.
func withQuota(t testing.TB, name string, bytes, files int64) func(*config.Config) {
	return func(cfg *config.Config) {
		for i := range cfg.Users {
			if cfg.Users[i].Name != name {
				continue
			}
			if bytes > 0 {
				cfg.Users[i].QuotaBytes = config.BytesOf(bytes)
			}
			if files > 0 {
				cfg.Users[i].QuotaFiles = &files
			}
			return
		}
		t.Fatalf("no test user %q", name)
	}
}

// quotaUsage is what a SITE QUOTA reply says; a limit of -1 is none.
type quotaUsage struct {
	bytes, bytesLimit, files, filesLimit int64
}

var quotaReply = regexp.MustCompile(`^quota: (\d+) of (\d+|unlimited) bytes.*, (\d+) of (\d+|unlimited) files`)

// parseQuota reads the text of a 200 reply to SITE QUOTA.
func parseQuota(msg string) (quotaUsage, error) {
	m := quotaReply.FindStringSubmatch(msg)
	if m == nil {
		return quotaUsage{}, fmt.Errorf("reply %q is not a quota", msg)
	}
	n := func(s string) int64 {
		if s == "unlimited" {
			return -1
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		return v
	}
	return quotaUsage{n(m[1]), n(m[2]), n(m[3]), n(m[4])}, nil
}

// mustQuota returns the usage SITE QUOTA shows to c.
func mustQuota(t testing.TB, c *ftptest.MustClient) quotaUsage {
	t.Helper()
	r := c.Do(200, "SITE QUOTA")
	u, err := parseQuota(r.Msg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustUsage fails unless SITE QUOTA shows bytes and files used.
func mustUsage(t testing.TB, c *ftptest.MustClient, what string, bytes, files int64) {
	t.Helper()
	u := mustQuota(t, c)
	if u.bytes != bytes || u.files != files {
		t.Fatalf("%s: SITE QUOTA shows %d bytes, %d files; want %d bytes, %d files", what, u.bytes, u.files, bytes, files)
	}
}

// mustRefuse552 sends command (a STOR or APPE) and fails unless it is
// refused with 552 before any 150: the data connection is never used.
func mustRefuse552(t testing.TB, c *ftptest.MustClient, command string) {
	t.Helper()
	x, err := c.Client.Open(command)
	if err == nil {
		_ = x.Raw.Close()
		t.Fatalf("%s: got 150, want 552 before it", command)
	}
	if !strings.Contains(err.Error(), "got 552") {
		t.Fatalf("%s: %v, want 552", command, err)
	}
}

// storCut sends data as a STOR of name that the server is expected to
// fail while it arrives, and returns the final reply.
func storCut(t testing.TB, c *ftptest.MustClient, name string, data []byte) ftptest.Reply {
	t.Helper()
	x := c.Open("STOR " + name)
	_, _ = x.Conn.Write(data) // the server stops reading at the limit
	_ = x.Conn.Close()
	return c.Reply()
}

// TestQuotaBytes: with quota_bytes, a replacing upload that would cross
// the limit fails with 552 while it arrives, the old file keeps its
// content and no partial upload is left; an upload within the limit is
// taken; ALLO of a size beyond the limit gets the STOR refused with 552
// before 150; once the quota is full a new upload is refused before 150;
// and SITE QUOTA shows the usage after each step.
func TestQuotaBytes(t *testing.T) {
	const limit = 100_000
	ts := startServer(t, withQuota(t, userName, limit, 0))
	old := ftptest.RandomData(t, 30_000)
	ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	ftptest.WriteFile(t, ts.AliceDir(), "sub/other.bin", ftptest.RandomData(t, 10_000))
	ftptest.WriteFile(t, ts.AliceDir(), ".ftpsd-upload-leftover", ftptest.RandomData(t, 5_000)) // not counted
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	if u := mustQuota(t, c); u != (quotaUsage{40_000, limit, 2, -1}) {
		t.Fatalf("SITE QUOTA at start: %+v, want 40000 of %d bytes, 2 files, no file limit", u, limit)
	}
	if err := os.Remove(filepath.Join(ts.AliceDir(), ".ftpsd-upload-leftover")); err != nil {
		t.Fatal(err)
	}

	// keep.bin replaced by 200 kB: 40 kB + 200 kB - 30 kB > 100 kB.
	if r := storCut(t, c, "keep.bin", ftptest.RandomData(t, 200_000)); r.Code != 552 {
		t.Fatalf("STOR crossing quota_bytes: final reply %v, want 552", r)
	}
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "keep.bin"), old)
	ts.MustNoPartialUploads(t)
	mustUsage(t, c, "after a refused upload", 40_000, 2)

	// 89 kB replacing 30 kB: 40 + 89 - 30 = 99 kB fits.
	c.Stor("keep.bin", ftptest.RandomData(t, 89_000))
	mustUsage(t, c, "after a replacing upload", 99_000, 2)

	// ALLO announces 2000 bytes: 99 kB + 2 kB > 100 kB.
	c.Do(200, "ALLO 2000")
	mustRefuse552(t, c, "STOR new.bin")
	// ALLO of 1000 fits.
	c.Do(200, "ALLO 1000")
	c.Stor("new.bin", ftptest.RandomData(t, 1000))
	mustUsage(t, c, "after an upload that fills the quota", limit, 3)

	// Full: a new upload is refused before 150, even of nothing.
	mustRefuse552(t, c, "STOR empty.bin")
	mustRefuse552(t, c, "APPE new.bin")
	c.Quit()
}

// TestQuotaFiles: with quota_files, a new file beyond the limit is refused
// with 552 before 150, also with APPE; replacing a file is taken; a
// deletion makes room.
func TestQuotaFiles(t *testing.T) {
	ts := startServer(t, withQuota(t, userName, 0, 2))
	ftptest.WriteFile(t, ts.AliceDir(), "a.bin", ftptest.RandomData(t, 100))
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	c.Stor("b.bin", ftptest.RandomData(t, 200))
	if u := mustQuota(t, c); u != (quotaUsage{300, -1, 2, 2}) {
		t.Fatalf("SITE QUOTA: %+v, want 300 bytes (no limit), 2 of 2 files", u)
	}
	mustRefuse552(t, c, "STOR c.bin")
	mustRefuse552(t, c, "APPE c.bin")
	c.Do(502, "SITE CHMOD 777 a.bin")
	c.Do(501, "SITE")
	if _, err := os.Stat(filepath.Join(ts.AliceDir(), "c.bin")); !os.IsNotExist(err) {
		t.Fatalf("refused upload left c.bin: %v", err)
	}
	data := ftptest.RandomData(t, 50)
	c.Stor("a.bin", data)
	ts.MustHaveFile(t, "a.bin", data)
	c.Do(250, "DELE b.bin")
	c.Stor("c.bin", data)
	mustUsage(t, c, "after delete and upload", 100, 2)
	c.Quit()
}

// TestQuotaUsageFollowsChanges: SITE QUOTA after DELE, RNTO over an
// existing file, RNTO of a directory, RMD, APPE and a resumed STOR, and
// the account's quota series on /metrics.
func TestQuotaUsageFollowsChanges(t *testing.T) {
	ts := startServer(t, withQuota(t, userName, 1<<20, 100))
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	mustUsage(t, c, "empty home", 0, 0)
	c.Stor("a.bin", ftptest.RandomData(t, 1000))
	c.Stor("b.bin", ftptest.RandomData(t, 3000))
	c.Do(257, "MKD d")
	c.Stor("d/c.bin", ftptest.RandomData(t, 500))
	mustUsage(t, c, "three uploads", 4500, 3)
	c.Do(350, "RNFR a.bin")
	c.Do(250, "RNTO b.bin") // b.bin's 3000 bytes are gone
	mustUsage(t, c, "rename over a file", 1500, 2)
	c.Do(350, "RNFR d")
	c.Do(250, "RNTO e")
	mustUsage(t, c, "rename of a directory", 1500, 2)
	c.Do(250, "DELE e/c.bin")
	c.Do(250, "RMD e")
	mustUsage(t, c, "delete and rmdir", 1000, 1)
	x := c.Open("APPE b.bin")
	if err := x.Send(ftptest.RandomData(t, 700)); err != nil {
		t.Fatal(err)
	}
	mustUsage(t, c, "append", 1700, 1)
	c.Do(350, "REST 1000")
	x = c.Open("STOR b.bin")
	if err := x.Send(ftptest.RandomData(t, 1200)); err != nil { // 700 over, 500 more
		t.Fatal(err)
	}
	mustUsage(t, c, "resumed upload", 2200, 1)
	if info, err := os.Stat(filepath.Join(ts.AliceDir(), "b.bin")); err != nil || info.Size() != 2200 {
		t.Fatalf("b.bin: %v, %v; want 2200 bytes", info, err)
	}
	for series, want := range map[string]float64{
		`ftpsd_quota_used_bytes{user="alice"}`:  2200,
		`ftpsd_quota_used_files{user="alice"}`:  1,
		`ftpsd_quota_limit_bytes{user="alice"}`: 1 << 20,
		`ftpsd_quota_limit_files{user="alice"}`: 100,
	} {
		if got := metricValue(t, ts, series); got != want {
			t.Errorf("%s: %v, want %v", series, got, want)
		}
	}
	c.Quit()
}

// TestQuotaParallelUploads: uploads of one home running at once reserve
// their bytes as they arrive: of eight uploads of 30 kB into a quota of
// 100 kB, three complete (each reaches the store in one write, see
// copybuf.go), the others get 552, and the home never holds more than the
// quota.
func TestQuotaParallelUploads(t *testing.T) {
	const limit, size, n = 100_000, 30_000, 8
	ts := startServer(t, withQuota(t, userName, limit, 0))
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			c.ProtP()
			x, err := c.Client.Open(fmt.Sprintf("STOR p%d.bin", i))
			if err != nil {
				codes[i] = -1 // refused before 150
				return
			}
			// Two halves, so that the uploads interleave.
			data := ftptest.RandomData(t, size)
			_, _ = x.Conn.Write(data[:size/2])
			_, _ = x.Conn.Write(data[size/2:])
			_ = x.Conn.Close()
			r, err := c.Client.Reply()
			if err == nil {
				codes[i] = r.Code
			}
			_ = c.Client.Quit()
		}()
	}
	wg.Wait()
	ok := 0
	for i, code := range codes {
		switch code {
		case 226:
			ok++
		case 552, -1:
		default:
			t.Errorf("upload %d: final reply %d, want 226 or 552", i, code)
		}
	}
	var total int64
	for _, name := range ftptest.DirNames(t, ts.AliceDir()) {
		info, err := os.Stat(filepath.Join(ts.AliceDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
	}
	if ok != limit/size || total != int64(ok*size) {
		t.Fatalf("%d uploads of %d bytes completed, %d bytes stored; quota %d", ok, size, total, limit)
	}
	ts.MustNoPartialUploads(t)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	mustUsage(t, c, "after parallel uploads", total, int64(ok))
}

// TestQuotaSharedHome: two accounts with one home share its usage, each
// with its own limit: bob (no quota) fills the home, alice (a quota) is
// then refused, and SITE QUOTA of either shows the same usage.
func TestQuotaSharedHome(t *testing.T) {
	const bobPass = "bob-secret"
	ts := startServer(t, func(cfg *config.Config) {
		cfg.Users = append(cfg.Users, config.User{Name: "bob", PasswordHash: ftptest.HashPassword(t, bobPass), Home: aliceHomeDir + "/"})
		withQuota(t, userName, 10_000, 0)(cfg)
	})
	alice := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	alice.ProtP()
	alice.Stor("a.bin", ftptest.RandomData(t, 4000))
	bob := ftptest.MustLogin(t, ts.Addr, "bob", bobPass)
	bob.ProtP()
	bob.Stor("b.bin", ftptest.RandomData(t, 7000)) // bob has no quota
	if u := mustQuota(t, bob); u.bytes != 11_000 || u.bytesLimit != -1 {
		t.Fatalf("bob's SITE QUOTA: %+v, want 11000 bytes of no limit", u)
	}
	mustUsage(t, alice, "alice after bob's upload", 11_000, 2)
	mustRefuse552(t, alice, "STOR c.bin")
	bob.Do(250, "DELE b.bin")
	alice.Stor("c.bin", ftptest.RandomData(t, 6000))
	mustUsage(t, alice, "alice after bob's delete", 10_000, 2)
	alice.Quit()
	bob.Quit()
}

// TestQuotaMemoryBackend: the same on backend "memory": an upload that
// crosses quota_bytes fails with 552 and stores nothing, one that fills
// it exactly is taken, then a new file is refused before 150. (The count
// of a memory home, partial uploads skipped, is TestCountTree's.)
func TestQuotaMemoryBackend(t *testing.T) {
	ts := startServer(t, func(cfg *config.Config) {
		cfg.Storage.Backend = config.BackendMemory
		withQuota(t, userName, 10_000, 2)(cfg)
	})
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	a := ftptest.RandomData(t, 4000)
	c.Stor("a.bin", a)
	if r := storCut(t, c, "b.bin", ftptest.RandomData(t, 8000)); r.Code != 552 {
		t.Fatalf("STOR crossing quota_bytes: final reply %v, want 552", r)
	}
	if r := c.Cmd("SIZE b.bin"); r.Code != 550 {
		t.Fatalf("SIZE b.bin after the refused upload: %v, want 550", r)
	}
	mustUsage(t, c, "after a refused upload", 4000, 1)
	c.Stor("b.bin", ftptest.RandomData(t, 6000))
	mustRefuse552(t, c, "STOR c.bin")
	c.Do(250, "DELE a.bin")
	mustUsage(t, c, "after DELE", 6000, 1)
	c.Quit()
}

// TestQuotaReload: a reload that gives an account a quota applies to its
// session already open, and one that raises it too; the usage counted
// before the reload is kept.
func TestQuotaReload(t *testing.T) {
	ts := startServer(t, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()
	c.Stor("a.bin", ftptest.RandomData(t, 500))
	c.Stor("b.bin", ftptest.RandomData(t, 500))
	if u := mustQuota(t, c); u != (quotaUsage{1000, -1, 2, -1}) {
		t.Fatalf("SITE QUOTA without a quota: %+v", u)
	}
	reload := func(files int64) {
		t.Helper()
		next := ts.Cfg
		next.Users = slices.Clone(ts.Cfg.Users)
		withQuota(t, userName, 0, files)(&next)
		if err := ts.Server.Reload(next); err != nil {
			t.Fatal(err)
		}
	}
	reload(2)
	mustRefuse552(t, c, "STOR c.bin")
	if u := mustQuota(t, c); u != (quotaUsage{1000, -1, 2, 2}) {
		t.Fatalf("SITE QUOTA after the reload: %+v, want 2 of 2 files", u)
	}
	reload(3)
	c.Stor("c.bin", ftptest.RandomData(t, 500))
	mustUsage(t, c, "after the second reload", 1500, 3)
	c.Quit()
}
