// Package s3storage keeps certmagic's ACME data (account, certificates,
// keys, challenge tokens) in an S3 bucket under a key prefix, so that the
// nodes of a cluster share it, and locks a name across the nodes with
// conditional writes to the bucket (see Lock).
//
// Keys are certmagic's ("certificates/ca/name/name.crt") appended to the
// prefix; "directories" are key prefixes and have no object of their own.
// Every request is bounded by Options.Timeout and by the caller's context.
// A Storage is safe for concurrent use.
package s3storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/minio/minio-go/v7"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	// DefaultLockTTL: a lock not refreshed for a minute is a dead node's.
	DefaultLockTTL = time.Minute
	// DefaultLockPoll: a waiter looks at the lock every two seconds.
	DefaultLockPoll = 2 * time.Second
	// DefaultTimeout bounds each request.
	DefaultTimeout = 30 * time.Second
)

// Options tune a Storage; zero values take the defaults.
type Options struct {
	// LockTTL is how long a lock object may stay unchanged before a
	// waiter takes it over as its holder's who died; a holder rewrites
	// it every LockTTL/3.
	LockTTL time.Duration
	// LockPoll is how often a waiting Lock looks at the lock object.
	LockPoll time.Duration
	// Timeout bounds each request to the store.
	Timeout time.Duration
	// Logger receives the takeovers of stale locks, the failed refreshes
	// and the locks lost to another node; nil logs nothing.
	Logger *zap.Logger
}

// Storage is certmagic's storage in a bucket under a prefix.
type Storage struct {
	client *minio.Client
	bucket string
	base   string // key prefix: "" or ending in "/"
	opts   Options
	owner  string // this process, as lock objects name it

	mu   sync.Mutex
	held map[string]*heldLock // by lock name
	seen map[string]sighting  // lock objects held by others, by lock name
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// New returns the Storage of the keys under prefix ("ftpsd-acme" keeps
// them under "ftpsd-acme/") in bucket. It sends no request.
func New(client *minio.Client, bucket, prefix string, opts Options) *Storage {
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	if opts.LockPoll <= 0 {
		opts.LockPoll = DefaultLockPoll
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	s := &Storage{
		client: client, bucket: bucket, opts: opts, owner: ownerName(),
		held: map[string]*heldLock{}, seen: map[string]sighting{},
	}
	if p := strings.Trim(prefix, "/"); p != "" {
		s.base = p + "/"
	}
	return s
}

// Check returns an error unless the bucket exists and the credentials
// may read it.
func (s *Storage) Check(ctx context.Context) error {
	ctx, cancel := s.request(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	switch {
	case err != nil:
		return fmt.Errorf("bucket %s: %w", s.bucket, classify(err))
	case !ok:
		return fmt.Errorf("bucket %s does not exist", s.bucket)
	}
	return nil
}

// String names the bucket and prefix, as certmagic's logs show a storage.
func (s *Storage) String() string { return "s3://" + s.bucket + "/" + s.base }

// objectKey returns the object key of key: cleaned as a rooted path, so
// that ".." stops at the prefix, and appended to it. The root ("") is the
// prefix itself.
func (s *Storage) objectKey(key string) string {
	return s.base + strings.TrimPrefix(path.Clean("/"+key), "/")
}

// dirPrefix returns the key prefix of the objects under key.
func (s *Storage) dirPrefix(key string) string {
	k := s.objectKey(key)
	if k == s.base {
		return k
	}
	return k + "/"
}

// storageKey returns certmagic's key of an object key under the prefix.
func (s *Storage) storageKey(objectKey string) string {
	return strings.TrimSuffix(strings.TrimPrefix(objectKey, s.base), "/")
}

// request bounds one request by the timeout.
func (s *Storage) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// Store puts value at key in one PUT: readers see the old value or the
// new one, never a part.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	ctx, cancel := s.request(ctx)
	defer cancel()
	_, err := s.client.PutObject(ctx, s.bucket, s.objectKey(key), bytes.NewReader(value), int64(len(value)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("store %s: %w", key, classify(err))
	}
	return nil
}

// Load returns the value at key; a missing key's error satisfies
// errors.Is(err, fs.ErrNotExist).
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	b, _, err := s.get(ctx, s.objectKey(key))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	return b, nil
}

// get returns an object's content and ETag, from one GET: the ETag is
// the content's, even while others write the object.
func (s *Storage) get(ctx context.Context, objectKey string) ([]byte, string, error) {
	ctx, cancel := s.request(ctx)
	defer cancel()
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, objectKey, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", classify(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, "", classify(err)
	}
	return b, info.ETag, nil
}

// Delete deletes key and, when it is a directory, every key under it. A
// key that does not exist is no error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.request(ctx)
	defer cancel()
	k := s.objectKey(key)
	if k != s.base {
		if err := s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil && classify(err) != fs.ErrNotExist {
			return fmt.Errorf("delete %s: %w", key, classify(err))
		}
	}
	var under []minio.ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.dirPrefix(key), Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("delete %s: list: %w", key, classify(o.Err))
		}
		under = append(under, o)
	}
	if len(under) == 0 {
		return nil
	}
	objects := make(chan minio.ObjectInfo, len(under))
	for _, o := range under {
		objects <- o
	}
	close(objects)
	for r := range s.client.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		if r.Err != nil && classify(r.Err) != fs.ErrNotExist {
			return fmt.Errorf("delete %s: %s: %w", key, s.storageKey(r.ObjectName), classify(r.Err))
		}
	}
	return nil
}

// Exists reports whether key is a file or a directory; an error of the
// store reports false.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat returns the size and time of the file at key, or, when keys lie
// under it, a directory (IsTerminal false, the time of one of them).
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	ctx, cancel := s.request(ctx)
	defer cancel()
	k := s.objectKey(key)
	if k != s.base {
		oi, err := s.client.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
		if err == nil {
			return certmagic.KeyInfo{Key: key, Modified: oi.LastModified, Size: oi.Size, IsTerminal: true}, nil
		}
		if classify(err) != fs.ErrNotExist {
			return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, classify(err))
		}
	}
	// The first key under key/, if any (the listing ends with ctx).
	o, ok := <-s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.dirPrefix(key), Recursive: true, MaxKeys: 1})
	switch {
	case !ok:
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	case o.Err != nil:
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, classify(o.Err))
	}
	return certmagic.KeyInfo{Key: key, Modified: o.LastModified}, nil
}

// List returns the keys under dir: its files and directories, and with
// recursive those below them too (directories included, as certmagic's
// FileStorage lists them). A dir with no key under it is fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	ctx, cancel := s.request(ctx)
	defer cancel()
	top := s.storageKey(s.dirPrefix(dir))
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && k != top && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.dirPrefix(dir), Recursive: recursive}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, classify(o.Err))
		}
		k := s.storageKey(o.Key)
		if recursive {
			// The directories between dir and the object, then the object.
			for i := len(top) + 1; i < len(k); i++ {
				if k[i] == '/' {
					add(k[:i])
				}
			}
		}
		add(k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("list %s: %w", dir, fs.ErrNotExist)
	}
	return keys, nil
}

// classify returns the fs error a store's reply stands for (a missing
// key is fs.ErrNotExist, a refusal fs.ErrPermission), or err.
func classify(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "NoSuchKey":
			return fs.ErrNotExist
		case "AccessDenied":
			return fmt.Errorf("%w: %s", fs.ErrPermission, resp.Message)
		}
	}
	return err
}
