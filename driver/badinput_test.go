package driver_test

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// rawSession is a clear-text control connection for bad-input tests.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func rawDial(t *testing.T, addr string) *rawSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	t.Cleanup(func() { _ = conn.Close() })
	s := &rawSession{t: t, conn: conn, r: bufio.NewReader(conn)}
	s.expect("220")
	return s
}

func (s *rawSession) write(b []byte) {
	s.t.Helper()
	if _, err := s.conn.Write(b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// expect reads the next reply line and checks its code.
func (s *rawSession) expect(code string) string {
	s.t.Helper()
	line, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("want a %s reply: %v", code, err)
	}
	if !strings.HasPrefix(line, code) {
		s.t.Fatalf("reply %q, want %s", line, code)
	}
	return line
}

// dropped checks that the server closed the connection.
func (s *rawSession) dropped() {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return
		}
		if !strings.HasPrefix(line, "5") && !strings.HasPrefix(line, "4") {
			s.t.Fatalf("connection still serving: %q", line)
		}
	}
}

// stillServing checks that a fresh client can log in and list.
func stillServing(t *testing.T, s *testServer) {
	t.Helper()
	c := secLogin(t, s.Addr)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("another client cannot list: %v", err)
	}
}

func hasLog(s *testServer, msg string) bool {
	return s.Logs.FilterMessage(msg).Len() > 0
}

func TestBadClientsAreDroppedOthersServed(t *testing.T) {
	s := startServer(t, nil)
	bystander := secLogin(t, s.Addr) // a session open during the abuse

	long := rawDial(t, s.Addr)
	long.write(append([]byte("USER "), bytes.Repeat([]byte("x"), 10000)...))
	long.expect("500")
	long.dropped()

	junk := rawDial(t, s.Addr)
	for i := 0; i < 5; i++ {
		junk.write([]byte("\x00\x01\x02garbage\x7f\r\n"))
	}
	junk.dropped()

	notTLS := rawDial(t, s.Addr)
	notTLS.write([]byte("AUTH TLS\r\n"))
	notTLS.expect("234")
	notTLS.write([]byte("USER alice\r\nPASS alice-secret\r\n"))
	notTLS.dropped()

	hello := rawDial(t, s.Addr)
	hello.write([]byte{0x16, 0x03, 0x01, 0x00, 0x20, 1, 2, 3})
	hello.dropped()

	for _, msg := range []string{"dropping control connection", "control TLS handshake failed"} {
		if !hasLog(s, msg) {
			t.Errorf("no %q log line", msg)
		}
	}
	if _, err := bystander.List("/"); err != nil {
		t.Fatalf("the open session broke: %v", err)
	}
	stillServing(t, s)
}

func TestUnknownCommandBeforeAuth(t *testing.T) {
	s := startServer(t, nil)
	c := rawDial(t, s.Addr)
	c.write([]byte("HELLO there\r\n"))
	c.expect("500")
	c.write([]byte("USER alice\r\n")) // require = "all": TLS first
	line := c.expect("530")
	if !strings.Contains(line, "TLS") {
		t.Fatalf("refusal %q does not mention TLS", line)
	}
	if !hasLog(s, "login refused") {
		t.Error("no login refused log line")
	}
	stillServing(t, s)
}
