package s3fs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
)

// TestOptionsFrom: the [storage] table's keys become Options, with the
// credentials of the file, the inline keys or the environment, in that
// order; an error names the key at fault. The ACME storage and the
// backend "s3" build their clients from it.
func TestOptionsFrom(t *testing.T) {
	st := config.Default().Storage
	ep, err := config.ParseEndpoint("https://s3.example.net:9000")
	if err != nil {
		t.Fatal(err)
	}
	st.Endpoint, st.Bucket, st.Prefix, st.Region, st.PathStyle = ep, "b", "ftp", "eu-1", true
	st.Timeout = config.Duration(7 * time.Second)
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	keyID := func(o s3fs.Options) string {
		t.Helper()
		v, err := o.Creds.GetWithContext(nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.AccessKeyID
	}

	if _, err := s3fs.OptionsFrom(st, getenv); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %v, want an error naming AWS_ACCESS_KEY_ID", err)
	}
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "from-env", "s"
	o, err := s3fs.OptionsFrom(st, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if o.Host != "s3.example.net:9000" || !o.Secure || o.Bucket != "b" || o.Prefix != "ftp" || o.Region != "eu-1" ||
		!o.PathStyle || o.Timeout != 7*time.Second || o.PartSize != st.PartSize.Bytes() || keyID(o) != "from-env" {
		t.Fatalf("Options = %+v (key %s)", o, keyID(o))
	}
	st.AccessKey, st.SecretKey = "inline", "s"
	if o, err = s3fs.OptionsFrom(st, getenv); err != nil || keyID(o) != "inline" {
		t.Fatalf("inline keys: %v", err)
	}
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("[ftp]\naws_access_key_id = from-file\naws_secret_access_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st.CredentialsFile, st.CredentialsProfile = file, "ftp"
	if o, err = s3fs.OptionsFrom(st, getenv); err != nil || keyID(o) != "from-file" {
		t.Fatalf("credentials file: %v", err)
	}
	st.CredentialsProfile = "nobody"
	if _, err := s3fs.OptionsFrom(st, getenv); err == nil || !strings.Contains(err.Error(), "storage.credentials_profile") {
		t.Fatalf("unknown profile: %v, want an error naming storage.credentials_profile", err)
	}
}
