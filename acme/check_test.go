package acme

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/config"
)

// Check fetches the CA's directory over HTTPS trusting ca_root_file, and
// names acme.ca when it does not answer, is not trusted, or is not an ACME
// directory.
func TestCheckDirectory(t *testing.T) {
	body := `{"newNonce":"x","newAccount":"x","newOrder":"https://ca.test/new-order"}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dir" {
			fmt.Fprint(w, body)
			return
		}
		fmt.Fprint(w, `{"hello":"world"}`)
	}))
	defer srv.Close()
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/dir"
	_ = l.Close()

	a := config.Default().ACME
	a.Domains, a.Challenge = []string{"ftp.example.net"}, config.ChallengeHTTP01
	a.Storage = filepath.Join(t.TempDir(), "acme", "new")
	for _, tc := range []struct {
		name, ca, roots, want string
	}{
		{"answers", srv.URL + "/dir", roots, ""},
		{"not a directory", srv.URL + "/other", roots, "acme.ca: " + srv.URL + "/other is not an ACME directory"},
		{"untrusted", srv.URL + "/dir", "", "acme.ca: the CA's directory is not reachable"},
		{"down", closed, roots, "acme.ca: the CA's directory is not reachable"},
		{"bad roots", srv.URL + "/dir", filepath.Join(t.TempDir(), "missing.pem"), "acme.ca_root_file:"},
	} {
		a.CA, a.CARootFile = tc.ca, tc.roots
		err := Check(context.Background(), a)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// Check wants acme.storage to be a directory or creatable under one.
func TestCheckStorageDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, ok := range map[string]bool{dir: true, filepath.Join(dir, "a", "b"): true, file: false,
		filepath.Join(file, "acme"): false, config.ACMEStorageS3: true} {
		if err := checkStorageDir(path); (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "acme.storage: "+file+" is not a directory") {
			t.Errorf("checkStorageDir(%s) = %v, want ok %v", path, err, ok)
		}
	}
}
