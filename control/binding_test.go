package control

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fakeData is the server side of a data connection.
type fakeData struct {
	net.Conn
	local, remote *net.TCPAddr
}

func (f fakeData) LocalAddr() net.Addr  { return f.local }
func (f fakeData) RemoteAddr() net.Addr { return f.remote }

func passiveData(port int) net.Conn {
	return fakeData{local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port},
		remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000}}
}

func activeData(ip string, port int) net.Conn {
	return fakeData{local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20},
		remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

func newTestConn(reg *Registry) (*Conn, *scriptConn) {
	raw := &scriptConn{}
	c, _ := newConn(raw, &Options{Registry: reg, Logger: zap.NewNop()})
	return c, raw
}

func TestPassiveRepliesBindPorts(t *testing.T) {
	reg := NewRegistry()
	a, _ := newTestConn(reg)
	b, _ := newTestConn(reg)
	if a.ID() == b.ID() || a.ID() == 0 {
		t.Fatalf("ids %d and %d", a.ID(), b.ID())
	}
	mustWrite(t, a, "227 Entering Passive Mode (127,0,0,1,195,80).\r\n") // 50000
	mustWrite(t, b, "229 Entering Extended Passive Mode (|||50001|)\r\n")
	if got := reg.DataOwner(passiveData(50000)); got != a {
		t.Fatalf("owner of 50000 = %v, want a", got)
	}
	if got := reg.DataOwner(passiveData(50001)); got != b {
		t.Fatalf("owner of 50001 = %v, want b", got)
	}
	// A second PASV releases the first port; a port reused by another
	// session belongs to it.
	mustWrite(t, a, "229 Entering Extended Passive Mode (|||50002|)\r\n")
	mustWrite(t, b, "227 Entering Passive Mode (127,0,0,1,195,80)\r\n")
	if reg.DataOwner(passiveData(50000)) != b || reg.DataOwner(passiveData(50002)) != a || reg.DataOwner(passiveData(50001)) != nil {
		t.Fatal("bindings not moved by the second PASV")
	}
	_ = a.Close()
	if reg.DataOwner(passiveData(50002)) != nil {
		t.Fatal("closed conn still owns its port")
	}
}

func TestActiveCommandsBindClientAddress(t *testing.T) {
	reg := NewRegistry()
	c, _ := newTestConn(reg)
	c.watchCommand("PORT", "127,0,0,2,4,1")
	if reg.DataOwner(activeData("127.0.0.2", 1025)) != c {
		t.Fatal("PORT not bound")
	}
	c.watchCommand("EPRT", "|2|::1|6000|")
	if reg.DataOwner(activeData("::1", 6000)) != c || reg.DataOwner(activeData("127.0.0.2", 1025)) != nil {
		t.Fatal("EPRT not bound in place of PORT")
	}
}

// A conn holds one endpoint of each kind: a PORT does not unbind the
// passive port, nor a PASV the PORT address.
func TestPassiveAndActiveEndpointsCoexist(t *testing.T) {
	reg := NewRegistry()
	c, _ := newTestConn(reg)
	mustWrite(t, c, "227 Entering Passive Mode (127,0,0,1,195,80).\r\n") // 50000
	c.watchCommand("PORT", "127,0,0,2,4,1")
	mustWrite(t, c, "229 Entering Extended Passive Mode (|||50001|)\r\n")
	if reg.DataOwner(activeData("127.0.0.2", 1025)) != c || reg.DataOwner(passiveData(50001)) != c {
		t.Fatal("one kind of endpoint unbound the other")
	}
	if reg.DataOwner(passiveData(50000)) != nil {
		t.Fatal("the first passive port is still bound")
	}
	_ = c.Close()
	if reg.DataOwner(activeData("127.0.0.2", 1025)) != nil || reg.DataOwner(passiveData(50001)) != nil {
		t.Fatal("closed conn still owns its endpoints")
	}
}

func TestParsePassiveAndActive(t *testing.T) {
	for _, tc := range []struct {
		line string
		port int
		ok   bool
	}{
		{"227 Entering Passive Mode (10,0,0,1,4,1)\r\n", 1025, true},
		{"227 Entering Passive Mode (10,0,0,1,4)\r\n", 0, false},
		{"227 Entering Passive Mode (10,0,0,1,4,256)\r\n", 0, false},
		{"229 Entering Extended Passive Mode (|||65535|)\r\n", 65535, true},
		{"229 Entering Extended Passive Mode (|||70000|)\r\n", 0, false},
		{"229 Entering Extended Passive Mode (|||x|)\r\n", 0, false},
		{"200 Entering Passive Mode (10,0,0,1,4,1)\r\n", 0, false},
		{"227 ) (\r\n", 0, false},
	} {
		port, ok := passivePort([]byte(tc.line))
		if port != tc.port || ok != tc.ok {
			t.Errorf("%q: got %d %v, want %d %v", tc.line, port, ok, tc.port, tc.ok)
		}
	}
	for _, tc := range []struct {
		param, want string
	}{
		{"|1|132.235.1.2|6275|", "132.235.1.2:6275"},
		{"!2!::1!21!", "[::1]:21"},
		{"|1|::ffff:10.0.0.1|80|", "10.0.0.1:80"},
		{"|1|x|80|", ""},
		{"|1|10.0.0.1|0|", "10.0.0.1:0"}, // parsed: policy refuses port 0
		{"|", ""},
	} {
		ap, ok := parseEPRT(tc.param)
		if got := ap.String(); (ok && got != tc.want) || (!ok && tc.want != "") {
			t.Errorf("EPRT %q: got %s %v, want %q", tc.param, got, ok, tc.want)
		}
	}
}

func mustWrite(t *testing.T, c *Conn, s string) {
	t.Helper()
	if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func TestPeerOutlivesConnection(t *testing.T) {
	reg := NewRegistry()
	a, _ := newTestConn(reg)
	if _, ok := reg.Peer(a.ID()); ok {
		t.Fatal("a connection that did not log in has a peer")
	}
	a.SetLoggedIn("alice")
	if p, ok := reg.Peer(a.ID()); !ok || p.User != "alice" {
		t.Fatalf("Peer = %+v, %v", p, ok)
	}
	_ = a.Close()
	if p, ok := reg.Peer(a.ID()); !ok || p.User != "alice" {
		t.Fatalf("after close: Peer = %+v, %v; want kept", p, ok)
	}
	for range RetainedPeers {
		c, _ := newTestConn(reg)
		c.SetLoggedIn("bob")
		_ = c.Close()
	}
	if _, ok := reg.Peer(a.ID()); ok {
		t.Fatalf("Peer kept more than %d closed connections", RetainedPeers)
	}
}

func TestPeerWaitsForLogin(t *testing.T) {
	reg := NewRegistry()
	a, _ := newTestConn(reg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(50 * time.Millisecond)
		a.SetLoggedIn("alice")
	}()
	if p, ok := reg.PeerWait(ctx, a.ID()); !ok || p.User != "alice" {
		t.Fatalf("PeerWait during login = %+v, %v; want alice", p, ok)
	}
	b, _ := newTestConn(reg)
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.SetLoginFailed()
	}()
	start := time.Now()
	if _, ok := reg.PeerWait(ctx, b.ID()); ok || time.Since(start) > 2*time.Second {
		t.Fatalf("PeerWait of a failed login: ok=%v after %v", ok, time.Since(start))
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	c, _ := newTestConn(reg)
	if _, ok := reg.PeerWait(short, c.ID()); ok {
		t.Fatal("PeerWait of a connection that never logged in found a peer")
	}
}
