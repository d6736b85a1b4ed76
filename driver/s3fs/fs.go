// Package s3fs is an afero.Fs over an S3-compatible object store
// (github.com/minio/minio-go/v7), for ftpsd's storage backend "s3".
//
// An Fs is a tree of keys under a prefix of one bucket: a name is cleaned
// as a rooted path and appended to the prefix, so that no name reaches a
// key outside it. Directories are key prefixes; an empty directory is a
// zero-byte "dir/" marker object. Files are read with ranged GETs (Seek
// and ReadAt start a new one), written as streamed multipart uploads that
// become visible only when complete (see Upload), and listed from
// ListObjectsV2 pages, whose entries carry their size and time. Rename is
// a server-side copy and a delete; directories are not renamed.
//
// Every request is bounded by the timeout: a store that is down fails
// with ErrUnavailable instead of hanging. An Fs is safe for concurrent
// use.
package s3fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/spf13/afero"
)

// Options say which store and bucket an Fs uses.
type Options struct {
	Host      string // host[:port] of the endpoint
	Secure    bool   // https
	Region    string
	Bucket    string
	Prefix    string // key prefix of the tree; "" is the whole bucket
	PathStyle bool
	Creds     *credentials.Credentials
	PartSize  int64         // of multipart uploads; an upload holds 1 to 4 (see Upload)
	Timeout   time.Duration // of each request, and of each wait for its bytes
	// MaxUploadMemory bounds the part buffers of the uploads in flight,
	// in all the Fs made from this one by Sub; 0 bounds nothing.
	MaxUploadMemory int64
}

// Fs is the tree of keys under a prefix of a bucket.
type Fs struct {
	client   *minio.Client
	bucket   string
	base     string // key prefix of the root: "" or ending in "/"
	partSize int64
	timeout  time.Duration
	budget   *budget // shared by the trees Sub returns
}

var _ afero.Fs = (*Fs)(nil)

// maxRetries is how many times minio-go retries a failed request; a store
// that is down fails after them.
const maxRetries = 2

// NewClient returns the client of the store opts names (endpoint,
// region, addressing, credentials), whose connections fail a read or
// write that waits longer than opts.Timeout and whose requests are
// retried maxRetries times: the client every Fs uses, for the other users
// of the same bucket. It sends no request.
func NewClient(opts Options) (*minio.Client, error) {
	tr, err := newTransport(opts.Secure, opts.Timeout)
	if err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupDNS
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	return minio.New(opts.Host, &minio.Options{
		Creds: opts.Creds, Secure: opts.Secure, Region: opts.Region, BucketLookup: lookup,
		Transport: tr, MaxRetries: maxRetries,
	})
}

// New returns the Fs of opts. It sends no request (see Check).
func New(opts Options) (*Fs, error) {
	client, err := NewClient(opts)
	if err != nil {
		return nil, err
	}
	fs := &Fs{
		client: client, bucket: opts.Bucket, partSize: opts.PartSize, timeout: opts.Timeout,
		budget: newBudget(opts.MaxUploadMemory),
	}
	if p := strings.Trim(opts.Prefix, "/"); p != "" {
		fs.base = p + "/"
	}
	return fs, nil
}

// Check returns an error unless the bucket exists and the credentials may
// list it.
func (fs *Fs) Check() error {
	ctx, cancel := fs.ctx()
	defer cancel()
	ok, err := fs.client.BucketExists(ctx, fs.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", fs.bucket, classify(err))
	}
	if !ok {
		return fmt.Errorf("bucket %s does not exist", fs.bucket)
	}
	return nil
}

// Sub returns the tree under dir (which need not exist) as an Fs of its own.
func (fs *Fs) Sub(dir string) *Fs {
	sub := *fs
	if k := fs.key(dir); k != fs.base {
		sub.base = k + "/"
	}
	return &sub
}

// key returns the object key of name: cleaned as a rooted path, so that
// ".." stops at the root, and appended to the tree's prefix. The root's
// key is the prefix itself.
func (fs *Fs) key(name string) string {
	return fs.base + strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Key returns the object key of name in the bucket: what the tree's
// users see as name, from the bucket's root.
func (fs *Fs) Key(name string) string { return fs.key(name) }

// ctx bounds one request.
func (fs *Fs) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), fs.timeout)
}

// Name returns "s3".
func (fs *Fs) Name() string { return "s3" }

// Stat returns the object at name, or the directory when keys lie under
// name/ (its marker or others).
func (fs *Fs) Stat(name string) (os.FileInfo, error) {
	k := fs.key(name)
	if k == fs.base {
		return &fileInfo{name: "/", dir: true}, nil
	}
	ctx, cancel := fs.ctx()
	defer cancel()
	oi, err := fs.client.StatObject(ctx, fs.bucket, k, minio.StatObjectOptions{})
	if err == nil {
		return objectInfo(path.Base(k), oi), nil
	}
	if classify(err) != os.ErrNotExist {
		return nil, pathError("stat", name, err)
	}
	page, err := fs.list(k+"/", "", 1)
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	if len(page.Contents) == 0 && len(page.CommonPrefixes) == 0 {
		return nil, pathError("stat", name, os.ErrNotExist)
	}
	info := &fileInfo{name: path.Base(k), dir: true}
	if len(page.Contents) > 0 {
		info.mtime = page.Contents[0].LastModified.UnixNano()
	}
	return info, nil
}

// list reads one page of at most max entries under prefix, those below a
// further "/" gathered as common prefixes.
func (fs *Fs) list(prefix, token string, max int) (minio.ListBucketV2Result, error) {
	core := minio.Core{Client: fs.client}
	return core.ListObjectsV2(fs.bucket, prefix, "", token, "/", max)
}

// Open opens name for reading.
func (fs *Fs) Open(name string) (afero.File, error) { return fs.OpenFile(name, os.O_RDONLY, 0) }

// Create opens name for a new content (see Upload).
func (fs *Fs) Create(name string) (afero.File, error) {
	return fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// OpenFile opens name for reading, or, with O_TRUNC, for a new content
// (see Upload). Other writes would change an object in place: ErrNoAppend.
func (fs *Fs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if flag&os.O_APPEND != 0 || flag&os.O_TRUNC == 0 {
			return nil, pathError("open", name, ErrNoAppend)
		}
		u, err := fs.Upload(name)
		if err != nil {
			return nil, err
		}
		return u, nil
	}
	info, err := fs.Stat(name)
	if err != nil {
		return nil, err
	}
	fi := info.(*fileInfo)
	if fi.dir {
		return &dirFile{refusals: refusals{name, errIsDir}, fs: fs, name: name, prefix: fs.dirPrefix(name), info: fi}, nil
	}
	return newObjectFile(fs, name, fs.key(name), fi), nil
}

// dirPrefix returns the prefix of the keys in directory name.
func (fs *Fs) dirPrefix(name string) string {
	if k := fs.key(name); k != fs.base {
		return k + "/"
	}
	return fs.base
}

// Mkdir makes the marker of directory name, whose parent must exist.
func (fs *Fs) Mkdir(name string, _ os.FileMode) error {
	if _, err := fs.Stat(name); err == nil {
		return pathError("mkdir", name, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := fs.wantParentDir("mkdir", name); err != nil {
		return err
	}
	return fs.putMarker(name)
}

// wantParentDir returns an error of op on name unless name's parent is a
// directory: the store would take any key, and a key under a missing
// directory or under a file would be in no listing.
func (fs *Fs) wantParentDir(op, name string) error {
	parent := path.Dir(path.Clean("/" + name))
	if parent == "/" {
		return nil
	}
	info, err := fs.Stat(parent)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return pathError(op, name, os.ErrNotExist)
	case err != nil:
		return err
	case !info.IsDir():
		return pathError(op, name, errNotDir)
	}
	return nil
}

// MkdirAll makes the markers of name and of its parents that are missing.
func (fs *Fs) MkdirAll(name string, _ os.FileMode) error {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return nil
	}
	if err := fs.MkdirAll(path.Dir(clean), 0); err != nil {
		return err
	}
	info, err := fs.Stat(clean)
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil:
		return pathError("mkdir", name, errNotDir)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	return fs.putMarker(clean)
}

func (fs *Fs) putMarker(name string) error {
	ctx, cancel := fs.ctx()
	defer cancel()
	_, err := fs.client.PutObject(ctx, fs.bucket, fs.key(name)+"/", strings.NewReader(""), 0, minio.PutObjectOptions{})
	if err != nil {
		return pathError("mkdir", name, err)
	}
	return nil
}

// Remove removes the object at name, or the empty directory name.
func (fs *Fs) Remove(name string) error {
	info, err := fs.Stat(name)
	if err != nil {
		return err
	}
	k := fs.key(name)
	if info.IsDir() {
		if k == fs.base {
			return pathError("remove", name, os.ErrPermission)
		}
		page, err := fs.list(k+"/", "", 2)
		if err != nil {
			return pathError("remove", name, err)
		}
		if len(page.CommonPrefixes) > 0 || len(page.Contents) > 1 || len(page.Contents) == 1 && page.Contents[0].Key != k+"/" {
			return pathError("remove", name, errNotEmpty)
		}
		k += "/"
	}
	return fs.removeKey(name, k)
}

func (fs *Fs) removeKey(name, key string) error {
	ctx, cancel := fs.ctx()
	defer cancel()
	if err := fs.client.RemoveObject(ctx, fs.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return pathError("remove", name, err)
	}
	return nil
}

// RemoveAll removes name and every key under it.
func (fs *Fs) RemoveAll(name string) error {
	ctx, cancel := context.WithCancel(context.Background()) // each request is bounded by the transport
	defer cancel()
	keys := make(chan minio.ObjectInfo)
	listed := make(chan error, 1)
	go func() {
		defer close(keys)
		listed <- fs.listAll(ctx, fs.dirPrefix(name), keys)
	}()
	for rerr := range fs.client.RemoveObjects(ctx, fs.bucket, keys, minio.RemoveObjectsOptions{}) {
		cancel()
		<-listed
		return pathError("remove", name, rerr.Err)
	}
	if err := <-listed; err != nil {
		return pathError("remove", name, err)
	}
	if k := fs.key(name); k != fs.base {
		return fs.removeKey(name, k)
	}
	return nil
}

// listAll sends every key under prefix to keys, until ctx is done.
func (fs *Fs) listAll(ctx context.Context, prefix string, keys chan<- minio.ObjectInfo) error {
	for oi := range fs.client.ListObjects(ctx, fs.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return oi.Err
		}
		select {
		case keys <- oi:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Rename copies the object oldname to newname on the server and removes
// oldname. A directory is refused (ErrDirRename), and so is a newname
// whose parent is not a directory: oldname then stays.
func (fs *Fs) Rename(oldname, newname string) error {
	info, err := fs.Stat(oldname)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: ErrDirRename}
	}
	if to, err := fs.Stat(newname); err == nil && to.IsDir() {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrExist}
	}
	if err := fs.wantParentDir("rename", newname); err != nil {
		return err
	}
	if fs.key(oldname) == fs.key(newname) {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background()) // each request is bounded by the transport
	defer cancel()
	_, err = fs.client.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: fs.bucket, Object: fs.key(newname)},
		minio.CopySrcOptions{Bucket: fs.bucket, Object: fs.key(oldname)})
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: classify(err)}
	}
	return fs.removeKey(oldname, fs.key(oldname))
}

// Chmod is not supported.
func (fs *Fs) Chmod(name string, _ os.FileMode) error {
	return pathError("chmod", name, ErrUnsupported)
}

// Chown is not supported.
func (fs *Fs) Chown(name string, _, _ int) error { return pathError("chown", name, ErrUnsupported) }

// Chtimes is not supported: an object's time is when it was stored.
func (fs *Fs) Chtimes(name string, _, _ time.Time) error {
	return pathError("chtimes", name, ErrUnsupported)
}
