package ftptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/testcert"
)

// fakeServer answers one connection at a time from a script: each command
// line is passed to answer, which writes the replies on w (a clear or TLS
// connection) and may switch it.
type fakeServer struct {
	ln  net.Listener
	tls *tls.Config
}

func startFake(t *testing.T, answer func(s *fakeSession, line string) bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, tls: &tls.Config{Certificates: []tls.Certificate{testcert.SelfSigned(t, "ftptest").TLS()}}}
	Serve(t, ln, 10*time.Second, func(conn net.Conn) {
		s := &fakeSession{raw: conn, conn: conn, r: bufio.NewReader(conn), f: f}
		s.write("220 fake ready")
		for {
			line, err := s.r.ReadString('\n')
			if err != nil || !answer(s, strings.TrimRight(line, "\r\n")) {
				return
			}
		}
	})
	return f
}

type fakeSession struct {
	raw, conn net.Conn
	tc        *tls.Conn
	r         *bufio.Reader
	f         *fakeServer
}

func (s *fakeSession) write(lines ...string) {
	for _, l := range lines {
		_, _ = io.WriteString(s.conn, l+"\r\n")
	}
}

// standard answers AUTH TLS, USER, PASS, PBSZ, PROT, CCC (client's
// close_notify first), FEAT (multi-line) and QUIT.
func standard(s *fakeSession, line string) bool {
	switch {
	case line == "AUTH TLS":
		s.write("234 go ahead")
		s.tc = tls.Server(s.raw, s.f.tls)
		if s.tc.Handshake() != nil {
			return false
		}
		s.conn, s.r = s.tc, bufio.NewReader(s.tc)
	case strings.HasPrefix(line, "USER "):
		s.write("331 password please")
	case line == "PASS secret":
		s.write("230 in")
	case strings.HasPrefix(line, "PASS "):
		s.write("530 no")
	case line == "PBSZ 0", line == "PROT P", line == "NOOP":
		s.write("200 ok")
	case line == "CCC":
		s.write("200 CCC")
		if _, err := s.tc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			return false
		}
		_ = s.tc.CloseWrite()
		_ = s.raw.SetWriteDeadline(time.Now().Add(10 * time.Second)) // CloseWrite left it at "now"
		s.conn, s.r = s.raw, bufio.NewReader(s.raw)
	case line == "FEAT":
		s.write("211-Features:", " EPSV", " CCC", "211 End")
	case line == "PASV":
		s.write("227 Entering Passive Mode (127,0,0,1,117,49)")
	case line == "EPSV":
		s.write("229 Entering Extended Passive Mode (|||30001|)")
	case line == "QUIT":
		s.write("221 bye")
		return false
	default:
		s.write("500 what")
	}
	return true
}

func TestClientExchange(t *testing.T) {
	f := startFake(t, standard)
	c := MustDial(t, f.ln.Addr().String())
	if g := c.Greeting(); g.Code != 220 || g.String() != "220 fake ready" {
		t.Fatalf("greeting %+v", g)
	}
	if r := c.Cmd("HELLO"); r.Code != 500 {
		t.Fatalf("HELLO: %v", r)
	}
	if _, err := c.Client.Do(200, "HELLO"); err == nil || !strings.Contains(err.Error(), "HELLO: got 500") {
		t.Fatalf("Do with the wrong code: %v", err)
	}
	c.AuthTLS()
	if st, ok := c.TLSState(); !ok || !st.HandshakeComplete {
		t.Fatal("no TLS after AUTH TLS")
	}
	if err := c.Client.Login("alice", "wrong"); err == nil || !strings.Contains(err.Error(), "530") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("login with a wrong password: %v, want 530 and no password", err)
	}
	c.Login("alice", "secret")
	c.ProtP()
	if !c.protected {
		t.Fatal("PROT P did not switch protection on")
	}
	if msg := c.Do(211, "FEAT").Msg; msg != "Features:\n EPSV\n CCC\nEnd" {
		t.Fatalf("FEAT: %q", msg)
	}
	p := c.Pasv(false)
	if p.Host != "127.0.0.1" || p.Port != 117*256+49 || p.Addr != "127.0.0.1:30001" {
		t.Fatalf("PASV: %+v", p)
	}
	if a := c.EPSV(); a != "127.0.0.1:30001" {
		t.Fatalf("EPSV: %s", a)
	}
	c.CCC()
	if _, ok := c.TLSState(); ok {
		t.Fatal("still TLS after CCC")
	}
	c.Do(200, "NOOP")
	c.Quit()
}

func TestClientExpectClosed(t *testing.T) {
	f := startFake(t, func(s *fakeSession, line string) bool {
		s.write("421 going away")
		return false
	})
	c := MustDial(t, f.ln.Addr().String())
	c.Do(421, "NOOP")
	c.ExpectClosed()

	g := startFake(t, standard)
	d := MustDial(t, g.ln.Addr().String())
	d.Send("NOOP")
	if err := d.Client.ExpectClosed(); err == nil {
		t.Fatal("ExpectClosed on an open connection that replied succeeded")
	}
	d.Timeout = 100 * time.Millisecond
	if err := d.Client.ExpectClosed(); err == nil || !strings.Contains(err.Error(), "not closed") {
		t.Fatalf("ExpectClosed on a silent open connection: %v", err)
	}
}

func TestConnectKeepsOtherGreetings(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	Serve(t, ln, time.Second, func(c net.Conn) { _, _ = io.WriteString(c, "421 Too many connections\r\n") })
	c, err := Dialer{}.Connect(ln.Addr().String())
	if err != nil || c.Greeting().Code != 421 {
		t.Fatalf("Connect: %v %v", c, err)
	}
	_ = c.Close()
	if _, err := Dial(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "want 220") {
		t.Fatalf("Dial of a 421 greeting: %v", err)
	}
}

func TestParsePASV(t *testing.T) {
	got, err := ParsePASV("Entering Passive Mode (192,0,2,7,195,80).")
	if want := netip.MustParseAddrPort("192.0.2.7:50000"); err != nil || got != want {
		t.Fatalf("ParsePASV = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"Entering Passive Mode", "(1,2,3,4,5)", "(256,0,0,1,1,1)"} {
		if _, err := ParsePASV(bad); err == nil {
			t.Errorf("ParsePASV(%q) succeeded", bad)
		}
	}
}

func TestPortRange(t *testing.T) {
	ephLo, _ := ephemeralRange()
	seen := map[int]bool{}
	for _, n := range []int{20, 1, 5, 20} {
		r := PortRange(t, n)
		if r.Len() != n || r.Start < lowestPort || r.End >= ephLo {
			t.Fatalf("PortRange(%d) = %v, want %d ports in %d-%d", n, r, n, lowestPort, ephLo-1)
		}
		for p := r.Start; p <= r.End; p++ {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
			for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
				l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
				if err != nil {
					t.Fatalf("port %d of %v cannot be bound on %s: %v", p, r, host, err)
				}
				_ = l.Close()
			}
		}
	}
	// A port that something holds is never handed out.
	held, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if bindable(held.Addr().(*net.TCPAddr).Port, 1) {
		t.Fatal("a held port counts as bindable")
	}
}

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Eventually stopped after %d calls", n)
	}
	start := time.Now()
	if Eventually(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("Eventually of a false condition held")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Fatalf("Eventually gave up after %v", d)
	}
}

func TestSameData(t *testing.T) {
	a := RandomData(t, 1000)
	b := append([]byte(nil), a...)
	if err := SameData(b, a); err != nil {
		t.Fatal(err)
	}
	b[500] ^= 1
	if err := SameData(b, a); err == nil || !strings.Contains(err.Error(), SHA256Hex(a)) {
		t.Fatalf("SameData of different data: %v", err)
	}
	p := WriteFile(t, t.TempDir(), "sub/a.bin", a)
	if err := SameFile(p, a); err != nil {
		t.Fatal(err)
	}
	if err := SameFile(p+".missing", a); err == nil {
		t.Fatal("SameFile of a missing file succeeded")
	}
	dir := filepath.Dir(filepath.Dir(p))
	WriteFile(t, dir, uploadPrefix+"0123-a.bin", nil)
	if got := PartialUploads(t, dir); len(got) != 1 {
		t.Fatalf("PartialUploads = %v", got)
	}
	if got := DirNames(t, dir); len(got) != 2 || got[1] != "sub" {
		t.Fatalf("DirNames = %v", got)
	}
}

func TestCmd(t *testing.T) {
	out, _, err := Cmd{Env: []string{"FTPTEST_X=1"}, Home: t.TempDir()}.Run("sh", "-c", `echo "$FTPTEST_X $LC_ALL"; echo err >&2`)
	if err != nil || out != "1 C\n" {
		t.Fatalf("Run: %q, %v", out, err)
	}
	_, _, err = Cmd{Timeout: 100 * time.Millisecond}.Run("sleep", "5")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run past its timeout: %v, want ErrTimeout", err)
	}
	if _, err := os.Stat(FtplibClient(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateKeys(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`{"msg":"login","user":"a","session":1}`, nil},
		{`{"msg":"login failed","user":"a","session":1,"user":"a"}`, []string{"user"}},
		{`{"a":{"b":1,"b":2},"c":[{"d":1,"d":1}],"e":{"b":3}}`, []string{"a.b", "c.d"}},
	} {
		got, err := DuplicateKeys([]byte(c.line))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("DuplicateKeys(%s) = %q, %v; want %q", c.line, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"a":`, `{"a":1}{"b":2}`, `not json`} {
		if _, err := DuplicateKeys([]byte(bad)); err == nil {
			t.Errorf("DuplicateKeys(%s): no error", bad)
		}
	}
}
