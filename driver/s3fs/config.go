package s3fs

import (
	"errors"
	"fmt"
	"os"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"ftpsd/config"
)

// OptionsFrom returns the Options of the [storage] table cfg (backend
// "s3"): its endpoint, bucket, prefix and limits, and the credentials of
// storage.credentials_file, the inline keys, or the environment's
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (read
// with getenv), in that order. An error names the key at fault. It sends
// no request.
func OptionsFrom(cfg config.Storage, getenv func(string) string) (Options, error) {
	creds, err := credentialsFrom(cfg, getenv)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Host: cfg.Endpoint.Host(), Secure: cfg.Endpoint.Secure(), Region: cfg.Region,
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, PathStyle: cfg.PathStyle, Creds: creds,
		PartSize: cfg.PartSize.Bytes(), Timeout: cfg.Timeout.Std(),
		MaxUploadMemory: cfg.MaxUploadMemory.Bytes(),
	}, nil
}

// credentialsFrom returns the credentials of cfg (see OptionsFrom).
func credentialsFrom(cfg config.Storage, getenv func(string) string) (*credentials.Credentials, error) {
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
