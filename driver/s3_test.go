package driver_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"go.uber.org/zap/zaptest"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
)

// The tests of backend "s3" run against a real MinIO server
// (internal/miniotest): transfers with checksums, REST, the file commands,
// a large listing, broken uploads, confinement and a store that goes down.

// s3Prefix is the storage.prefix of the test servers.
const s3Prefix = "ftp"

// s3Storage returns the [storage] of backend "s3" in m's bucket.
func s3Storage(t testing.TB, m *miniotest.Server, endpoint string) config.Storage {
	t.Helper()
	st := config.Default().Storage
	ep, err := config.ParseEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	st.Backend, st.Root, st.Endpoint = config.BackendS3, "", ep
	st.Bucket, st.Prefix, st.PathStyle = miniotest.Bucket, s3Prefix, true
	st.CredentialsFile = m.CredentialsFile()
	st.PartSize = config.BytesOf(5 << 20)
	st.Timeout = config.Duration(5 * time.Second)
	return st
}

// startS3Server is startServer on backend "s3" in m, with edit (may be nil)
// applied after, and the options opts.
func startS3Server(t *testing.T, m *miniotest.Server, edit func(*config.Config), opts ...driver.Option) *testServer {
	t.Helper()
	return startServerWith(t, func(cfg *config.Config) {
		cfg.Storage = s3Storage(t, m, m.Endpoint)
		if edit != nil {
			edit(cfg)
		}
	}, opts)
}

// aliceKey is the object key of alice's file name.
func aliceKey(name string) string { return s3Prefix + "/" + aliceHomeDir + "/" + name }

// putObject stores data at key directly.
func putObject(t testing.TB, m *miniotest.Server, key string, data []byte) {
	t.Helper()
	_, err := m.Client().PutObject(context.Background(), miniotest.Bucket, key, strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// objectSHA returns the SHA-256 of the object at key, or "" when there is
// none.
func objectSHA(t testing.TB, m *miniotest.Server, key string) string {
	t.Helper()
	obj, err := m.Client().GetObject(context.Background(), miniotest.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return ""
		}
		t.Fatalf("get %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// incompleteUploads counts the multipart uploads of key that were neither
// completed nor aborted (MinIO lists them by exact key).
func incompleteUploads(t testing.TB, m *miniotest.Server, key string) int {
	t.Helper()
	core := minio.Core{Client: m.Client()}
	res, err := core.ListMultipartUploads(context.Background(), miniotest.Bucket, key, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Uploads)
}

// TestS3Transfers sends files of 0 and 1 byte, 5 MiB (one part) and 100 MiB
// (many parts) through the server and back, and checks them by SHA-256
// both as downloaded and as stored in the bucket.
func TestS3Transfers(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, size := range []int{0, 1, 5 << 20, 100 << 20} {
		name := fmt.Sprintf("f%d.bin", size)
		data := ftptest.RandomData(t, size)
		c.Stor(name, data)
		if got, want := objectSHA(t, m, aliceKey(name)), ftptest.SHA256Hex(data); got != want {
			t.Fatalf("%s in the bucket: sha256 %s, want %s", name, got, want)
		}
		ftptest.MustSameData(t, "RETR "+name, c.Retr(name), data)
		if r := c.Cmd("SIZE %s", name); r.Code != 213 || r.Msg != fmt.Sprint(size) {
			t.Fatalf("SIZE %s: %v, want 213 %d", name, r, size)
		}
		if n := incompleteUploads(t, m, aliceKey(name)); n != 0 {
			t.Fatalf("%s: %d multipart uploads left incomplete", name, n)
		}
	}
	c.Quit()
}

// TestS3RestDownload resumes a download (REST) in the middle of an object:
// a ranged GET.
func TestS3RestDownload(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	data := ftptest.RandomData(t, 3<<20+17)
	putObject(t, m, aliceKey("r.bin"), data)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	const off = 1<<20 + 5
	c.Do(350, "REST %d", off)
	ftptest.MustSameData(t, "RETR after REST", c.Retr("r.bin"), data[off:])
	c.Quit()
}

// TestS3FileCommands: MKD, CWD, RNFR/RNTO, DELE, RMD, MDTM and the refusals
// of what objects cannot do (APPE, REST+STOR, renaming a directory).
func TestS3FileCommands(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	data := ftptest.RandomData(t, 1000)

	c.Do(257, "MKD d")
	if got := objectSHA(t, m, aliceKey("d/")); got != ftptest.SHA256Hex(nil) {
		t.Fatalf("MKD d: no empty marker object d/ (sha %q)", got)
	}
	c.Do(550, "MKD d") // exists
	c.Do(550, "MKD missing/sub")
	c.Stor("d/a.bin", data)
	if r := c.Cmd("RMD d"); r.Code != 550 || !strings.Contains(r.Msg, "Directory not empty") {
		t.Fatalf("RMD of a directory with a file: %v, want 550 Directory not empty", r)
	}
	c.Do(250, "CWD d")
	c.Do(250, "CWD /")
	c.Do(350, "RNFR d/a.bin")
	c.Do(250, "RNTO b.bin")
	if objectSHA(t, m, aliceKey("d/a.bin")) != "" || objectSHA(t, m, aliceKey("b.bin")) != ftptest.SHA256Hex(data) {
		t.Fatal("RNFR d/a.bin, RNTO b.bin: the object did not move")
	}
	if r := c.Cmd("MDTM b.bin"); r.Code != 213 || !strings.HasPrefix(r.Msg, time.Now().UTC().Format("2006")) {
		t.Fatalf("MDTM b.bin: %v", r)
	}
	c.Do(350, "RNFR d")
	if r := c.Cmd("RNTO e"); r.Code != 550 || !strings.Contains(r.Msg, "Directories cannot be renamed") {
		t.Fatalf("RNTO of a directory: %v, want 550 saying directories cannot be renamed", r)
	}
	for _, cmd := range []string{"APPE b.bin", "REST 10"} {
		if cmd == "REST 10" {
			c.Do(350, "REST 10")
			cmd = "STOR b.bin"
		}
		x, err := c.Client.Open(cmd)
		if err == nil {
			x.Conn.Close()
			t.Fatalf("%s opened a transfer, want a refusal", cmd)
		}
		if !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "Objects cannot be appended to") {
			t.Fatalf("%s: %v, want 550 ... Objects cannot be appended to", cmd, err)
		}
	}
	c.Do(550, "RMD b.bin")
	c.Do(550, "DELE d")
	c.Do(250, "RMD d")
	c.Do(250, "DELE b.bin")
	c.Do(550, "DELE b.bin")
	if got := nlst(t, c, ""); len(got) != 0 {
		t.Fatalf("NLST of the emptied home: %q", got)
	}
	c.Quit()
}

// TestS3RenameChecksTheTargetsParent: RNTO into a directory that does not
// exist, or under a file, is refused with 550 as STOR and MKD are, and
// the source object stays where it was (it used to be copied to a key no
// listing shows, then deleted).
func TestS3RenameChecksTheTargetsParent(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	data := ftptest.RandomData(t, 1000)
	c.Stor("a.txt", data)
	c.Stor("f", []byte("a file"))
	for _, target := range []string{"nodir/deeper/a.txt", "nodir/a.txt", "f/sub", "f/sub/a.txt", "a.txt/x"} {
		c.Do(350, "RNFR a.txt")
		if r := c.Cmd("RNTO %s", target); r.Code != 550 {
			t.Errorf("RNTO %s: %v, want 550", target, r)
		}
		if got := objectSHA(t, m, aliceKey("a.txt")); got != ftptest.SHA256Hex(data) {
			t.Fatalf("after RNTO %s: a.txt is gone or changed (sha256 %q)", target, got)
		}
		if got := objectSHA(t, m, aliceKey(target)); got != "" {
			t.Fatalf("RNTO %s made the object %s", target, aliceKey(target))
		}
	}
	if got := nlst(t, c, ""); !slices.Equal(got, []string{"a.txt", "f"}) {
		t.Fatalf("NLST after the refused renames: %q, want a.txt and f", got)
	}
	c.Do(257, "MKD d")
	c.Do(350, "RNFR a.txt")
	c.Do(250, "RNTO d/a.txt")
	ftptest.MustSameData(t, "RETR d/a.txt", c.Retr("d/a.txt"), data)
	c.Quit()
}

// uploadMemoryRefused is the log line of a STOR refused for
// storage.max_upload_memory.
const uploadMemoryRefused = "upload refused: the uploads in flight hold storage.max_upload_memory"

// mustRefuseUpload fails unless STOR name gets 450 naming
// storage.max_upload_memory before any 150, and the session goes on.
func mustRefuseUpload(t *testing.T, c *ftptest.MustClient, name string) {
	t.Helper()
	x, err := c.Client.Open("STOR " + name)
	if err == nil {
		_ = x.Raw.Close()
		t.Fatalf("STOR %s beyond storage.max_upload_memory got 150, want 450", name)
	}
	if !strings.Contains(err.Error(), "got 450") || !strings.Contains(err.Error(), "storage.max_upload_memory") {
		t.Fatalf("STOR %s beyond storage.max_upload_memory: %v, want 450 naming the key", name, err)
	}
	c.Do(200, "NOOP")
}

// TestS3UploadMemoryCap: storage.max_upload_memory of two parts lets two
// uploads that stalled after their first MiB (each holding its part
// buffer) go on, and answers a third STOR 450 before its 150, with one log
// line. The memory comes back when an upload ends, by completing or by a
// reset: the next STOR is taken, the stalled ones complete intact, and
// ftpsd_upload_memory_bytes shows the reservations, 0 at the end.
func TestS3UploadMemoryCap(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, func(cfg *config.Config) {
		cfg.Storage.MaxUploadMemory = config.BytesOf(2 * cfg.Storage.PartSize.Bytes())
	})
	content := map[string][]byte{}
	for _, name := range []string{"a.bin", "b.bin", "c.bin", "d.bin"} {
		content[name] = ftptest.RandomData(t, 6<<20) // more than one part of 5 MiB
	}
	a := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	b := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	xa := startStor(t, a, "a.bin", content["a.bin"][:1<<20])
	xb := startStor(t, b, "b.bin", content["b.bin"][:1<<20])
	part := float64(ts.Cfg.Storage.PartSize.Bytes())
	if got := metricValue(t, ts, "ftpsd_upload_memory_bytes"); got != 2*part {
		t.Fatalf("ftpsd_upload_memory_bytes with two uploads in flight: %v, want %v", got, 2*part)
	}

	mustRefuseUpload(t, c, "c.bin")
	waitLogs(t, ts, uploadMemoryRefused, nil, 1)
	if got := objectSHA(t, m, aliceKey("c.bin")); got != "" {
		t.Fatal("the refused STOR stored c.bin")
	}

	// a completes: its part comes back, and c's upload is taken while b
	// still holds the other part.
	if err := xa.Send(content["a.bin"][1<<20:]); err != nil {
		t.Fatal(err)
	}
	xc := startStor(t, c, "c.bin", content["c.bin"][:1<<20])
	mustRefuseUpload(t, a, "d.bin")
	waitLogs(t, ts, uploadMemoryRefused, nil, 2)

	// b is reset: its part comes back too.
	_ = ftptest.Reset(xb.Raw)
	if r := b.Reply(); r.Code/100 != 4 {
		t.Fatalf("reply to the reset upload: %v, want 4xx", r)
	}
	xd := startStor(t, a, "d.bin", content["d.bin"][:1<<20])
	for name, x := range map[string]*ftptest.Transfer{"c.bin": xc, "d.bin": xd} {
		if err := x.Send(content[name][1<<20:]); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a.bin", "c.bin", "d.bin"} {
		if got, want := objectSHA(t, m, aliceKey(name)), ftptest.SHA256Hex(content[name]); got != want {
			t.Fatalf("%s in the bucket: sha256 %s, want %s", name, got, want)
		}
	}
	// Nothing is held once every upload ended: both parts are free.
	xb2 := startStor(t, b, "b.bin", content["b.bin"][:1<<20])
	c.Stor("e.bin", content["a.bin"])
	if err := xb2.Send(content["b.bin"][1<<20:]); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, ts, uploadMemoryRefused, nil, 2)
	if got := metricValue(t, ts, "ftpsd_upload_memory_bytes"); got != 0 {
		t.Fatalf("ftpsd_upload_memory_bytes once every upload ended: %v, want 0", got)
	}
	for _, x := range []*ftptest.MustClient{a, b, c} {
		x.Quit()
	}
}

// nlst returns the names NLST lists in dir.
func nlst(t *testing.T, c *ftptest.MustClient, dir string) []string {
	t.Helper()
	got, err := c.Open(strings.TrimSpace("NLST " + dir)).Receive()
	if err != nil {
		t.Fatalf("NLST %s: %v", dir, err)
	}
	return strings.Fields(string(got))
}

// requestCounter is a reverse proxy in front of MinIO that counts the
// requests it passes on, by kind.
type requestCounter struct {
	URL   string
	lists atomic.Int64 // ListObjectsV2
	heads atomic.Int64 // HEAD (StatObject)
	all   atomic.Int64
}

func countRequests(t *testing.T, m *miniotest.Server) *requestCounter {
	t.Helper()
	target, err := url.Parse(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rc := &requestCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.all.Add(1)
		switch {
		case r.Method == http.MethodHead:
			rc.heads.Add(1)
		case r.URL.Query().Get("list-type") == "2":
			rc.lists.Add(1)
		}
		proxy.ServeHTTP(w, r) // the Host header stays the proxy's, which the client signed
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// createObjects stores n small objects name-%05d (of 1 to 3 bytes) under
// prefix, in parallel.
func createObjects(t *testing.T, m *miniotest.Server, prefix string, n int) {
	t.Helper()
	client := m.Client()
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				body := strings.Repeat("x", i%3+1)
				key := fmt.Sprintf("%sname-%05d", prefix, i)
				if _, err := client.PutObject(context.Background(), miniotest.Bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("create objects: %v", err)
	}
}

// TestS3ListLargeDirectory lists a directory of 10,000 objects: the
// details come from the listing's pages (10 ListObjectsV2 requests), not
// from one HEAD request per entry.
func TestS3ListLargeDirectory(t *testing.T) {
	const n = 10_000
	m := miniotest.New(t)
	createObjects(t, m, aliceKey("big/"), n)
	rc := countRequests(t, m)
	ts := startServer(t, func(cfg *config.Config) { cfg.Storage = s3Storage(t, m, rc.URL) })
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	before, heads, lists := rc.all.Load(), rc.heads.Load(), rc.lists.Load()
	got, err := c.Open("LIST big").Receive()
	if err != nil {
		t.Fatalf("LIST big: %v", err)
	}
	requests := rc.all.Load() - before
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	t.Logf("LIST of %d objects: %d requests to the store (%d ListObjectsV2, %d HEAD)",
		len(lines), requests, rc.lists.Load()-lists, rc.heads.Load()-heads)
	if len(lines) != n {
		t.Fatalf("LIST big: %d lines, want %d", len(lines), n)
	}
	for _, i := range []int{0, 1, 2, 4711, n - 1} {
		fields := strings.Fields(lines[i])
		if want := fmt.Sprintf("name-%05d", i); fields[len(fields)-1] != want || fields[4] != fmt.Sprint(i%3+1) {
			t.Fatalf("LIST line %d: %q, want %s of %d bytes", i, lines[i], want, i%3+1)
		}
	}
	if requests > n/1000+5 {
		t.Fatalf("LIST of %d objects took %d requests to the store, want at most %d (one per page of 1000)", n, requests, n/1000+5)
	}
	c.Quit()
}

// TestS3BrokenUploadKeepsObject breaks a STOR over an existing object
// after its first part reached the store: by a reset data connection, by
// a bare TCP FIN (tls.strict_upload_eof) and by a FIN inside a TLS record. The object must stay as it
// was, the multipart upload must be aborted, and a complete STOR must then
// replace the object.
func TestS3BrokenUploadKeepsObject(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	old := ftptest.RandomData(t, 300_000)
	newContent := ftptest.RandomData(t, 12<<20) // three parts of 5 MiB
	for i, how := range []string{"reset data", "bare FIN", "cut inside a record"} {
		t.Run(how, func(t *testing.T) {
			putObject(t, m, aliceKey("keep.bin"), old)
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			x := startStor(t, c, "keep.bin", newContent[:6<<20])
			ftptest.MustEventually(t, 20*time.Second, "a multipart upload under way",
				func() bool { return incompleteUploads(t, m, aliceKey("keep.bin")) == 1 })
			switch how {
			case "reset data":
				_ = ftptest.Reset(x.Raw)
			case "bare FIN":
				if err := x.EndBare(); err != nil {
					t.Fatal(err)
				}
				defer x.Raw.Close()
			case "cut inside a record":
				// The header of a 16 KiB application-data record, 3 bytes
				// of it, then FIN: crypto/tls reads io.ErrUnexpectedEOF.
				if _, err := x.Raw.Write([]byte{23, 3, 3, 0x40, 0x00, 1, 2, 3}); err != nil {
					t.Fatal(err)
				}
				if err := x.EndBare(); err != nil {
					t.Fatal(err)
				}
				defer x.Raw.Close()
			}
			if r := c.Reply(); r.Code/100 != 4 && r.Code/100 != 5 {
				t.Fatalf("reply to the broken upload: %v, want 4xx/5xx", r)
			}
			waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), i+1)
			if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(old) {
				t.Fatalf("keep.bin after the broken upload: sha256 %s, want the old %s", got, ftptest.SHA256Hex(old))
			}
			ftptest.MustEventually(t, 10*time.Second, "the multipart upload aborted",
				func() bool { return incompleteUploads(t, m, aliceKey("keep.bin")) == 0 })
			c.Stor("keep.bin", newContent)
			if got := objectSHA(t, m, aliceKey("keep.bin")); got != ftptest.SHA256Hex(newContent) {
				t.Fatalf("keep.bin after a complete STOR: sha256 %s, want the new content's", got)
			}
			c.Quit()
		})
	}
}

// TestS3Confinement: a user reaches no key outside their home, whatever
// the path: "..", absolute paths, encoded dots, the prefix spelt out.
func TestS3Confinement(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, func(cfg *config.Config) {
		cfg.Users = append(cfg.Users, config.User{Name: "bob", PasswordHash: ftptest.HashPassword(t, "bob-secret"), Home: "bob"})
	})
	secret := []byte("bob's secret")
	bobKey, outsideKey := s3Prefix+"/bob/secret.txt", "outside.txt"
	putObject(t, m, bobKey, secret)
	putObject(t, m, outsideKey, secret)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	names := []string{
		"../bob/secret.txt", "/../bob/secret.txt", "../../outside.txt", "/../../outside.txt",
		"..%2fbob%2fsecret.txt", "%2e%2e/bob/secret.txt", "../../" + bobKey, "....//bob/secret.txt",
		`..\bob\secret.txt`, "./../bob/./secret.txt",
	}
	for _, name := range names {
		if x, err := c.Client.Open("RETR " + name); err == nil {
			got, _ := x.Receive()
			t.Fatalf("RETR %s gave %q, want a refusal", name, got)
		} else if !strings.Contains(err.Error(), "550") && !strings.Contains(err.Error(), "451") {
			t.Fatalf("RETR %s: %v, want 550", name, err)
		}
		for _, cmd := range []string{"DELE", "RNFR", "SIZE", "MDTM"} {
			if r := c.Cmd("%s %s", cmd, name); r.Code/100 != 5 {
				t.Fatalf("%s %s: %v, want 5xx", cmd, name, r)
			}
		}
	}
	for _, name := range names {
		if x, err := c.Client.Open("STOR " + name); err == nil {
			_ = x.Send([]byte("overwritten"))
		}
	}
	c.Do(250, "CWD ..")
	if r := c.Cmd("PWD"); !strings.Contains(r.Msg, `"/"`) {
		t.Fatalf("PWD after CWD ..: %v, want /", r)
	}
	for _, key := range []string{bobKey, outsideKey} {
		if got := objectSHA(t, m, key); got != ftptest.SHA256Hex(secret) {
			t.Fatalf("%s changed (sha256 %s) by alice's attempts", key, got)
		}
	}
	// What alice stored under those names stayed in her home.
	objs := m.Client().ListObjects(context.Background(), miniotest.Bucket, minio.ListObjectsOptions{Recursive: true})
	for oi := range objs {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		homeMarker := strings.HasPrefix(oi.Key, s3Prefix+"/") && strings.Count(oi.Key, "/") == 2 && strings.HasSuffix(oi.Key, "/")
		if oi.Key != bobKey && oi.Key != outsideKey && !strings.HasPrefix(oi.Key, aliceKey("")) && !homeMarker {
			t.Fatalf("alice's attempts made the key %q outside her home %s", oi.Key, aliceKey(""))
		}
	}
	c.Quit()
}

// TestS3StoreDown stops MinIO in the middle of a session, then in the
// middle of an upload: every command gets a clear reply ("storage
// unavailable") within the timeout, never a hang, the server logs it, and
// the session works again once MinIO is back.
func TestS3StoreDown(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	data := ftptest.RandomData(t, 100_000)
	putObject(t, m, aliceKey("a.bin"), data)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	ftptest.MustSameData(t, "RETR a.bin", c.Retr("a.bin"), data)

	m.Stop()
	for _, cmd := range []string{"RETR a.bin", "STOR b.bin", "LIST", "NLST"} {
		start := time.Now()
		_, err := c.Client.Open(cmd)
		if err == nil || !strings.Contains(err.Error(), "got 451") || !strings.Contains(err.Error(), "storage unavailable") {
			t.Fatalf("%s with the store down: %v, want 451 storage unavailable", cmd, err)
		}
		t.Logf("%s with the store down, after %s: %v", cmd, time.Since(start).Round(time.Millisecond), err)
	}
	for _, cmd := range []string{"SIZE a.bin", "MDTM a.bin", "DELE a.bin", "MKD d", "RNFR a.bin"} {
		if r := c.Cmd("%s", cmd); r.Code != 451 || !strings.Contains(r.Msg, "storage unavailable") {
			t.Fatalf("%s with the store down: %v, want 451 storage unavailable", cmd, r)
		}
	}
	if ts.countLogs("storage unavailable", nil) == 0 {
		t.Fatal("no \"storage unavailable\" log line")
	}

	m.Start()
	ftptest.MustSameData(t, "RETR a.bin once the store is back", c.Retr("a.bin"), data)

	// Down in the middle of an upload: the upload fails with 451 and the
	// object it would have replaced stays.
	x := startStor(t, c, "a.bin", ftptest.RandomData(t, 6<<20))
	m.Stop()
	go func() { _, _ = x.Conn.Write(ftptest.RandomData(t, 8<<20)); _ = x.Conn.Close() }()
	if r := c.Reply(); r.Code != 451 || !strings.Contains(r.Msg, "storage unavailable") {
		t.Fatalf("reply to an upload cut by the store: %v, want 451 storage unavailable", r)
	}
	m.Start()
	ftptest.MustSameData(t, "a.bin after the cut upload", c.Retr("a.bin"), data)
	c.Stor("b.bin", data)
	c.Quit()
}

// TestS3StartupChecksTheBucket: the server does not start on a store it
// cannot use, and says which key to fix; on one it can use, it creates
// the homes' markers.
func TestS3StartupChecksTheBucket(t *testing.T) {
	m := miniotest.New(t)
	down := fmt.Sprintf("http://127.0.0.1:%d", ftptest.FreePort(t))
	cases := []struct {
		name string
		edit func(*config.Storage)
		want []string
	}{
		{"store down", func(s *config.Storage) { s.Endpoint, _ = config.ParseEndpoint(down) },
			[]string{"storage.endpoint " + down, "storage.bucket " + miniotest.Bucket, "storage unavailable"}},
		{"no such bucket", func(s *config.Storage) { s.Bucket = "nosuchbucket" },
			[]string{"storage.bucket nosuchbucket", "bucket nosuchbucket does not exist"}},
		{"wrong secret", func(s *config.Storage) { s.CredentialsFile, s.AccessKey, s.SecretKey = "", "ftpsd-test", "wrong" },
			[]string{"storage.bucket " + miniotest.Bucket, "SignatureDoesNotMatch"}},
		{"no credentials", func(s *config.Storage) { s.CredentialsFile = "" },
			[]string{"no credentials", "AWS_ACCESS_KEY_ID"}},
		{"missing credentials file", func(s *config.Storage) { s.CredentialsFile = "/nonexistent/credentials" },
			[]string{"storage.credentials_file", "no such file"}},
		{"unknown profile", func(s *config.Storage) { s.CredentialsProfile = "nobody" },
			[]string{"storage.credentials_file", `profile "nobody"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Storage = s3Storage(t, m, m.Endpoint)
			tc.edit(&cfg.Storage)
			start := time.Now()
			_, err := driver.NewServer(cfg, testTLSConfig(t), zaptest.NewLogger(t))
			if err == nil {
				t.Fatal("NewServer succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("NewServer: %v\nwant it to say %q", err, w)
				}
			}
			t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if err := driver.CheckStorage(cfg.Storage, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("CheckStorage: %v, want it to say %q", err, tc.want[0])
			}
		})
	}
	t.Run("credentials from the environment", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Storage = s3Storage(t, m, m.Endpoint)
		cfg.Storage.CredentialsFile = ""
		env := map[string]string{"AWS_ACCESS_KEY_ID": miniotest.AccessKey, "AWS_SECRET_ACCESS_KEY": miniotest.SecretKey}
		srv, err := driver.NewServer(cfg, testTLSConfig(t), zaptest.NewLogger(t), driver.WithGetenv(func(k string) string { return env[k] }))
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		for _, home := range []string{aliceHomeDir, readerHome} {
			if got := objectSHA(t, m, s3Prefix+"/"+home+"/"); got != ftptest.SHA256Hex(nil) {
				t.Fatalf("no marker of the home %s after the start", home)
			}
		}
	})
}

// TestS3StoreHangs freezes MinIO (SIGSTOP): requests get no answer, and
// the commands are answered 451 once storage.timeout passed, not never.
func TestS3StoreHangs(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, func(cfg *config.Config) { cfg.Storage.Timeout = config.Duration(2 * time.Second) })
	data := ftptest.RandomData(t, 1000)
	putObject(t, m, aliceKey("a.bin"), data)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	m.Freeze()
	for _, cmd := range []string{"SIZE a.bin", "MKD d"} {
		start := time.Now()
		if r := c.Cmd("%s", cmd); r.Code != 451 || !strings.Contains(r.Msg, "storage unavailable: no answer in time") {
			t.Fatalf("%s with the store frozen: %v, want 451 storage unavailable: no answer in time", cmd, r)
		}
		t.Logf("%s answered after %s", cmd, time.Since(start).Round(time.Millisecond))
	}
	m.Thaw()
	ftptest.MustSameData(t, "RETR a.bin once the store is back", c.Retr("a.bin"), data)
	c.Quit()
}

// TestS3Reload: a reload keeps the store and its files and creates the
// home of a new user as a marker; the new user can log in and store.
func TestS3Reload(t *testing.T) {
	m := miniotest.New(t)
	ts := startS3Server(t, m, nil)
	data := ftptest.RandomData(t, 1000)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Stor("kept.bin", data)

	next := ts.Cfg
	next.Users = append(slices.Clone(ts.Cfg.Users), config.User{Name: "bob", PasswordHash: ftptest.HashPassword(t, "bob-secret"), Home: "bob"})
	if err := ts.Server.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := objectSHA(t, m, s3Prefix+"/bob/"); got != ftptest.SHA256Hex(nil) {
		t.Fatal("the reload made no marker of bob's home")
	}
	ftptest.MustSameData(t, "kept.bin after the reload", c.Retr("kept.bin"), data)
	bob := ftptest.MustLogin(t, ts.Addr, "bob", "bob-secret")
	bob.Stor("b.bin", data)
	if got := objectSHA(t, m, s3Prefix+"/bob/b.bin"); got != ftptest.SHA256Hex(data) {
		t.Fatal("bob's upload is not in his home")
	}
	bob.Quit()
	c.Quit()
}
