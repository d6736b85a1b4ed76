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

// client is a test peer speaking the control protocol byte by byte.
type client struct {
	t    *testing.T
	raw  net.Conn
	conn net.Conn // raw, or TLS over raw
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = raw.Close() })
	return &client{t: t, raw: raw, conn: raw, r: bufio.NewReader(raw)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// expect reads one reply line and checks its prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply (want %q): %v", prefix, err)
	}
	if !strings.HasPrefix(line, prefix) {
		c.t.Fatalf("reply %q, want prefix %q", line, prefix)
	}
	return line
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	if line, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, got %q", line)
	}
}

func (c *client) startTLS() {
	c.t.Helper()
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func TestAuthTLSThenCommandsAreEncrypted(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	c.send("AUTH TLS")
	c.expect("234")
	c.startTLS()
	c.send("USER alice")
	c.expect("200 got USER alice")
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
		c.expect("220")
		c.send("AUTH " + mech)
		c.expect("234")
		c.startTLS()
		c.send("AUTH TLS")
		c.expect("503") // already protected
	}
	c := dial(t, s.addr)
	c.expect("220")
	c.send("AUTH KERBEROS_V4")
	c.expect("504")
	c.send("PBSZ 0")
	c.expect("503")
	c.send("PROT P")
	c.expect("503")
	c.send("NOOP")
	c.expect("200 got NOOP")
}

// The client's ClientHello may arrive in the same segment as AUTH TLS: the
// bytes already read must feed the handshake.
func TestAuthPipelinedWithClientHello(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	pc := &pipelineConn{Conn: c.raw, prefix: []byte("AUTH TLS\r\n")}
	tc := tls.Client(pc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("pipelined handshake: %v", err)
	}
	if !strings.HasPrefix(pc.reply, "234 ") {
		t.Fatalf("reply to AUTH = %q", pc.reply)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.send("PWD")
	c.expect("200 got PWD")
}

// pipelineConn sends prefix in the same write as the first TLS record, and
// takes the clear-text reply line off the stream before TLS reads it.
type pipelineConn struct {
	net.Conn
	prefix []byte
	reply  string
}

func (p *pipelineConn) Write(b []byte) (int, error) {
	if p.prefix != nil {
		buf := append(p.prefix, b...)
		p.prefix = nil
		if _, err := p.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return p.Conn.Write(b)
}

func (p *pipelineConn) Read(b []byte) (int, error) {
	for !strings.HasSuffix(p.reply, "\n") {
		var one [1]byte
		if _, err := p.Conn.Read(one[:]); err != nil {
			return 0, err
		}
		p.reply += string(one[:])
	}
	return p.Conn.Read(b)
}

func TestLineTooLongDropsOnlyThatClient(t *testing.T) {
	s := startEcho(t, false)
	other := dial(t, s.addr)
	other.expect("220")
	c := dial(t, s.addr)
	c.expect("220")
	if _, err := c.raw.Write(bytes.Repeat([]byte("A"), MaxLineLength+10)); err != nil {
		t.Fatal(err)
	}
	c.expect("500 Command line too long")
	c.closed()
	other.send("NOOP")
	other.expect("200 got NOOP")
	// A line of exactly the limit still passes.
	long := "NOOP " + strings.Repeat("x", MaxLineLength-len("NOOP ")-2)
	other.send(long)
	other.expect("200 got " + long)
}

func TestClientHelloOnExplicitPortIsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS handshake without AUTH succeeded")
	}
	c.closed()
}

func TestNonTLSAfter234IsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	c.send("AUTH TLS")
	c.expect("234")
	c.send("USER alice") // clear text where a ClientHello belongs
	c.closed()
	ok := dial(t, s.addr)
	ok.expect("220")
	ok.send("NOOP")
	ok.expect("200 got NOOP")
}

func TestMalformedLines(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	c.send("NO\x00OP")
	c.expect("500 Malformed")
	c.send("NOOP \xff\xf4 ok") // bytes above 0x7f pass (UTF-8, Telnet IAC)
	c.expect("200 got NOOP")
	for i := 0; i < maxBadLines-1; i++ {
		c.send("\x01\x02")
		c.expect("500 Malformed")
	}
	c.send("\x03")
	c.expect("421")
	c.closed()
}

func TestImplicitTLS(t *testing.T) {
	s := startEcho(t, true)
	raw, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	c := &client{t: t, raw: raw, conn: tc, r: bufio.NewReader(tc)}
	c.expect("220")
	c.send("AUTH TLS")
	c.expect("503")
	c.send("PBSZ 0")
	c.expect("200 got PBSZ 0")
	st := (<-s.conns).State()
	if !st.TLS || !st.Implicit || st.VersionName() != "TLS 1.2" {
		t.Fatalf("state %+v", st)
	}
}

func TestImplicitSilentClientTimesOut(t *testing.T) {
	s := startEcho(t, true)
	c := dial(t, s.addr)
	start := time.Now()
	c.closed() // the handshake deadline (2 s here) ends the connection
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("silent client kept for %s", d)
	}
}

func TestRegistryForgetsClosedConns(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.expect("220")
	conn := <-s.conns
	c.send("NOOP")
	c.expect("200")
	_ = c.raw.Close()
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
	c.expect("220")
	conn := <-s.conns
	c.send("AUTH TLS")
	c.expect("234")
	c.startTLS()
	c.send("LIST") // not logged in: the lib answers (530 in real life)
	c.expect("200 got LIST")
	conn.SetLoggedIn("alice")
	for _, cmd := range []string{"RETR a", "STOR a", "APPE a", "LIST", "NLST", "MLSD"} {
		c.send(cmd)
		c.expect("521")
	}
	c.send("PROT C")
	c.expect("200 got PROT C")
	c.send("RETR a")
	c.expect("521")
	c.send("PROT P")
	c.expect("200 got PROT P")
	c.send("RETR a")
	c.expect("200 got RETR a")
}
