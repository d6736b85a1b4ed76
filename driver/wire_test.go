package driver_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// What the raw-client tests share: a file whose bytes must never cross the
// network in clear, clients at a chosen TLS version, and data connections
// whose raw bytes are recorded.

// plainMarker is file content that must never cross the network in clear
// once PROT P is on.
const plainMarker = "FTPSD-PLAINTEXT-MARKER-7f3a9c"

func markerContent() []byte {
	return bytes.Repeat([]byte(plainMarker+"\n"), 2000)
}

// serveMarker starts a server (testConfig changed by edit, which may be
// nil) whose user alice has marker.txt, and returns the file's content.
func serveMarker(t *testing.T, edit func(*config.Config)) (*testServer, []byte) {
	t.Helper()
	ts := startServer(t, edit)
	content := markerContent()
	ftptest.WriteFile(t, ts.AliceDir(), "marker.txt", content)
	return ts, content
}

// tlsUpTo is ftptest.NewTLS at most at TLS version maxVersion.
func tlsUpTo(maxVersion uint16) *tls.Config {
	cfg := ftptest.NewTLS()
	cfg.MaxVersion = maxVersion
	return cfg
}

// authAt connects to addr over explicit FTPS at TLS version version.
func authAt(t *testing.T, addr string, version uint16) *ftptest.MustClient {
	t.Helper()
	c := ftptest.Dialer{TLS: tlsUpTo(version)}.MustDial(t, addr)
	c.AuthTLS()
	if st, _ := c.TLSState(); st.Version != version {
		t.Fatalf("control channel negotiated %s, want %s", tls.VersionName(st.Version), tls.VersionName(version))
	}
	return c
}

// loginAt is authAt logged in as user with PROT P.
func loginAt(t *testing.T, addr string, version uint16, user, pass string) *ftptest.MustClient {
	t.Helper()
	c := authAt(t, addr, version)
	c.Login(user, pass)
	c.ProtP()
	return c
}

// recorder is a net.Conn that keeps a copy of every byte read from it.
type recorder struct {
	net.Conn
	mu   sync.Mutex
	read bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.read.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.read.Bytes())
}

// readAllBounded reads conn until EOF or an error and returns the bytes;
// a reset or timeout is reported as the error, not as a failure.
func readAllBounded(conn net.Conn, d time.Duration) ([]byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(conn)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return b, err
}

// recordedTransfer runs one data command (RETR, LIST...) over a PROT P
// data connection after PASV, records the raw bytes the server sends and
// returns them with the decrypted stream and whether the data TLS session
// was resumed. The data channel must negotiate TLS 1.2 or later.
func recordedTransfer(t *testing.T, c *ftptest.MustClient, command string) (raw, plain []byte, resumed bool) {
	t.Helper()
	rec := &recorder{Conn: c.DialData(c.PASV())}
	c.Do(150, "%s", command)
	tc := tls.Client(rec, c.TLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("%s: data TLS handshake: %v", command, err)
	}
	if st := tc.ConnectionState(); st.Version < tls.VersionTLS12 {
		t.Fatalf("%s: data channel negotiated %s", command, tls.VersionName(st.Version))
	}
	plain, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("%s: read protected data: %v", command, err)
	}
	c.Expect(226, command)
	resumed = tc.ConnectionState().DidResume
	_ = tc.Close()
	return rec.bytes(), plain, resumed
}

// assertResumedMarker runs RETR marker.txt (see recordedTransfer) and
// fails unless the data connection resumed a session, carried TLS records
// only and delivered content.
func assertResumedMarker(t *testing.T, c *ftptest.MustClient, what string, content []byte) {
	t.Helper()
	raw, plain, resumed := recordedTransfer(t, c, "RETR marker.txt")
	assertTLSRecords(t, what, raw, plainMarker)
	ftptest.MustSameData(t, what, plain, content)
	if !resumed {
		t.Fatalf("%s: the data connection did not resume the control connection's session", what)
	}
}

// assertTLSRecords fails unless raw is a TLS stream that does not show
// secret in clear.
func assertTLSRecords(t *testing.T, what string, raw []byte, secret string) {
	t.Helper()
	if len(raw) < 5 || raw[0] != 0x16 || raw[1] != 0x03 {
		t.Fatalf("%s: server's first data bytes are not a TLS handshake record: % x", what, raw[:min(len(raw), 16)])
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("%s: %q crossed the data connection in clear", what, secret)
	}
}

// featLines sends FEAT and returns its feature lines, trimmed.
func featLines(c *ftptest.MustClient) []string {
	var out []string
	for _, l := range strings.Split(c.Do(211, "FEAT").Msg, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}
