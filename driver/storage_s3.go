package driver

import (
	"fmt"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// s3Backend keeps the homes under storage.prefix in a bucket (s3fs).
type s3Backend struct {
	tree *s3fs.Fs
	name string // "storage.endpoint E, storage.bucket B", the keys errors name
}

// newS3Backend returns the tree under storage.prefix of the configured
// bucket; it sends no request (see check). getenv gives the AWS_*
// credentials when the configuration names none.
func newS3Backend(cfg config.Storage, getenv func(string) string) (*s3Backend, error) {
	opts, err := s3fs.OptionsFrom(cfg, getenv)
	if err != nil {
		return nil, err
	}
	b := &s3Backend{name: fmt.Sprintf("storage.endpoint %s, storage.bucket %s", cfg.Endpoint, cfg.Bucket)}
	b.tree, err = s3fs.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	return b, nil
}

// check returns an error unless the bucket answers with the credentials.
func (b *s3Backend) check() error {
	if err := b.tree.Check(); err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	return nil
}

func (b *s3Backend) makeHome(dir string) error { return b.tree.MkdirAll(dir, 0o750) }

func (b *s3Backend) checkHome(dir string) error { return checkMkdirAll(b.tree.Stat, "/", dir) }

// open returns the home dir in the bucket: its uploads go straight to the
// store (see s3fs.Upload); its listings keep the size and time each page
// of the store's listing gives (s3fs's Readdir).
func (b *s3Backend) open(dir string) (home, error) { return &s3Home{Fs: b.tree.Sub(dir)}, nil }

// removeOrphans has nothing to do: an upload the server did not complete
// never became an object. (The parts of a crashed server's multipart
// upload stay in the bucket until a lifecycle rule, such as S3's
// AbortIncompleteMultipartUpload, removes them.)
func (b *s3Backend) removeOrphans(time.Time, *zap.Logger) {}

// uploadMemory returns the bytes the uploads in flight reserved of
// storage.max_upload_memory.
func (b *s3Backend) uploadMemory() int64 { return b.tree.UploadMemory() }

// s3Home is a home in the bucket.
type s3Home struct {
	*s3fs.Fs
}

// upload streams name to the store, which replaces the object only when
// the upload completes (s3fs.Upload).
func (h *s3Home) upload(name string) (ftpserver.FileTransfer, error) {
	u, err := h.Upload(name)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (h *s3Home) features() features { return features{atomicUpload: true} }

// storePath returns the object key of name.
func (h *s3Home) storePath(name string) string { return h.Key(name) }

func (h *s3Home) close() error { return nil }
