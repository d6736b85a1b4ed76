package acme

import (
	"errors"

	"github.com/caddyserver/certmagic"

	"ftpsd/config"
)

// newStorage returns where the account and the certificates are kept:
// the directory of [acme] storage, or the [storage] bucket under
// storage_prefix.
func newStorage(opts Options) (certmagic.Storage, error) {
	if opts.ACME.Storage == config.ACMEStorageS3 {
		return nil, errors.New("acme.storage: \"s3\" is not built in yet")
	}
	return &certmagic.FileStorage{Path: opts.ACME.Storage}, nil
}
