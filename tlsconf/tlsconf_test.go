package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/internal/testcert"
)

// --- certificate fixtures, generated per test ---

type keyPair = testcert.Pair

func issue(t *testing.T, cn string, isCA bool, parent *keyPair) *keyPair {
	return testcert.Issue(t, cn, isCA, parent)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePair writes kp (followed by chain) and its key to dir and returns the paths.
func writePair(t *testing.T, dir string, kp *keyPair, chain ...*x509.Certificate) (string, string) {
	t.Helper()
	return kp.Write(t, dir, chain...)
}

// newFileStore writes kp to dir and returns a store that loads it from
// there, and the certificate's path.
func newFileStore(t *testing.T, dir string, kp *keyPair) (*Store, string) {
	t.Helper()
	certPath, keyPath := writePair(t, dir, kp)
	s, err := New(Options{CertFile: certPath, KeyFile: keyPath}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s, certPath
}

// --- TLS server helper ---

// serve listens on 127.0.0.1 with cfg, handshakes every accepted connection
// and returns the address. Everything is torn down on test cleanup.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func mustDial(t *testing.T, addr string, cfg *tls.Config) tls.ConnectionState {
	t.Helper()
	st, err := dial(addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return st
}

func insecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

var fingerprintRE = regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`)

// --- tests ---

func TestNewMinVersion(t *testing.T) {
	for in, want := range map[uint16]uint16{0: tls.VersionTLS12, tls.VersionTLS12: tls.VersionTLS12, tls.VersionTLS13: tls.VersionTLS13} {
		s, err := New(Options{SelfSigned: true, MinVersion: in}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("New(MinVersion=%#x): %v", in, err)
		}
		if got := s.Config().MinVersion; got != want {
			t.Errorf("MinVersion %#x: got %#x want %#x", in, got, want)
		}
	}
	_, err := New(Options{SelfSigned: true, MinVersion: tls.VersionTLS11}, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "0x0302") {
		t.Fatalf("New(MinVersion=TLS 1.1) error = %v, want error naming 0x0302", err)
	}
}

func TestSelfSignedHandshake(t *testing.T) {
	s, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg != s.Config() {
		t.Fatal("Config() returned different pointers")
	}
	if cfg.NextProtos != nil || cfg.SessionTicketsDisabled {
		t.Fatalf("unexpected config: NextProtos=%v SessionTicketsDisabled=%v", cfg.NextProtos, cfg.SessionTicketsDisabled)
	}
	st := mustDial(t, serve(t, cfg), insecure())
	peer := st.PeerCertificates[0]
	if got := fingerprint(peer); got != s.Fingerprint() {
		t.Fatalf("peer fingerprint %s != Fingerprint() %s", got, s.Fingerprint())
	}
	sum := sha256.Sum256(peer.Raw)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := strings.ReplaceAll(s.Fingerprint(), ":", ""); got != want {
		t.Fatalf("Fingerprint() = %s, want hex %s", s.Fingerprint(), want)
	}
	if !fingerprintRE.MatchString(s.Fingerprint()) {
		t.Fatalf("Fingerprint() %q has wrong format", s.Fingerprint())
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	s, err := New(Options{SelfSigned: true, Hosts: []string{"ftp.example.org", "192.0.2.7"}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	leaf := s.Leaf()
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("public key type %T, want ECDSA", leaf.PublicKey)
	}
	if err := leaf.VerifyHostname("ftp.example.org"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("192.0.2.7"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("localhost"); err == nil {
		t.Error("custom Hosts should replace the defaults")
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 364*24*time.Hour || d > 367*24*time.Hour {
		t.Errorf("validity %v, want about one year", d)
	}
	if leaf.NotBefore.After(time.Now().Add(-59 * time.Minute)) {
		t.Errorf("NotBefore %v should be about one hour ago", leaf.NotBefore)
	}

	def, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := def.Leaf().VerifyHostname(h); err != nil {
			t.Errorf("default SAN %s: %v", h, err)
		}
	}
}

// TestSelfSignedPEM loads the PEM pair SelfSignedPEM returns from files,
// as the first-run default does: a matching ECDSA pair for the loopback
// names, valid for about a year.
func TestSelfSignedPEM(t *testing.T) {
	certPEM, keyPEM, err := SelfSignedPEM(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	s, err := New(Options{CertFile: certFile, KeyFile: keyFile}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New with SelfSignedPEM's files: %v", err)
	}
	leaf := s.Leaf()
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("public key type %T, want ECDSA", leaf.PublicKey)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("SAN %s: %v", h, err)
		}
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 364*24*time.Hour || d > 367*24*time.Hour {
		t.Errorf("validity %v, want about one year", d)
	}
	again, _, err := SelfSignedPEM(nil)
	if err != nil || bytes.Equal(again, certPEM) {
		t.Errorf("a second SelfSignedPEM returned the same certificate (%v)", err)
	}
}

func TestSelfSignedReloadKeepsCert(t *testing.T) {
	s, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	before := s.Fingerprint()
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if s.Fingerprint() != before {
		t.Fatal("self-signed Reload changed the certificate")
	}
}

func TestSelfSignedLogs(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(Options{SelfSigned: true}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["sha256"] != s.Fingerprint() {
		t.Errorf("logged sha256 %v, want %s", fields["sha256"], s.Fingerprint())
	}
	if got, ok := fields["not_after"].(time.Time); !ok || !got.Equal(s.Leaf().NotAfter) {
		t.Errorf("logged not_after %v, want %v", fields["not_after"], s.Leaf().NotAfter)
	}
}

func TestMinVersion13RefusesTLS12Client(t *testing.T) {
	s, err := New(Options{SelfSigned: true, MinVersion: tls.VersionTLS13}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	client := insecure()
	client.MaxVersion = tls.VersionTLS12
	if _, err := dial(addr, client); err == nil {
		t.Fatal("TLS 1.2 client handshake succeeded against MinVersion 1.3")
	}
	if st := mustDial(t, addr, insecure()); st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %#x, want TLS 1.3", st.Version)
	}
}

func TestFilesChain(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "Test CA", true, nil)
	leaf := issue(t, "localhost", false, ca)
	certPath, keyPath := writePair(t, dir, leaf, ca.Cert)

	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(Options{CertFile: certPath, KeyFile: keyPath}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if s.Leaf().Subject.CommonName != "localhost" {
		t.Fatalf("Leaf CN = %q", s.Leaf().Subject.CommonName)
	}
	if e := logs.All(); len(e) != 1 {
		t.Fatalf("got %d log entries, want 1", len(e))
	} else if f := e[0].ContextMap(); f["sha256"] != s.Fingerprint() || f["cert_file"] != certPath ||
		f["subject_cn"] != "localhost" || f["not_after"] == nil {
		t.Fatalf("unexpected load log fields: %v", f)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	st := mustDial(t, serve(t, s.Config()), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if n := len(st.PeerCertificates); n != 2 {
		t.Fatalf("server presented %d certificates, want 2", n)
	}
	if !st.PeerCertificates[0].Equal(leaf.Cert) || !st.PeerCertificates[1].Equal(ca.Cert) {
		t.Fatal("presented chain is not leaf, CA")
	}
	if len(st.VerifiedChains) == 0 {
		t.Fatal("no verified chains")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	kp := issue(t, "localhost", false, nil)
	certPath, keyPath := writePair(t, dir, kp)
	otherKey := filepath.Join(dir, "other-key.pem")
	writeFile(t, otherKey, testcert.SelfSigned(t, "other").KeyPEM(t))
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("this is not PEM at all\n"))
	badDER := filepath.Join(dir, "bad-der.pem")
	writeFile(t, badDER, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	missing := filepath.Join(dir, "does-not-exist.pem")

	tests := []struct {
		name      string
		cert, key string
		want      []string
	}{
		{"missing cert", missing, keyPath, []string{missing}},
		{"missing key", certPath, missing, []string{missing}},
		{"garbage cert", garbage, keyPath, []string{garbage}},
		{"bad cert DER", badDER, keyPath, []string{badDER}},
		{"garbage key", certPath, garbage, []string{garbage}},
		{"mismatched key", certPath, otherKey, []string{certPath, otherKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{CertFile: tt.cert, KeyFile: tt.key}, zaptest.NewLogger(t))
			if err == nil {
				t.Fatalf("New succeeded (%v), want error", s)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	a := issue(t, "cert-a", false, nil)
	s, certPath := newFileStore(t, dir, a)
	cfg := s.Config()
	addr := serve(t, cfg)
	if got := mustDial(t, addr, insecure()).PeerCertificates[0]; !got.Equal(a.Cert) {
		t.Fatal("initial handshake did not present A")
	}

	b := issue(t, "cert-b", false, nil)
	writePair(t, dir, b)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if s.Config() != cfg {
		t.Fatal("Config() pointer changed after Reload")
	}
	assertPresents(t, s, addr, b)

	writeFile(t, certPath, []byte("garbage"))
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), certPath) {
		t.Fatalf("Reload with garbage = %v, want error naming %s", err, certPath)
	}
	assertPresents(t, s, addr, b)
}

func assertPresents(t *testing.T, s *Store, addr string, want *keyPair) {
	t.Helper()
	got := mustDial(t, addr, insecure()).PeerCertificates[0]
	if !got.Equal(want.Cert) {
		t.Fatalf("handshake presented %q, want %q", got.Subject.CommonName, want.Cert.Subject.CommonName)
	}
	if !s.Leaf().Equal(want.Cert) || s.Fingerprint() != fingerprint(want.Cert) {
		t.Fatal("Leaf()/Fingerprint() do not match the expected certificate")
	}
}

func TestConcurrentReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, issue(t, "localhost", false, nil))
	s, err := New(Options{CertFile: certPath, KeyFile: keyPath}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := s.Reload(); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := dial(addr, insecure()); err != nil {
				t.Error(err)
			}
			_ = s.Fingerprint()
		}()
	}
	wg.Wait()
}
