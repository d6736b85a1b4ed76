package s3fs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

var (
	errNotDir    = syscall.ENOTDIR
	errIsDir     = syscall.EISDIR
	errNotEmpty  = syscall.ENOTEMPTY
	errReadOnly  = syscall.EBADF // a write to a file opened for reading
	errWriteOnly = syscall.EBADF // a read of an upload
)

// fileInfo is what a listing says of an entry: its name, size, time and
// whether it is a directory, and nothing more (a listing of a large
// directory holds one per entry).
type fileInfo struct {
	name  string
	size  int64
	mtime int64 // Unix nanoseconds; 0 when unknown (a directory without marker)
	dir   bool
}

func objectInfo(name string, oi minio.ObjectInfo) *fileInfo {
	return &fileInfo{name: name, size: oi.Size, mtime: oi.LastModified.UnixNano()}
}

func (fi *fileInfo) Name() string { return fi.name }
func (fi *fileInfo) Size() int64  { return fi.size }
func (fi *fileInfo) IsDir() bool  { return fi.dir }
func (fi *fileInfo) Sys() any     { return nil }

func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func (fi *fileInfo) ModTime() time.Time {
	if fi.mtime == 0 {
		return time.Time{}
	}
	return time.Unix(0, fi.mtime)
}

// objectFile is an object opened for reading. Its GETs start at the first
// Read; Seek and ReadAt start ranged ones.
type objectFile struct {
	refusals // writes and listings
	*minio.Object
	name   string
	info   *fileInfo
	cancel context.CancelFunc
}

func newObjectFile(fs *Fs, name, key string, info *fileInfo) *objectFile {
	// The stream is bounded by the transport's deadlines, not by one
	// timeout for the whole download.
	ctx, cancel := context.WithCancel(context.Background())
	obj, err := fs.client.GetObject(ctx, fs.bucket, key, minio.GetObjectOptions{})
	if err != nil { // only for invalid names, which key never makes
		cancel()
		return &objectFile{refusals: refusals{name, errReadOnly}, name: name, info: info, cancel: func() {}}
	}
	return &objectFile{refusals: refusals{name, errReadOnly}, Object: obj, name: name, info: info, cancel: cancel}
}

func (f *objectFile) Name() string               { return f.name }
func (f *objectFile) Stat() (os.FileInfo, error) { return f.info, nil }

func (f *objectFile) fail(op string, err error) error {
	return &os.PathError{Op: op, Path: f.name, Err: err}
}

// Read reads from the object; a failure of the store is ErrUnavailable.
func (f *objectFile) Read(p []byte) (int, error) {
	if f.Object == nil {
		return 0, f.fail("read", os.ErrInvalid)
	}
	n, err := f.Object.Read(p)
	return n, f.readError(err)
}

// ReadAt reads len(p) bytes at off.
func (f *objectFile) ReadAt(p []byte, off int64) (int, error) {
	if f.Object == nil {
		return 0, f.fail("read", os.ErrInvalid)
	}
	n, err := f.Object.ReadAt(p, off)
	return n, f.readError(err)
}

// Seek sets the offset of the next Read.
func (f *objectFile) Seek(offset int64, whence int) (int64, error) {
	if f.Object == nil {
		return 0, f.fail("seek", os.ErrInvalid)
	}
	n, err := f.Object.Seek(offset, whence)
	if err != nil {
		return n, f.fail("seek", err)
	}
	return n, nil
}

func (f *objectFile) readError(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return pathError("read", f.name, err)
}

// Close ends the object's GET.
func (f *objectFile) Close() error {
	defer f.cancel()
	if f.Object == nil {
		return nil
	}
	return f.Object.Close()
}

// dirFile is a directory opened for listing: Readdir reads the
// ListObjectsV2 pages one after the other.
type dirFile struct {
	refusals // reads and writes
	fs       *Fs
	name     string
	prefix   string // of the keys in the directory
	info     *fileInfo
	token    string // of the next page
	done     bool   // the last page was read
	queue    []os.FileInfo
}

// listPage is the number of entries asked for per ListObjectsV2 request
// (S3's most).
const listPage = 1000

// Readdir returns the next n entries (n <= 0: all that are left). Each
// holds only its name, size, time and kind, from the listing.
func (d *dirFile) Readdir(n int) ([]os.FileInfo, error) {
	for !d.done && (n <= 0 || len(d.queue) < n) {
		if err := d.nextPage(); err != nil {
			return nil, err
		}
	}
	take := n
	if n <= 0 || n > len(d.queue) {
		take = len(d.queue)
	}
	out := d.queue[:take:take]
	d.queue = d.queue[take:]
	if len(out) == 0 && n > 0 {
		return nil, io.EOF
	}
	return out, nil
}

func (d *dirFile) nextPage() error {
	page, err := d.fs.list(d.prefix, d.token, listPage)
	if err != nil {
		return pathError("readdir", d.name, err)
	}
	for _, oi := range page.Contents {
		if name := strings.TrimPrefix(oi.Key, d.prefix); name != "" { // "" is the marker
			d.queue = append(d.queue, objectInfo(name, oi))
		}
	}
	for _, cp := range page.CommonPrefixes {
		name := strings.TrimSuffix(strings.TrimPrefix(cp.Prefix, d.prefix), "/")
		if name != "" {
			d.queue = append(d.queue, &fileInfo{name: name, dir: true})
		}
	}
	d.token, d.done = page.NextContinuationToken, !page.IsTruncated
	return nil
}

// Readdirnames is Readdir's names.
func (d *dirFile) Readdirnames(n int) ([]string, error) {
	infos, err := d.Readdir(n)
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, err
}

func (d *dirFile) Name() string               { return d.name }
func (d *dirFile) Stat() (os.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }

// refusals are the methods of afero.File that a kind of file does not
// support: each fails with err.
type refusals struct {
	name string
	err  error
}

func (r refusals) fail(op string) error               { return &os.PathError{Op: op, Path: r.name, Err: r.err} }
func (r refusals) Sync() error                        { return nil }
func (r refusals) Read([]byte) (int, error)           { return 0, r.fail("read") }
func (r refusals) ReadAt([]byte, int64) (int, error)  { return 0, r.fail("read") }
func (r refusals) Seek(int64, int) (int64, error)     { return 0, r.fail("seek") }
func (r refusals) Write([]byte) (int, error)          { return 0, r.fail("write") }
func (r refusals) WriteAt([]byte, int64) (int, error) { return 0, r.fail("write") }
func (r refusals) WriteString(string) (int, error)    { return 0, r.fail("write") }
func (r refusals) Truncate(int64) error               { return r.fail("truncate") }
func (r refusals) Readdir(int) ([]os.FileInfo, error) { return nil, r.fail("readdir") }
func (r refusals) Readdirnames(int) ([]string, error) { return nil, r.fail("readdir") }
