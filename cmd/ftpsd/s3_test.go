package main

import (
	"fmt"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
)

// s3Config is goodConfig on backend "s3" in m's bucket, with storage
// keys (TOML lines) added.
func s3Config(t *testing.T, m *miniotest.Server, storage string) string {
	t.Helper()
	text := goodConfig(ftptest.HashPassword(t, "alice-secret"), "self_signed = true")
	return strings.Replace(text, `backend = "memory"`, fmt.Sprintf(`backend = "s3"
endpoint = %q
bucket = %q
path_style = true
%s`, m.Endpoint, miniotest.Bucket, storage), 1)
}

// TestCheckS3 checks the bucket with the configured credentials, warns
// about credentials written in the file, and shows no secret key.
func TestCheckS3(t *testing.T) {
	m := miniotest.New(t)
	inline := fmt.Sprintf("access_key = %q\nsecret_key = %q\n", miniotest.AccessKey, miniotest.SecretKey)
	r := runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, inline)))
	if r.code != exitOK {
		t.Fatalf("check: %v", r)
	}
	if !strings.Contains(r.stdout, "# WARNING: storage.access_key and storage.secret_key are written in") {
		t.Errorf("check does not warn about inline credentials:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, miniotest.SecretKey) {
		t.Errorf("check printed the secret key:\n%v", r)
	}

	file := fmt.Sprintf("credentials_file = %q\n", m.CredentialsFile())
	r = runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, file)))
	if r.code != exitOK || strings.Contains(r.stdout, "WARNING") {
		t.Fatalf("check with a credentials file: %v", r)
	}

	m.Stop()
	r = runFtpsd(t, "", "check", "-config", writeText(t, t.TempDir(), "s3.toml", s3Config(t, m, file)))
	if r.code == exitOK || !strings.Contains(r.stderr, "storage.endpoint "+m.Endpoint) || !strings.Contains(r.stderr, "storage unavailable") {
		t.Fatalf("check with the store down: %v, want a failure naming storage.endpoint", r)
	}
}
