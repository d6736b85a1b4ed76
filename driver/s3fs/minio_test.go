package s3fs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"ftpsd/driver/s3fs"
	"ftpsd/internal/miniotest"
)

// newFs returns the tree under "t/" of a fresh MinIO's bucket.
func newFs(t *testing.T) *s3fs.Fs {
	t.Helper()
	m := miniotest.New(t)
	fs, err := s3fs.New(s3fs.Options{
		Host: m.Host, Region: "us-east-1", Bucket: miniotest.Bucket, Prefix: "t", PathStyle: true,
		Creds:    credentials.NewStaticV4(miniotest.AccessKey, miniotest.SecretKey, ""),
		PartSize: 5 << 20, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Check(); err != nil {
		t.Fatal(err)
	}
	return fs
}

// create stores a small object at name.
func create(t *testing.T, fs *s3fs.Fs, name string) {
	t.Helper()
	f, err := fs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(name)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReaddirPages reads a directory in batches: every entry once, with
// its size from the listing, then io.EOF.
func TestReaddirPages(t *testing.T) {
	fs := newFs(t)
	if err := fs.MkdirAll("d/sub", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		create(t, fs, fmt.Sprintf("d/f%d", i))
	}
	d, err := fs.Open("d")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	for {
		batch, err := d.Readdir(2)
		for _, fi := range batch {
			seen[fi.Name()] = fi.Size()
			if fi.Name() == "sub" != fi.IsDir() {
				t.Errorf("%s: IsDir %v", fi.Name(), fi.IsDir())
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || len(batch) == 0 {
			t.Fatalf("Readdir(2) = %d entries, %v", len(batch), err)
		}
	}
	if len(seen) != 6 || seen["f3"] != int64(len("d/f3")) {
		t.Fatalf("entries %v, want f0-f4 (4 bytes each) and sub", seen)
	}
}

// TestRemoveAll removes a directory with everything under it, and
// nothing beside it.
func TestRemoveAll(t *testing.T) {
	fs := newFs(t)
	if err := fs.MkdirAll("d/sub", 0); err != nil {
		t.Fatal(err)
	}
	create(t, fs, "d/a")
	create(t, fs, "d/sub/b")
	create(t, fs, "dd")
	if err := fs.RemoveAll("d"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat("d"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat(d) after RemoveAll: %v, want not exist", err)
	}
	if _, err := fs.Stat("dd"); err != nil {
		t.Fatalf("Stat(dd) beside it: %v", err)
	}
}

// TestUploadAbortedByAnEOFError: a transfer that fails with io.EOF or
// io.ErrUnexpectedEOF (crypto/tls's error for a stream cut inside a
// record) must abort the upload like any other failure, not end it as if
// the data were complete; small (one PUT) and large (multipart) alike.
func TestUploadAbortedByAnEOFError(t *testing.T) {
	fs := newFs(t)
	for _, size := range []int{1000, 6 << 20} {
		for _, cause := range []error{io.ErrUnexpectedEOF, io.EOF} {
			name := fmt.Sprintf("cut-%d-%v", size, cause)
			u, err := fs.Upload(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			u.TransferError(cause)
			if err := u.Close(); err != nil {
				t.Fatalf("%s: Close: %v", name, err)
			}
			if info, err := fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s: stored after the transfer failed with %v (%v, %v)", name, cause, info, err)
			}
		}
	}
}

// TestUploadWriteString: an upload takes io.WriteString as it takes
// Write (it refused it with EBADF, as a download refuses writes).
func TestUploadWriteString(t *testing.T) {
	fs := newFs(t)
	u, err := fs.Upload("ws.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(u, "hello"); err != nil {
		t.Fatalf("WriteString: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := fs.Stat("ws.txt"); err != nil || info.Size() != 5 {
		t.Fatalf("stored: %v %v, want 5 bytes", info, err)
	}
}
