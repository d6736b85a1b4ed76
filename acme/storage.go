package acme

import (
	"fmt"
	"os"

	"github.com/caddyserver/certmagic"

	"ftpsd/acme/s3storage"
	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// newStorage returns where the account and the certificates are kept:
// the directory of [acme] storage, or the [storage] bucket under
// storage_prefix, reached with the client the s3 backend builds.
func newStorage(opts Options) (certmagic.Storage, error) {
	a := opts.ACME
	if a.Storage != config.ACMEStorageS3 {
		return &certmagic.FileStorage{Path: a.Storage}, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s3opts, err := s3fs.OptionsFrom(opts.Storage, getenv)
	if err != nil {
		return nil, fmt.Errorf("acme.storage \"s3\": %w", err)
	}
	client, err := s3fs.NewClient(s3opts)
	if err != nil {
		return nil, fmt.Errorf("acme.storage \"s3\": %w", err)
	}
	return s3storage.New(client, s3opts.Bucket, a.StoragePrefix, s3storage.Options{
		Timeout: opts.Storage.Timeout.Std(), Logger: opts.Logger.Named("s3storage"),
	}), nil
}
