package tlsconf

import (
	"crypto/tls"
	"regexp"
	"testing"

	"go.uber.org/zap/zaptest"
)

// aeadName matches the IANA names of TLS 1.2 suites with forward secrecy
// and an AEAD.
var aeadName = regexp.MustCompile(`^TLS_ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$`)

// TestTLS12OnlyAEADWithForwardSecrecy handshakes TLS 1.2 with each suite
// Go implements, one at a time: only ECDHE with AES-GCM or
// ChaCha20-Poly1305 may succeed (the certificate is ECDSA, so the RSA
// twins are checked by name in the config).
func TestTLS12OnlyAEADWithForwardSecrecy(t *testing.T) {
	s, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	allowed := map[uint16]bool{}
	for _, id := range aeadSuites {
		allowed[id] = true
	}
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, suite := range all {
		client := insecure()
		client.MaxVersion = tls.VersionTLS12
		client.CipherSuites = []uint16{suite.ID}
		st, err := dial(addr, client)
		switch {
		case err == nil && !allowed[suite.ID]:
			t.Errorf("TLS 1.2 handshake with %s succeeded; want only ECDHE with AEAD", suite.Name)
		case err == nil:
			t.Logf("accepted %s", tls.CipherSuiteName(st.CipherSuite))
		}
	}
	for _, id := range aeadSuites {
		if name := tls.CipherSuiteName(id); !aeadName.MatchString(name) {
			t.Errorf("configured suite %s is not ECDHE with AES-GCM or ChaCha20-Poly1305", name)
		}
	}
	if st := mustDial(t, addr, insecure()); st.Version != tls.VersionTLS13 {
		t.Errorf("default client negotiated %#x, want TLS 1.3", st.Version)
	}
}
