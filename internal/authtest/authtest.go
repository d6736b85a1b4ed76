// Package authtest runs an HTTP authentication service for tests of
// [auth.http]: a real net/http server on loopback, TLS with a test CA,
// that checks the bearer token and the X-Ftpsd-Signature of each request
// (401 otherwise) and answers from the accounts the test sets.
package authtest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/hooks"
	"ftpsd/internal/testcert"
)

// Service is the running service.
type Service struct {
	URL string
	// CAFile, TokenFile and SecretFile are the files [auth.http] reads.
	CAFile, TokenFile, SecretFile string

	token, secret string
	srv           *httptest.Server

	mu       sync.Mutex
	accounts map[string]account
	delay    time.Duration
	requests int
	last     map[string]any // the last request's JSON
}

type account struct {
	password string
	fields   map[string]any
}

// Start starts a service with no account; the test's end stops it.
func Start(t testing.TB) *Service {
	t.Helper()
	dir := t.TempDir()
	ca := testcert.Issue(t, "authtest CA", true, nil)
	leaf := testcert.Issue(t, "localhost", false, ca)
	s := &Service{
		token: "token-of-ftpsd", secret: "secret-of-ftpsd", accounts: map[string]account{},
		CAFile:     filepath.Join(dir, "ca.pem"),
		TokenFile:  filepath.Join(dir, "token"),
		SecretFile: filepath.Join(dir, "secret"),
	}
	for file, data := range map[string][]byte{s.CAFile: testcert.CertPEM(ca.Cert), s.TokenFile: []byte(s.token + "\n"), s.SecretFile: []byte(s.secret + "\n")} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	s.URL = s.srv.URL + "/login"
	t.Cleanup(s.srv.Close)
	return s
}

// Config returns [auth.http] for the service, with the token and the
// signature.
func (s *Service) Config() config.HTTPAuth {
	return config.HTTPAuth{
		URL: s.URL, TokenFile: s.TokenFile, SecretFile: s.SecretFile,
		CAFile: s.CAFile, Timeout: config.Duration(5 * time.Second),
	}
}

// Set makes the account user with password; fields are the keys of the
// answer besides "allow" (home, read_only, quota_bytes...).
func (s *Service) Set(user, password string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[user] = account{password: password, fields: fields}
}

// SetDelay makes the service wait d before each answer.
func (s *Service) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns how many authenticated requests the service answered.
func (s *Service) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// LastRequest returns the JSON of the last authenticated request.
func (s *Service) LastRequest() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Stop stops the service: connections are refused from then on.
func (s *Service) Stop() { s.srv.Close() }

// serve answers one POST: 401 without the right token and signature, 400
// for a body that is not a login, else the account's answer: allow with
// its fields for the right password, allow false for a wrong one, and
// allow false with unknown for a user it does not have.
func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := r.Header.Get(hooks.HeaderTimestamp)
	if r.Header.Get("Authorization") != "Bearer "+s.token || r.Header.Get(hooks.HeaderSignature) != hooks.Sign([]byte(s.secret), ts, body) {
		http.Error(w, "bad token or signature", http.StatusUnauthorized)
		return
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	s.last = req
	delay := s.delay
	a, known := s.accounts[req["user"].(string)]
	s.mu.Unlock()
	time.Sleep(delay)
	out := map[string]any{"allow": false}
	switch {
	case !known:
		out["unknown"] = true
	case a.password == req["password"]:
		out["allow"] = true
		for k, v := range a.fields {
			out[k] = v
		}
	default:
		out["message"] = "wrong password for " + req["user"].(string)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
