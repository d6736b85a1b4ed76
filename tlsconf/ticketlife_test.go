package tlsconf

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// serveCapped serves cfg on 127.0.0.1 through CapTicketLifetime: each
// connection handshakes, gets one byte and is read until the client
// closes. It returns the address.
func serveCapped(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ftptest.Serve(t, ln, 10*time.Second, func(c net.Conn) {
		tc := tls.Server(CapTicketLifetime(c, cfg))
		if _, err := tc.Write([]byte{'!'}); err == nil {
			_, _ = io.Copy(io.Discard, tc)
		}
	})
	return ln.Addr().String()
}

// lifetimeHint matches openssl s_client's line for a session ticket.
var lifetimeHint = regexp.MustCompile(`TLS session ticket lifetime hint: (\d+)`)

// TestTicketLifetimeOnTheWire connects with openssl s_client over each
// TLS 1.3 cipher suite: the ticket announces a day (not crypto/tls's 7
// days), and resumes, so the rewritten record authenticates.
func TestTicketLifetimeOnTheWire(t *testing.T) {
	openssl := testenv.NeedTool(t, "openssl", "openssl")
	s, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveCapped(t, s.Config())
	for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(suite, func(t *testing.T) {
			sess := filepath.Join(t.TempDir(), "session.pem")
			args := []string{"s_client", "-connect", addr, "-tls1_3", "-ciphersuites", suite}
			cmd := ftptest.Cmd{Stdin: strings.NewReader(""), Timeout: 20 * time.Second}
			out, _ := cmd.MustRun(t, openssl, append(args, "-sess_out", sess)...)
			m := lifetimeHint.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("openssl printed no ticket lifetime:\n%s", out)
			}
			t.Logf("%s: lifetime hint %s s", suite, m[1])
			if m[1] != "86400" {
				t.Errorf("%s: ticket lifetime hint %s s, want 86400", suite, m[1])
			}
			out, _ = cmd.MustRun(t, openssl, append(args, "-sess_in", sess)...)
			if !strings.Contains(out, "Reused, TLSv1.3") {
				t.Errorf("%s: the ticket did not resume:\n%s", suite, out)
			}
		})
	}
}

// TestTicketLifetimeGoClient checks that Go's client resumes a capped
// ticket, over TLS 1.3 and TLS 1.2 (whose tickets pass untouched).
func TestTicketLifetimeGoClient(t *testing.T) {
	s, err := New(Options{SelfSigned: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveCapped(t, s.Config())
	for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := insecure()
		client.MaxVersion = vers
		client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		for i, resumed := range []bool{false, true} {
			st, err := readOne(addr, client)
			if err != nil {
				t.Fatalf("%s connection %d: %v", tls.VersionName(vers), i, err)
			}
			if st.Version != vers || st.DidResume != resumed {
				t.Errorf("%s connection %d: version %s, resumed %v; want resumed %v",
					tls.VersionName(vers), i, tls.VersionName(st.Version), st.DidResume, resumed)
			}
		}
	}
}

// readOne handshakes and reads the server's byte (so that a TLS 1.3 ticket
// is received and stored).
func readOne(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}
