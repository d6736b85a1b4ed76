package httpauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/auth"
	"ftpsd/auth/httpauth"
	"ftpsd/config"
	"ftpsd/internal/authtest"
)

func source(t *testing.T, c config.HTTPAuth) *httpauth.Source {
	t.Helper()
	opts, err := httpauth.FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	s := httpauth.New(opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ask(s auth.Source, user, pass string) (config.User, error) {
	return s.Authenticate(context.Background(), auth.Request{User: user, Password: pass, Client: netip.MustParseAddr("192.0.2.7")})
}

// TestHTTPSource checks the answers of a real service over TLS: an
// account with its fields, a wrong password, an unknown user, and the
// request it got.
func TestHTTPSource(t *testing.T) {
	svc := authtest.Start(t)
	svc.Set("alice", "s3cret", map[string]any{
		"home": "partners/alice", "read_only": true, "allowed_networks": []string{"192.0.2.0/24"},
		"quota_bytes": "10MiB", "quota_files": 7, "max_download_rate": "1MiB", "max_upload_rate": "2MiB",
		"expires": "2099-01-02", "disabled": false,
	})
	s := source(t, svc.Config())
	u, err := ask(s, "alice", "s3cret")
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	p := u.Policy(config.Defaults{})
	if u.Name != "alice" || u.Home != "partners/alice" || !u.ReadOnly || p.QuotaBytes != 10<<20 || p.QuotaFiles != 7 ||
		p.MaxDownloadRate != 1<<20 || p.MaxUploadRate != 2<<20 || p.Expires.Year() != 2099 ||
		len(p.AllowedNetworks) != 1 || p.AllowedNetworks[0].String() != "192.0.2.0/24" {
		t.Errorf("alice = %+v, policy %+v", u, p)
	}
	req := svc.LastRequest()
	if req["user"] != "alice" || req["password"] != "s3cret" || req["client_ip"] != "192.0.2.7" || req["protocol"] != "ftps" {
		t.Errorf("the service got %v", req)
	}
	if _, err := ask(s, "alice", "wrong"); !errors.Is(err, auth.ErrBadPassword) || !strings.Contains(err.Error(), "wrong password for alice") {
		t.Errorf("wrong password: %v, want ErrBadPassword with the service's message", err)
	}
	if _, err := ask(s, "bob", "x"); !errors.Is(err, auth.ErrUnknownUser) {
		t.Errorf("unknown user: %v, want ErrUnknownUser", err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if req := svc.LastRequest(); req["check"] != true {
		t.Errorf("Check sent %v", req)
	}
}

// TestHTTPSourceUnavailable checks that every way the service cannot
// answer is ErrUnavailable, and that the password is in no error.
func TestHTTPSourceUnavailable(t *testing.T) {
	svc := authtest.Start(t)
	svc.Set("alice", "s3cret", nil)
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("not the service's key"), 0o600); err != nil {
		t.Fatal(err)
	}
	badSecret := svc.Config()
	badSecret.SecretFile = other
	badToken := svc.Config()
	badToken.TokenFile = other
	noCA := svc.Config()
	noCA.CAFile = ""
	slow := svc.Config()
	slow.Timeout = config.Duration(200 * time.Millisecond)

	junk := func(status int, body string) config.HTTPAuth {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return config.HTTPAuth{URL: srv.URL, Timeout: config.Duration(time.Second)}
	}
	cases := []struct {
		name string
		cfg  config.HTTPAuth
		want string
	}{
		{"bad signature", badSecret, "401"},
		{"bad token", badToken, "401"},
		{"untrusted certificate", noCA, "certificate"},
		{"server error", junk(500, "boom"), "500"},
		{"not JSON", junk(200, "<html>"), "not an account"},
		{"unknown key", junk(200, `{"allow": true, "read_onyl": true}`), "read_onyl"},
		{"no allow", junk(200, `{"home": "x"}`), `no "allow"`},
		{"size as a number", junk(200, `{"allow": true, "quota_bytes": 5}`), "quota_bytes"},
		{"too long", junk(200, `{"allow": true, "message": "`+strings.Repeat("x", 70<<10)+`"}`), "longer than"},
		{"redirect", junk(302, ""), "302"},
	}
	for _, tc := range cases {
		_, err := ask(source(t, tc.cfg), "alice", "s3cret")
		if !errors.Is(err, auth.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrUnavailable mentioning %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error holds the password: %v", tc.name, err)
		}
	}

	svc.SetDelay(time.Second)
	start := time.Now()
	if _, err := ask(source(t, slow), "alice", "s3cret"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("timeout: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("a timeout of 200ms took %v", took)
	}
	svc.SetDelay(0)
	s := source(t, svc.Config())
	svc.Stop()
	if _, err := ask(s, "alice", "s3cret"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("service down: %v, want ErrUnavailable", err)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Error("Check with the service down succeeded")
	}
}

// TestFromConfigNamesTheKey checks that a file that cannot be read is
// reported under its key.
func TestFromConfigNamesTheKey(t *testing.T) {
	for key, c := range map[string]config.HTTPAuth{
		"auth.http.token_file":  {TokenFile: "/nonexistent/token"},
		"auth.http.secret_file": {SecretFile: "/nonexistent/secret"},
		"auth.http.ca_file":     {CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := httpauth.FromConfig(c); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("FromConfig(%+v) = %v, want an error naming %s", c, err, key)
		}
	}
}
