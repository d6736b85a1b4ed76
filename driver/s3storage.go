package driver

import (
	"errors"
	"fmt"
	"os"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/spf13/afero"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// openS3 returns the tree under storage.prefix of the configured bucket,
// once the bucket answered. getenv gives the AWS_* credentials when the
// configuration names none.
func openS3(cfg config.Storage, getenv func(string) string) (*s3fs.Fs, error) {
	creds, err := s3Credentials(cfg, getenv)
	if err != nil {
		return nil, err
	}
	fs, err := s3fs.New(s3fs.Options{
		Host: cfg.Endpoint.Host(), Secure: cfg.Endpoint.Secure(), Region: cfg.Region,
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, PathStyle: cfg.PathStyle, Creds: creds,
		PartSize: cfg.PartSize.Bytes(), Timeout: cfg.Timeout.Std(),
		MaxUploadMemory: cfg.MaxUploadMemory.Bytes(),
	})
	if err == nil {
		err = fs.Check()
	}
	if err != nil {
		return nil, fmt.Errorf("storage.endpoint %s, storage.bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	return fs, nil
}

// s3Credentials returns the credentials of storage.credentials_file, the
// inline keys, or the environment's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, in that order.
func s3Credentials(cfg config.Storage, getenv func(string) string) (*credentials.Credentials, error) {
	switch {
	case cfg.CredentialsFile != "":
		if _, err := os.Stat(cfg.CredentialsFile); err != nil {
			return nil, fmt.Errorf("storage.credentials_file: %w", err)
		}
		creds := credentials.NewFileAWSCredentials(cfg.CredentialsFile, cfg.CredentialsProfile)
		if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID == "" {
			return nil, fmt.Errorf("storage.credentials_file %s: no keys for profile %q (storage.credentials_profile)", cfg.CredentialsFile, cfg.CredentialsProfile)
		}
		return creds, nil
	case cfg.AccessKey != "":
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), nil
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New("storage: no credentials for backend \"s3\": set storage.credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
	}
	return credentials.NewStaticV4(id, secret, getenv("AWS_SESSION_TOKEN")), nil
}

// openS3Home returns the user's home in the bucket: its uploads go
// straight to the store (see s3fs.Upload); its listings keep the size and
// time each page of the store's listing gives (s3fs's Readdir).
func openS3Home(tree *s3fs.Fs, home string) *userFs {
	fs := tree.Sub(home)
	nop := func() error { return nil }
	return &userFs{
		Fs: fs, close: nop,
		openDir: func(name string) (afero.Fs, func() error, error) { return fs.Sub(name), nop, nil },
		upload: func(name string) (ftpserver.FileTransfer, error) {
			u, err := fs.Upload(name)
			if err != nil {
				return nil, err
			}
			return u, nil
		},
	}
}

// uploadMemory returns the bytes the uploads in flight reserved of
// storage.max_upload_memory (backend "s3"; 0 on the others).
func (s *storage) uploadMemory() int64 {
	if s.s3 == nil {
		return 0
	}
	return s.s3.UploadMemory()
}
