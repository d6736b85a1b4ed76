package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const policyHash = "$2a$10$CwTycUXWue0Thq9StjUM0uJ8.eDUHSzM0rTeuDM9nl/PJSV8EcF2G" // bcrypt of "x", cost 10

// TestPolicyFromDefaults checks that an account's own keys replace
// [defaults] key by key, an explicit zero or empty list included.
func TestPolicyFromDefaults(t *testing.T) {
	cfg, err := Parse(`
[defaults]
allowed_networks = ["198.51.100.0/24"]
quota_bytes = "10GiB"
quota_files = 1000
max_download_rate = "5MiB"

[[users]]
name = "plain"
password_hash = "` + policyHash + `"

[[users]]
name = "own"
password_hash = "` + policyHash + `"
allowed_networks = []
quota_bytes = "0B"
quota_files = 0
max_download_rate = "1MiB"
max_upload_rate = "512KiB"
expires = "2027-03-31"
disabled = true
`)
	if err != nil {
		t.Fatal(err)
	}
	plain := cfg.Users[0].Policy(cfg.Defaults)
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	if len(plain.AllowedNetworks) != 1 || plain.AllowedNetworks[0] != want[0] || plain.QuotaBytes != 10<<30 ||
		plain.QuotaFiles != 1000 || plain.MaxDownloadRate != 5<<20 || plain.MaxUploadRate != 0 ||
		!plain.Expires.IsZero() || plain.Disabled {
		t.Errorf("plain policy = %+v; want the defaults", plain)
	}
	own := cfg.Users[1].Policy(cfg.Defaults)
	expires := time.Date(2027, 3, 31, 0, 0, 0, 0, time.Local)
	if len(own.AllowedNetworks) != 0 || own.QuotaBytes != 0 || own.QuotaFiles != 0 || own.MaxDownloadRate != 1<<20 ||
		own.MaxUploadRate != 512<<10 || !own.Expires.Equal(expires) || !own.Disabled {
		t.Errorf("own policy = %+v; want its own keys", own)
	}
	if !plain.AllowsFrom(netip.MustParseAddr("::ffff:198.51.100.7")) || plain.AllowsFrom(netip.MustParseAddr("203.0.113.1")) {
		t.Error("AllowsFrom: want 198.51.100.7 (mapped) in, 203.0.113.1 out")
	}
	if !own.AllowsFrom(netip.MustParseAddr("203.0.113.1")) {
		t.Error("an empty allowed_networks allows any address")
	}
	if own.ExpiredAt(expires.Add(-time.Second)) || !own.ExpiredAt(expires) || plain.ExpiredAt(expires.AddDate(100, 0, 0)) {
		t.Error("ExpiredAt: want expired from the start of the date on, never without expires")
	}
}

// TestExpiryForms checks the written forms of expires.
func TestExpiryForms(t *testing.T) {
	for text, want := range map[string]time.Time{
		`"2027-03-31T18:00:00+01:00"`: time.Date(2027, 3, 31, 17, 0, 0, 0, time.UTC),
		`2027-03-31T18:00:00Z`:        time.Date(2027, 3, 31, 18, 0, 0, 0, time.UTC),
		`2027-03-31`:                  time.Date(2027, 3, 31, 0, 0, 0, 0, time.Local),
	} {
		cfg, err := Parse(`
[[users]]
name = "a"
password_hash = "` + policyHash + `"
expires = ` + text)
		if err != nil {
			t.Errorf("expires = %s: %v", text, err)
			continue
		}
		if got := cfg.Users[0].Expires.Time(); !got.Equal(want) {
			t.Errorf("expires = %s: %v, want %v", text, got, want)
		}
	}
}

// TestPolicyKeysValidated checks that a bad value of each policy key is
// reported under its key.
func TestPolicyKeysValidated(t *testing.T) {
	_, err := Parse(`
[defaults]
allowed_networks = ["198.51.100.7/24"]
quota_bytes = "lots"
quota_files = -1
max_upload_rate = "5MB"

[[users]]
name = "a"
password_hash = "` + policyHash + `"
allowed_networks = ["2001:db8::1/48"]
quota_files = -2
max_download_rate = "fast"
expires = "next year"
`)
	if err == nil {
		t.Fatal("Parse accepted bad policy values")
	}
	for _, key := range []string{"defaults.allowed_networks:", "defaults.quota_bytes:", "defaults.quota_files:",
		"defaults.max_upload_rate:", "users[0].allowed_networks:", "users[0].quota_files:",
		"users[0].max_download_rate:", "users[0].expires:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no problem reported for %s in:\n%v", key, err)
		}
	}
}
