package control

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
)

// serverTLS returns a TLS config with a fresh self-signed certificate.
func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	return &tls.Config{Certificates: []tls.Certificate{testcert.SelfSigned(t, "control test").TLS()}}
}

// echoServer stands in for ftpserverlib: it greets, then reads lines with
// a 4096-byte bufio.Reader as the lib does and answers "200 got <line>".
type echoServer struct {
	addr      string
	registry  *Registry
	conns     chan *Conn
	tlsConfig *tls.Config
}

func startEcho(t *testing.T, implicit bool) *echoServer {
	t.Helper()
	return startEchoWith(t, Options{Implicit: implicit})
}

func startEchoWith(t *testing.T, opts Options) *echoServer {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	opts.TLSConfig, opts.Registry = serverTLS(t), reg
	opts.Logger, opts.HandshakeTimeout = zaptest.NewLogger(t), 2*time.Second
	l := NewListener(inner, opts)
	s := &echoServer{addr: inner.Addr().String(), registry: reg, conns: make(chan *Conn, 16), tlsConfig: opts.TLSConfig}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns <- c.(*Conn)
			go serveEcho(c)
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return s
}

// maxVersion caps the server's TLS version.
func (s *echoServer) maxVersion(v uint16) { s.tlsConfig.MaxVersion = v }

func serveEcho(c net.Conn) {
	defer c.Close()
	if _, err := io.WriteString(c, "220 ready\r\n"); err != nil {
		return
	}
	r := bufio.NewReaderSize(c, 4096)
	for {
		line, isPrefix, err := r.ReadLine()
		if err != nil || isPrefix {
			return
		}
		replies := []string{"200 got " + string(line) + "\r\n"}
		if string(line) == "FEAT" { // as the lib writes it: one line per write
			replies = []string{"211- Features\r\n", " EPSV\r\n", " PROT\r\n", "211 end\r\n"}
		}
		for _, r := range replies {
			if _, err := io.WriteString(c, r); err != nil {
				return
			}
		}
	}
}

// dial connects a test client to addr and reads its 220 greeting; the
// connection is closed when the test ends.
func dial(t *testing.T, addr string) *ftptest.MustClient { return ftptest.MustDial(t, addr) }

// expect reads one reply and checks that it starts with prefix.
func expect(t *testing.T, c *ftptest.MustClient, prefix string) ftptest.Reply {
	t.Helper()
	r := c.Reply()
	if !strings.HasPrefix(r.String(), prefix) {
		t.Fatalf("reply %q, want prefix %q", r, prefix)
	}
	return r
}

// cmd sends line as it is and checks the prefix of the reply.
func cmd(t *testing.T, c *ftptest.MustClient, line, prefix string) ftptest.Reply {
	t.Helper()
	c.Send("%s", line)
	return expect(t, c, prefix)
}

func TestAuthTLSThenCommandsAreEncrypted(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.AuthTLS()
	cmd(t, c, "USER alice", "200 got USER alice")
	conn := <-s.conns
	st := conn.State()
	if !st.TLS || st.Cleared || st.Implicit || st.VersionName() != "TLS 1.3" || st.CipherSuiteName() == "" {
		t.Fatalf("state %+v", st)
	}
	if got := s.registry.Lookup(conn.LocalAddr(), conn.RemoteAddr()); got != conn {
		t.Fatalf("registry lookup = %v, want the conn", got)
	}
}

func TestAuthVariantsAndRefusals(t *testing.T) {
	s := startEcho(t, false)
	for _, mech := range []string{"TLS-C", "ssl", "tls"} {
		c := dial(t, s.addr)
		c.Auth(mech)
		cmd(t, c, "AUTH TLS", "503") // already protected
	}
	c := dial(t, s.addr)
	cmd(t, c, "AUTH KERBEROS_V4", "504")
	cmd(t, c, "PBSZ 0", "503")
	cmd(t, c, "PROT P", "503")
	cmd(t, c, "NOOP", "200 got NOOP")
}

// The client's ClientHello may arrive in the same segment as AUTH TLS: the
// bytes already read must feed the handshake.
func TestAuthPipelinedWithClientHello(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.AuthPipelined()
	cmd(t, c, "PWD", "200 got PWD")
}

func TestLineTooLongDropsOnlyThatClient(t *testing.T) {
	s := startEcho(t, false)
	other := dial(t, s.addr)
	c := dial(t, s.addr)
	c.Write(bytes.Repeat([]byte("A"), MaxLineLength+10))
	expect(t, c, "500 Command line too long")
	c.ExpectClosed()
	cmd(t, other, "NOOP", "200 got NOOP")
	// A line of exactly the limit still passes.
	long := "NOOP " + strings.Repeat("x", MaxLineLength-len("NOOP ")-2)
	cmd(t, other, long, "200 got "+long)
}

func TestClientHelloOnExplicitPortIsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	tc := tls.Client(c.Raw(), ftptest.NewTLS())
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS handshake without AUTH succeeded")
	}
	c.ExpectClosed()
}

func TestNonTLSAfter234IsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	cmd(t, c, "AUTH TLS", "234")
	c.Send("USER alice") // clear text where a ClientHello belongs
	c.ExpectClosed()
	ok := dial(t, s.addr)
	cmd(t, ok, "NOOP", "200 got NOOP")
}

func TestMalformedLines(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	cmd(t, c, "NO\x00OP", "500 Malformed")
	cmd(t, c, "NOOP \xff\xf4 ok", "200 got NOOP") // bytes above 0x7f pass (UTF-8, Telnet IAC)
	for i := 0; i < maxBadLines-1; i++ {
		cmd(t, c, "\x01\x02", "500 Malformed")
	}
	cmd(t, c, "\x03", "421")
	c.ExpectClosed()
}

func TestImplicitTLS(t *testing.T) {
	s := startEcho(t, true)
	cfg := ftptest.NewTLS()
	cfg.MaxVersion = tls.VersionTLS12
	c := ftptest.Dialer{Implicit: true, TLS: cfg}.MustDial(t, s.addr)
	cmd(t, c, "AUTH TLS", "503")
	cmd(t, c, "PBSZ 0", "200 got PBSZ 0")
	st := (<-s.conns).State()
	if !st.TLS || !st.Implicit || st.VersionName() != "TLS 1.2" {
		t.Fatalf("state %+v", st)
	}
}

func TestImplicitSilentClientTimesOut(t *testing.T) {
	s := startEcho(t, true)
	start := time.Now()
	// A clear-text client waits for a greeting that never comes: the
	// handshake deadline (2 s here) ends the connection.
	if c, err := (ftptest.Dialer{Timeout: 10 * time.Second}).Connect(s.addr); err == nil {
		_ = c.Close()
		t.Fatalf("greeting %q in clear text on the implicit port", c.Greeting())
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("silent client kept for %s", d)
	}
}

func TestRegistryForgetsClosedConns(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	conn := <-s.conns
	cmd(t, c, "NOOP", "200")
	_ = c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.registry.Lookup(conn.LocalAddr(), conn.RemoteAddr()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("closed conn still registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := conn.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRequireDataTLSRefusesClearTransfers(t *testing.T) {
	s := startEchoWith(t, Options{RequireDataTLS: true})
	c := dial(t, s.addr)
	conn := <-s.conns
	c.AuthTLS()
	cmd(t, c, "LIST", "200 got LIST") // not logged in: the lib answers (530 in real life)
	conn.SetLoggedIn("alice")
	for _, line := range []string{"RETR a", "STOR a", "APPE a", "LIST", "NLST", "MLSD", "PASV", "EPSV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"} {
		cmd(t, c, line, "521")
	}
	cmd(t, c, "PROT P", "503") // PBSZ first
	cmd(t, c, "PBSZ 0", "200 got PBSZ 0")
	cmd(t, c, "PROT C", "200 got PROT C")
	cmd(t, c, "RETR a", "521")
	cmd(t, c, "PASV", "521")
	cmd(t, c, "PROT p", "200 got PROT P") // the lib gets the level in upper case
	cmd(t, c, "PASV", "200 got PASV")
	cmd(t, c, "RETR a", "200 got RETR a")
}
