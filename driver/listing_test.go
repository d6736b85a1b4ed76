package driver_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/testenv"
)

// Listings are streamed: LIST, NLST, MLSD and STAT of a directory write
// each batch of entries before they read the next, within
// server.max_concurrent_listings and server.max_list_entries.

// listCommands are the listing commands and how to read a name from one
// line of each.
var listCommands = []struct {
	cmd  string
	name func(line string) string
}{
	{"LIST", lastField},
	{"NLST", path.Base},
	{"MLSD", func(line string) string { _, name, _ := strings.Cut(line, "; "); return name }},
	{"STAT", lastField},
}

func lastField(line string) string {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return ""
	}
	return fields[len(fields)-1]
}

// listNames runs cmd (LIST, NLST, MLSD or STAT) on dir and returns the
// names of its lines, and the final reply.
func listNames(t *testing.T, c *ftptest.MustClient, cmd, dir string) ([]string, ftptest.Reply) {
	t.Helper()
	i := slices.IndexFunc(listCommands, func(l struct {
		cmd  string
		name func(string) string
	}) bool {
		return l.cmd == cmd
	})
	var lines []string
	var r ftptest.Reply
	if cmd == "STAT" {
		r = c.Cmd("STAT %s", dir)
		lines = strings.Split(r.Msg, "\n")
		lines = lines[1:] // "STAT dir"; the last line is the end of the reply
		lines = slices.DeleteFunc(lines, func(l string) bool {
			return !strings.HasPrefix(l, " ") || strings.Contains(l, "server.max_list_entries")
		})
	} else {
		x := c.Open(cmd + " " + dir)
		data, err := io.ReadAll(x.Conn)
		if err != nil {
			t.Fatalf("%s %s: read data: %v", cmd, dir, err)
		}
		if r, err = x.Finish(); err != nil {
			t.Fatalf("%s %s: %v", cmd, dir, err)
		}
		lines = strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
		if len(data) == 0 {
			lines = nil
		}
	}
	names := make([]string, len(lines))
	for j, l := range lines {
		names[j] = listCommands[i].name(strings.TrimSpace(l))
	}
	return names, r
}

// wantNames fails unless got holds each of want exactly once and nothing
// else.
func wantNames(t *testing.T, what string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, n := range got {
		count[n]++
	}
	for _, n := range want {
		if count[n] != 1 {
			t.Errorf("%s: %q listed %d times, want once", what, n, count[n])
		}
		delete(count, n)
	}
	for n, k := range count {
		t.Errorf("%s: %q listed %d times, want never", what, n, k)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d", what, len(got), len(want))
	}
}

// wantListing fails unless cmd (LIST, NLST, MLSD or STAT) of dir succeeds
// and names each of want exactly once and nothing else.
func wantListing(t *testing.T, c *ftptest.MustClient, cmd, dir string, want []string) {
	t.Helper()
	names, r := listNames(t, c, cmd, dir)
	if r.Code != 226 && r.Code != 212 {
		t.Errorf("%s %s: %v", cmd, dir, r)
	}
	wantNames(t, cmd+" "+dir, names, want)
}

// entryNames returns the names makeEntries gives n entries.
func entryNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("entry-%d", i)
	}
	return names
}

// TestE2EListingsComplete: a directory of 1,000 files, more than a batch
// of a listing, with partial uploads among them: LIST, NLST, MLSD and STAT
// each name every file exactly once and no partial upload.
func TestE2EListingsComplete(t *testing.T) {
	const n = 1000
	ts := startServer(t, nil)
	makeEntries(t, ts.AliceDir(), "big", n)
	for _, hidden := range []string{".ftpsd-upload-abcdefgh", ".ftpsd-upload-12345678"} {
		ftptest.WriteFile(t, filepath.Join(ts.AliceDir(), "big"), hidden, []byte("partial"))
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, l := range listCommands {
		wantListing(t, c, l.cmd, "big", entryNames(n))
	}
	c.Quit()
}

// TestE2EMaxListEntries: a listing stops after server.max_list_entries
// entries and ends with an error reply naming the key (LIST, NLST, MLSD:
// 550 after the 150 and the entries; STAT: a last line before its end);
// a directory at the cap is listed whole, partial uploads not counted.
func TestE2EMaxListEntries(t *testing.T) {
	const limit = 300 // more than a batch
	ts := startServer(t, func(cfg *config.Config) { cfg.Server.MaxListEntries = limit })
	makeEntries(t, ts.AliceDir(), "at", limit)
	ftptest.WriteFile(t, filepath.Join(ts.AliceDir(), "at"), ".ftpsd-upload-abcdefgh", nil)
	makeEntries(t, ts.AliceDir(), "over", limit+1)
	makeEntries(t, ts.AliceDir(), "far", 3*limit)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, l := range listCommands {
		wantListing(t, c, l.cmd, "at", entryNames(limit))
		for _, dir := range []string{"over", "far"} {
			names, r := listNames(t, c, l.cmd, dir)
			if len(names) != limit || len(slices.Compact(slices.Sorted(slices.Values(names)))) != limit {
				t.Errorf("%s %s over a cap of %d: %d lines (%d distinct), want %d", l.cmd, dir, limit, len(names), len(slices.Compact(slices.Sorted(slices.Values(names)))), limit)
			}
			wantCode := 550
			if l.cmd == "STAT" {
				wantCode = 212
			}
			if r.Code != wantCode || !strings.Contains(r.Msg, "server.max_list_entries") {
				t.Errorf("%s %s over the cap: %v, want %d naming server.max_list_entries", l.cmd, dir, r, wantCode)
			}
		}
	}
	if got := ts.Logs.FilterMessage("listing stopped at server.max_list_entries").Len(); got != 2*len(listCommands) {
		t.Errorf("%d log lines for listings stopped at the cap, want %d", got, 2*len(listCommands))
	}
	c.Quit()
}

// holdListing logs in a session that sends LIST dir (3 entries) and holds
// its listing's place while the lib waits for the data connection; release
// connects it, reads the listing and quits.
func holdListing(t *testing.T, ts *testServer) (release func()) {
	t.Helper()
	holder := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	addr := holder.EPSV()
	holder.Send("LIST dir")
	time.Sleep(200 * time.Millisecond)
	return func() {
		t.Helper()
		data := holder.DialData(addr)
		holder.Expect(150, "LIST dir once its data connection came")
		x, err := holder.Attach(data, "LIST")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := x.Receive(); err != nil || strings.Count(string(got), "\n") != 3 {
			t.Fatalf("the listing that held the place: %q %v", got, err)
		}
		holder.Quit()
	}
}

// TestE2EMaxConcurrentListings: with server.max_concurrent_listings = 1,
// a listing waiting for its data connection holds the place: every
// listing command of another session is answered 450 before any 150, and
// gets its listing once the place is free.
func TestE2EMaxConcurrentListings(t *testing.T) {
	ts := startServer(t, func(cfg *config.Config) { cfg.Server.MaxConcurrentListings = 1 })
	makeEntries(t, ts.AliceDir(), "dir", 3)
	release := holdListing(t, ts)

	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, l := range listCommands {
		var data net.Conn
		if l.cmd != "STAT" {
			data = c.DialData(c.EPSV())
		}
		r := c.Cmd("%s dir", l.cmd)
		if data != nil {
			_ = data.Close()
		}
		if r.Code == 150 {
			t.Errorf("%s beyond the cap was answered 150", l.cmd)
			r = c.Reply()
		}
		if r.Code != 450 || !strings.Contains(r.Msg, "server.max_concurrent_listings") {
			t.Errorf("%s beyond server.max_concurrent_listings: %v, want 450 naming the key", l.cmd, r)
		}
	}
	release()
	for _, l := range listCommands {
		wantListing(t, c, l.cmd, "dir", entryNames(3))
	}
	c.Quit()
}

// TestE2EListingsShareOfAnAddress: one client address may hold half of
// server.max_concurrent_listings: with 2 places and one held from
// 127.0.0.1, another listing from 127.0.0.1 gets 450 while one from
// another address is served.
func TestE2EListingsShareOfAnAddress(t *testing.T) {
	ts := startServer(t, func(cfg *config.Config) { cfg.Server.MaxConcurrentListings = 2 })
	makeEntries(t, ts.AliceDir(), "dir", 3)
	release := holdListing(t, ts)

	same := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if r := same.Cmd("STAT dir"); r.Code != 450 || !strings.Contains(r.Msg, "your address") {
		t.Errorf("a second listing from the holder's address: %v, want 450 (its share is full)", r)
	}
	same.Quit()
	other := ftptest.Dialer{Local: ftptest.ClientAddr}.MustLogin(t, ts.Addr, userName, userPass)
	wantListing(t, other, "LIST", "dir", entryNames(3)) // another address: served
	other.Quit()

	release()
}

// TestE2EStatUnreadEndsSession: a client that sends STAT of a large
// directory and reads nothing has its session ended at server.idle_timeout
// (the deadline of the control connection's writes), which frees its
// listing's place. (The lib alone failed every remaining line, then waited
// for a command for another idle_timeout.)
func TestE2EStatUnreadEndsSession(t *testing.T) {
	testenv.FullTier(t, "a listing that outgrows the sockets' buffers")
	const idle = 3 * time.Second
	ts := startServer(t, func(cfg *config.Config) {
		cfg.Storage.Root = ftptest.MemoryDir(t)
		cfg.Server.IdleTimeout = config.Duration(idle)
		cfg.Server.MaxConcurrentListings = 1
	})
	makeLongEntries(t, filepath.Join(ts.AliceDir(), "big"), 100_000)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	defer c.Close()
	smallReadBuffer(c.Raw())
	c.Send("STAT big")
	start := time.Now()
	other := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if r := other.Cmd("STAT big"); r.Code != 450 {
		t.Fatalf("STAT while the unread STAT holds the only place: %v, want 450", r)
	}
	other.Quit()
	remote := zap.String("remote", c.Raw().LocalAddr().String())
	ftptest.MustEventually(t, 2*idle+5*time.Second, "the unread STAT's session closed", func() bool {
		return ts.Logs.FilterMessage("session closed").FilterField(remote).Len() > 0
	})
	ended := time.Since(start)
	t.Logf("unread STAT: session ended after %s (idle_timeout %s)", ended.Round(time.Millisecond), idle)
	if ended > idle+2*time.Second {
		t.Errorf("the unread STAT's session ended after %s, want about server.idle_timeout (%s)", ended, idle)
	}
	if n := ts.Logs.FilterMessage("closing control connection: the client read no reply before the deadline").Len(); n != 1 {
		t.Errorf("%d log lines for the unread STAT's session, want 1", n)
	}
	// One event, one line: the lib's own warnings about the replies it
	// could no longer send, and about closing a closed socket, are not
	// written.
	var lines []string
	for _, e := range ts.Logs.All() {
		if e.Level >= zap.WarnLevel && e.Message != "listing refused: too many listings in progress" {
			lines = append(lines, e.Message)
		}
	}
	if len(lines) != 1 {
		t.Errorf("warnings and errors logged for the unread STAT: %q, want the one closing line", lines)
	}
	other = ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if r := other.Cmd("STAT /"); r.Code != 212 {
		t.Errorf("STAT once the unread one ended: %v, want 212 (its place released)", r)
	}
	other.Quit()
}

// makeLongEntries creates dir holding n empty files with names of 60
// characters, so that a listing of it outgrows the sockets' buffers.
func makeLongEntries(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 48)
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("e%06d-%s", i, pad)))
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
}

// TestE2EListingsMemoryBounded: 10 sessions send STAT of a directory of
// 50,000 entries, then 10 LIST it over a data connection, and none reads:
// each STAT in progress must hold at most 192 KiB of the server's heap,
// each LIST at most 512 KiB (its data connection's TLS and record buffers
// included, which any stalled transfer holds). When every listing was
// built whole before its first line, each held 3.0 MiB (STAT) and
// 3.8 MiB (LIST).
func TestE2EListingsMemoryBounded(t *testing.T) {
	testenv.FullTier(t, "40 stalled listings")
	const entries, perKind = 50_000, 10
	ts := startQuietServer(t, func(cfg *config.Config) {
		cfg.Storage.Root = ftptest.MemoryDir(t)
		cfg.Server.MaxConcurrentListings = 4 * perKind // all 20 from one address
	})
	makeEntries(t, filepath.Join(ts.Root, aliceHomeDir), "big", entries)
	clients := make([]*ftptest.MustClient, 2*perKind)
	for i := range clients {
		clients[i] = ftptest.MustLogin(t, ts.Addr, userName, userPass)
		smallReadBuffer(clients[i].Raw())
	}
	var conns []net.Conn // closed at the end, so that the sessions end
	for _, c := range clients {
		conns = append(conns, c.Raw())
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i, kind := range []struct {
		cmd  string
		most uint64
	}{{"STAT", 192 << 10}, {"LIST", 512 << 10}} {
		stop := heapPeak(t)
		for _, c := range clients[i*perKind : (i+1)*perKind] {
			if kind.cmd == "STAT" {
				c.Send("STAT big")
				continue
			}
			x := c.Open("LIST big")
			smallReadBuffer(x.Raw)
			conns = append(conns, x.Raw)
		}
		time.Sleep(2 * time.Second) // the listings run until the sockets are full
		per := stop() / perKind
		t.Logf("%d stalled %s of %d entries: %.0f KiB of heap per listing", perKind, kind.cmd, entries, float64(per)/(1<<10))
		if per > kind.most {
			t.Errorf("each stalled %s holds %d KiB of heap, want at most %d KiB", kind.cmd, per>>10, kind.most>>10)
		}
	}
}

// smallReadBuffer shrinks the receive buffer of a client's socket, so that
// the kernel holds little of what the server sends.
func smallReadBuffer(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
}

// TestS3ListingsComplete: on backend "s3", a directory of 1,200 objects
// and 3 subdirectories (two pages of the store's listing, several batches
// of a listing) with a partial-upload name among them: LIST, NLST, MLSD and
// STAT each name every entry exactly once and not the partial upload.
func TestS3ListingsComplete(t *testing.T) {
	const n = 1200
	m := miniotest.New(t)
	createObjects(t, m, aliceKey("big/"), n)
	want := make([]string, 0, n+3)
	for i := range n {
		want = append(want, fmt.Sprintf("name-%05d", i))
	}
	for i := range 3 {
		putObject(t, m, aliceKey(fmt.Sprintf("big/sub-%d/inner", i)), []byte("x"))
		want = append(want, fmt.Sprintf("sub-%d", i))
	}
	putObject(t, m, aliceKey("big/.ftpsd-upload-abcdefgh"), []byte("partial"))
	ts := startS3Server(t, m, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, l := range listCommands {
		wantListing(t, c, l.cmd, "big", want)
	}
	c.Quit()
}
