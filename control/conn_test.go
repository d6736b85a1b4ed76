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

// dialog is the conversation of a test client with the server, shared by
// client and cccClient: each is a peer that writes commands to its writer
// and reads reply lines with its readLine.
type dialog struct {
	t    *testing.T
	peer interface {
		writer() io.Writer
		readLine() (string, error)
	}
}

func (d dialog) send(line string) {
	d.t.Helper()
	if _, err := io.WriteString(d.peer.writer(), line+"\r\n"); err != nil {
		d.t.Fatalf("send %q: %v", line, err)
	}
}

// expect reads one reply line and checks its prefix.
func (d dialog) expect(prefix string) string {
	d.t.Helper()
	line, err := d.peer.readLine()
	if err != nil {
		d.t.Fatalf("reading reply (want %q): %v", prefix, err)
	}
	if !strings.HasPrefix(line, prefix) {
		d.t.Fatalf("reply %q, want prefix %q", line, prefix)
	}
	return line
}

// cmd sends line and checks the prefix of the reply.
func (d dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line)
	return d.expect(prefix)
}

// client is a test peer speaking the control protocol byte by byte.
type client struct {
	dialog
	raw  net.Conn
	conn net.Conn // raw, or TLS over raw
	r    *bufio.Reader
}

// connect opens a clear-text connection to addr.
func connect(t *testing.T, addr string) *client {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, raw)
}

// newClient is a client on raw, which it closes when the test ends.
func newClient(t *testing.T, raw net.Conn) *client {
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = raw.Close() })
	c := &client{raw: raw, conn: raw, r: bufio.NewReader(raw)}
	c.dialog = dialog{t: t, peer: c}
	return c
}

// dial connects to addr and reads the greeting.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	c := connect(t, addr)
	c.expect("220")
	return c
}

func (c *client) writer() io.Writer { return c.conn }

func (c *client) readLine() (string, error) { return c.r.ReadString('\n') }

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	if line, err := c.readLine(); err == nil {
		c.t.Fatalf("connection still open, got %q", line)
	}
}

// startTLS sends AUTH mech and, on its 234, handshakes.
func (c *client) startTLS(mech string) {
	c.t.Helper()
	c.cmd("AUTH "+mech, "234")
	c.useTLS(clientTLS(c.t, c.raw))
}

// useTLS makes tc (over raw) the client's connection.
func (c *client) useTLS(tc *tls.Conn) { c.conn, c.r = tc, bufio.NewReader(tc) }

// clientTLS runs a client TLS handshake over conn, trusting any server.
func clientTLS(t *testing.T, conn net.Conn) *tls.Conn {
	t.Helper()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return tc
}

func TestAuthTLSThenCommandsAreEncrypted(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.startTLS("TLS")
	c.cmd("USER alice", "200 got USER alice")
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
		c.startTLS(mech)
		c.cmd("AUTH TLS", "503") // already protected
	}
	c := dial(t, s.addr)
	c.cmd("AUTH KERBEROS_V4", "504")
	c.cmd("PBSZ 0", "503")
	c.cmd("PROT P", "503")
	c.cmd("NOOP", "200 got NOOP")
}

// The client's ClientHello may arrive in the same segment as AUTH TLS: the
// bytes already read must feed the handshake.
func TestAuthPipelinedWithClientHello(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	pc := &pipelineConn{Conn: c.raw, prefix: []byte("AUTH TLS\r\n")}
	tc := clientTLS(t, pc)
	if !strings.HasPrefix(pc.reply, "234 ") {
		t.Fatalf("reply to AUTH = %q", pc.reply)
	}
	c.useTLS(tc)
	c.cmd("PWD", "200 got PWD")
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
	c := dial(t, s.addr)
	if _, err := c.raw.Write(bytes.Repeat([]byte("A"), MaxLineLength+10)); err != nil {
		t.Fatal(err)
	}
	c.expect("500 Command line too long")
	c.closed()
	other.cmd("NOOP", "200 got NOOP")
	// A line of exactly the limit still passes.
	long := "NOOP " + strings.Repeat("x", MaxLineLength-len("NOOP ")-2)
	other.cmd(long, "200 got "+long)
}

func TestClientHelloOnExplicitPortIsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS handshake without AUTH succeeded")
	}
	c.closed()
}

func TestNonTLSAfter234IsDropped(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.cmd("AUTH TLS", "234")
	c.send("USER alice") // clear text where a ClientHello belongs
	c.closed()
	ok := dial(t, s.addr)
	ok.cmd("NOOP", "200 got NOOP")
}

func TestMalformedLines(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	c.cmd("NO\x00OP", "500 Malformed")
	c.cmd("NOOP \xff\xf4 ok", "200 got NOOP") // bytes above 0x7f pass (UTF-8, Telnet IAC)
	for i := 0; i < maxBadLines-1; i++ {
		c.cmd("\x01\x02", "500 Malformed")
	}
	c.cmd("\x03", "421")
	c.closed()
}

func TestImplicitTLS(t *testing.T) {
	s := startEcho(t, true)
	c := connect(t, s.addr)
	c.useTLS(tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}))
	c.expect("220")
	c.cmd("AUTH TLS", "503")
	c.cmd("PBSZ 0", "200 got PBSZ 0")
	st := (<-s.conns).State()
	if !st.TLS || !st.Implicit || st.VersionName() != "TLS 1.2" {
		t.Fatalf("state %+v", st)
	}
}

func TestImplicitSilentClientTimesOut(t *testing.T) {
	s := startEcho(t, true)
	c := connect(t, s.addr)
	start := time.Now()
	c.closed() // the handshake deadline (2 s here) ends the connection
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("silent client kept for %s", d)
	}
}

func TestRegistryForgetsClosedConns(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	conn := <-s.conns
	c.cmd("NOOP", "200")
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
	conn := <-s.conns
	c.startTLS("TLS")
	c.cmd("LIST", "200 got LIST") // not logged in: the lib answers (530 in real life)
	conn.SetLoggedIn("alice")
	for _, cmd := range []string{"RETR a", "STOR a", "APPE a", "LIST", "NLST", "MLSD", "PASV", "EPSV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"} {
		c.cmd(cmd, "521")
	}
	c.cmd("PROT P", "503") // PBSZ first
	c.cmd("PBSZ 0", "200 got PBSZ 0")
	c.cmd("PROT C", "200 got PROT C")
	c.cmd("RETR a", "521")
	c.cmd("PASV", "521")
	c.cmd("PROT p", "200 got PROT P") // the lib gets the level in upper case
	c.cmd("PASV", "200 got PASV")
	c.cmd("RETR a", "200 got RETR a")
}
