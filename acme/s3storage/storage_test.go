package s3storage_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.uber.org/zap"

	"ftpsd/acme/s3storage"
	"ftpsd/config"
	"ftpsd/driver/s3fs"
	"ftpsd/internal/miniotest"
)

// The tests run against a real MinIO server (internal/miniotest): the
// storage's semantics as certmagic relies on them, the conditional writes
// the locks are built on, the locks between nodes, and two certmagic
// nodes ordering one certificate from Pebble.

// prefix is the key prefix of the test storages.
const prefix = "ftpsd-acme"

// newNode returns a Storage of m's bucket under prefix with a client of
// its own, built from a [storage] table as ftpsd builds it: one node of a
// cluster.
func newNode(t testing.TB, m *miniotest.Server, opts s3storage.Options) *s3storage.Storage {
	t.Helper()
	st := config.Default().Storage
	ep, err := config.ParseEndpoint(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	st.Backend, st.Endpoint, st.Bucket, st.PathStyle = config.BackendS3, ep, miniotest.Bucket, true
	st.CredentialsFile = m.CredentialsFile()
	st.Timeout = config.Duration(5 * time.Second)
	o, err := s3fs.OptionsFrom(st, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	client, err := s3fs.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return s3storage.New(client, miniotest.Bucket, prefix, opts)
}

// TestConditionalWritesOfTheStore proves, against the store, the
// primitive the locks rest on: a PUT with If-None-Match: * fails when the
// object exists (also when many race to create it: exactly one wins), and
// one with If-Match fails unless the ETag is the object's.
func TestConditionalWritesOfTheStore(t *testing.T) {
	m := miniotest.New(t)
	c := m.Client()
	ctx := context.Background()
	put := func(key, body string, cond func(*minio.PutObjectOptions)) (minio.UploadInfo, error) {
		var o minio.PutObjectOptions
		cond(&o)
		return c.PutObject(ctx, miniotest.Bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), o)
	}
	create := func(o *minio.PutObjectOptions) { o.SetMatchETagExcept("*") }

	first, err := put("k", "first", create)
	if err != nil {
		t.Fatalf("first create: %v", err)
	}
	_, err = put("k", "second", create)
	if code := minio.ToErrorResponse(err).StatusCode; code != 412 {
		t.Fatalf("second create: %v (status %d), want 412 Precondition Failed", err, code)
	}
	t.Logf("second create refused: %v", err)
	if _, err := put("k", "other", func(o *minio.PutObjectOptions) { o.SetMatchETag("0123456789abcdef0123456789abcdef") }); minio.ToErrorResponse(err).StatusCode != 412 {
		t.Fatalf("If-Match with another ETag: %v, want 412", err)
	}
	if _, err := put("k", "third", func(o *minio.PutObjectOptions) { o.SetMatchETag(first.ETag) }); err != nil {
		t.Fatalf("If-Match with the object's ETag: %v", err)
	}
	if _, err := put("k", "fourth", func(o *minio.PutObjectOptions) { o.SetMatchETag(first.ETag) }); minio.ToErrorResponse(err).StatusCode != 412 {
		t.Fatalf("If-Match with the replaced ETag: %v, want 412", err)
	}

	const racers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range racers {
		wg.Go(func() {
			_, err := put("race", string(rune('a'+i)), create)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case minio.ToErrorResponse(err).StatusCode != 412:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want exactly 1", won, racers)
	}
}

// TestKeys checks Store, Load, Exists, Stat, List and Delete with
// certmagic's file and directory semantics.
func TestKeys(t *testing.T) {
	m := miniotest.New(t)
	s := newNode(t, m, s3storage.Options{})
	ctx := context.Background()
	files := map[string]string{
		"certificates/ca/a.test/a.test.crt":   "cert a",
		"certificates/ca/a.test/a.test.key":   "key a",
		"certificates/ca/ab.test/ab.test.crt": "cert ab",
		"acme/ca/users/admin/admin.json":      "account",
		"last_clean.json":                     "{}",
	}
	for k, v := range files {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// The keys are under the prefix in the bucket.
	if _, err := m.Client().StatObject(ctx, miniotest.Bucket, prefix+"/last_clean.json", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object under the prefix: %v", err)
	}
	for k, v := range files {
		got, err := s.Load(ctx, k)
		if err != nil || string(got) != v {
			t.Errorf("Load %s = %q, %v; want %q", k, got, err, v)
		}
	}
	if err := s.Store(ctx, "last_clean.json", []byte(`{"t":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "last_clean.json"); string(got) != `{"t":1}` {
		t.Errorf("Load after a second Store = %q", got)
	}

	_, err := s.Load(ctx, "certificates/ca/none.test/none.test.crt")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	_, err = s.Load(ctx, "certificates/ca/a.test") // a directory
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a directory: %v, want fs.ErrNotExist", err)
	}

	for k, want := range map[string]bool{
		"certificates/ca/a.test/a.test.crt": true, "certificates/ca/a.test": true, "certificates": true,
		"certificates/ca/a": false, "certificates/ca/a.test/a.test": false, "nothing": false,
	} {
		if got := s.Exists(ctx, k); got != want {
			t.Errorf("Exists %s = %v, want %v", k, got, want)
		}
	}

	before := time.Now().Add(-time.Minute)
	info, err := s.Stat(ctx, "certificates/ca/a.test/a.test.key")
	if err != nil || !info.IsTerminal || info.Size != int64(len("key a")) || info.Modified.Before(before) ||
		info.Key != "certificates/ca/a.test/a.test.key" {
		t.Errorf("Stat of a file = %+v, %v", info, err)
	}
	info, err = s.Stat(ctx, "certificates/ca")
	if err != nil || info.IsTerminal || info.Key != "certificates/ca" {
		t.Errorf("Stat of a directory = %+v, %v", info, err)
	}
	if _, err := s.Stat(ctx, "certificates/c"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v, want fs.ErrNotExist", err)
	}

	list := func(dir string, recursive bool) []string {
		t.Helper()
		keys, err := s.List(ctx, dir, recursive)
		if err != nil {
			t.Fatalf("List %q %v: %v", dir, recursive, err)
		}
		slices.Sort(keys)
		return keys
	}
	if got, want := list("certificates/ca", false), []string{"certificates/ca/a.test", "certificates/ca/ab.test"}; !slices.Equal(got, want) {
		t.Errorf("List certificates/ca = %q, want %q", got, want)
	}
	if got, want := list("certificates", true), []string{
		"certificates/ca", "certificates/ca/a.test", "certificates/ca/a.test/a.test.crt",
		"certificates/ca/a.test/a.test.key", "certificates/ca/ab.test", "certificates/ca/ab.test/ab.test.crt",
	}; !slices.Equal(got, want) {
		t.Errorf("List certificates recursive = %q, want %q", got, want)
	}
	if got, want := list("", false), []string{"acme", "certificates", "last_clean.json"}; !slices.Equal(got, want) {
		t.Errorf("List of the root = %q, want %q", got, want)
	}
	if _, err := s.List(ctx, "certificates/c", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory: %v, want fs.ErrNotExist", err)
	}

	// Delete of a directory deletes what is under it, not its
	// neighbours sharing the name's first letters.
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.test") || s.Exists(ctx, "certificates/ca/a.test/a.test.key") {
		t.Error("a.test still exists after its Delete")
	}
	if !s.Exists(ctx, "certificates/ca/ab.test/ab.test.crt") {
		t.Error("Delete of certificates/ca/a.test deleted certificates/ca/ab.test")
	}
	if err := s.Delete(ctx, "last_clean.json"); err != nil || s.Exists(ctx, "last_clean.json") {
		t.Errorf("Delete of a file: %v, exists %v", err, s.Exists(ctx, "last_clean.json"))
	}
	if err := s.Delete(ctx, "certificates/ca/none.test"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if got, want := list("", true), []string{"acme", "acme/ca", "acme/ca/users", "acme/ca/users/admin",
		"acme/ca/users/admin/admin.json", "certificates", "certificates/ca", "certificates/ca/ab.test",
		"certificates/ca/ab.test/ab.test.crt"}; !slices.Equal(got, want) {
		t.Errorf("List of the root after the deletes = %q, want %q", got, want)
	}
}

// TestCheck: Check answers nil for the bucket, an error naming a
// missing one.
func TestCheck(t *testing.T) {
	m := miniotest.New(t)
	ctx := context.Background()
	if err := newNode(t, m, s3storage.Options{}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	err := s3storage.New(m.Client(), "no-such-bucket", prefix, s3storage.Options{}).Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("Check of a missing bucket: %v, want an error naming it", err)
	}
}

// TestKeysStayUnderThePrefix: ".." in a key stops at the prefix, so that
// the storage never reaches the bucket's other keys (the users' homes).
func TestKeysStayUnderThePrefix(t *testing.T) {
	m := miniotest.New(t)
	s := newNode(t, m, s3storage.Options{})
	ctx := context.Background()
	home := "ftp/alice/file"
	if _, err := m.Client().PutObject(ctx, miniotest.Bucket, home, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(ctx, "../ftp/alice/file", []byte("overwritten")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Client().StatObject(ctx, miniotest.Bucket, prefix+"/ftp/alice/file", minio.StatObjectOptions{}); err != nil {
		t.Errorf("the key with .. is not under the prefix: %v", err)
	}
	if err := s.Delete(ctx, "../ftp"); err != nil {
		t.Fatal(err)
	}
	oi, err := m.Client().StatObject(ctx, miniotest.Bucket, home, minio.StatObjectOptions{})
	if err != nil || oi.Size != 1 {
		t.Errorf("the home's object after Store and Delete of ../ftp: %+v, %v", oi, err)
	}
}
