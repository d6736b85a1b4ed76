package control

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"ftpsd/internal/ftptest"
	"ftpsd/refusal"
)

// The load balancer of these tests is ftptest.BalancerAddr; its clients
// are ftptest.ClientAddr and, through v1 headers, addresses from anywhere.
var testBalancer = ftptest.BalancerAddr

// proxyEcho is an echo server (see serveEcho) behind the PROXY protocol.
type proxyEcho struct {
	l      *Listener
	addr   string
	events *countingEvents
	conns  chan *Conn
	wg     sync.WaitGroup // the accept loop and the echo sessions
	once   sync.Once
}

// startProxyEcho starts a proxyEcho that trusts the balancer's headers
// for headerTimeout. It stops when the test ends, after the test's
// connections closed, or earlier with stop.
func startProxyEcho(t *testing.T, headerTimeout time.Duration) *proxyEcho {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &proxyEcho{addr: inner.Addr().String(), events: &countingEvents{}, conns: make(chan *Conn, 16)}
	s.l = NewListener(inner, Options{
		TLSConfig: serverTLS(t), Registry: NewRegistry(), Logger: zaptest.NewLogger(t), Events: s.events,
		Proxy: &ProxyOptions{Trusted: []netip.Prefix{netip.PrefixFrom(testBalancer, 32)}, HeaderTimeout: headerTimeout},
	})
	s.wg.Go(func() {
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			s.conns <- c.(*Conn)
			s.wg.Go(func() { serveEcho(c) })
		}
	})
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop closes the listener and waits for the accept loop and sessions;
// the clients must have closed. Only the first call does something.
func (s *proxyEcho) stop(t *testing.T) {
	t.Helper()
	s.once.Do(func() {
		if err := s.l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		s.wg.Wait()
	})
}

// fromBalancer opens a connection from the balancer that sends first.
func fromBalancer(t *testing.T, addr string, first []byte) net.Conn {
	t.Helper()
	conn := ftptest.DialFrom(t, testBalancer, addr)
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	return conn
}

// headerFor returns a PROXY header of version naming the client from,
// who reached the balancer's port 21.
func headerFor(t *testing.T, version byte, from *net.TCPAddr) []byte {
	t.Helper()
	header, err := proxyproto.HeaderProxyFromAddrs(version, from, &net.TCPAddr{IP: testBalancer.AsSlice(), Port: 21}).Format()
	if err != nil {
		t.Fatal(err)
	}
	return header
}

// TestProxyHeaderV1WithCommand: a v1 header and the client's first command
// in one segment (bytes the header reader buffered past the header): the
// conn's RemoteAddr is the header's client, its LocalAddr the socket's,
// and the command reaches the server.
func TestProxyHeaderV1WithCommand(t *testing.T) {
	s := startProxyEcho(t, time.Second)
	from := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	header := headerFor(t, 1, from)
	d := ftptest.Dialer{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return fromBalancer(t, s.addr, append(header, "NOOP\r\n"...)), nil
	}}
	c, err := d.Dial(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expect(t, c.Must(t), "200 got NOOP")
	conn := <-s.conns
	if got := conn.RemoteAddr().String(); got != from.String() {
		t.Errorf("RemoteAddr = %s, want the header's client %s", got, from)
	}
	if got := conn.LocalAddr().String(); got != s.addr {
		t.Errorf("LocalAddr = %s, want the socket's %s (not the header's destination)", got, s.addr)
	}
	cmd(t, c.Must(t), "QUIT", "200 got QUIT")
}

// TestProxyHeaderDeadline: a trusted balancer that connects and sends
// nothing is dropped once the header deadline passes, and meanwhile the
// listener accepts others; closing the listener ends every header reader
// (goleak).
func TestProxyHeaderDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startProxyEcho(t, 300*time.Millisecond)
	defer s.stop(t)
	silent := fromBalancer(t, s.addr, nil)
	c := ftptest.Dialer{Local: ftptest.ClientAddr, Proxy: testBalancer}.MustDial(t, s.addr)
	defer c.Close()
	cmd(t, c, "NOOP", "200 got NOOP")
	ftptest.MustBeDropped(t, silent, 10*time.Second, "silent balancer connection")
	if n := s.events.get(refusal.ProxyHeader); n != 1 {
		t.Errorf("%d refusals counted as %s, want 1", n, refusal.ProxyHeader)
	}
}

// TestProxyHeaderCloseEndsReaders: closing the listener while a header is
// awaited closes that connection and ends its reader at once.
func TestProxyHeaderCloseEndsReaders(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startProxyEcho(t, time.Hour)
	silent := fromBalancer(t, s.addr, nil)
	if !ftptest.Eventually(5*time.Second, func() bool { return s.l.headers.reading.Load() > 0 }) {
		t.Fatal("the header reader did not start")
	}
	s.stop(t)
	ftptest.MustBeDropped(t, silent, 10*time.Second, "connection awaiting its header at close")
	if _, err := s.l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestProxySameClientTwice: two headers naming the same client address
// and port at once (two balancers in front of one node, clients behind one
// NAT) would be one key of the registry: the second is refused, the first
// goes on.
func TestProxySameClientTwice(t *testing.T) {
	s := startProxyEcho(t, time.Second)
	from := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	header := headerFor(t, 2, from)
	dial := func() *ftptest.Client {
		d := ftptest.Dialer{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return fromBalancer(t, s.addr, header), nil
		}}
		c, err := d.Connect(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	defer first.Close()
	if g := first.Greeting(); g.Code != 220 {
		t.Fatalf("first connection of %s: greeting %v, want 220", from, g)
	}
	second := dial()
	defer second.Close()
	if g := second.Greeting(); g.Code != 421 {
		t.Fatalf("second connection of %s: greeting %v, want 421", from, g)
	}
	cmd(t, first.Must(t), "NOOP", "200 got NOOP")
	if n := s.events.get(refusal.ProxyHeader); n != 1 {
		t.Errorf("%d refusals counted as %s, want 1", n, refusal.ProxyHeader)
	}
}

// TestProxyHealthCheckNotCounted: a trusted balancer's health checks (a
// connect closed without a byte; a v2 LOCAL header, as HAProxy sends on
// the checks of send-proxy-v2 servers) are closed, neither served nor
// counted; a connection that sends something else than a header is
// counted.
func TestProxyHealthCheckNotCounted(t *testing.T) {
	s := startProxyEcho(t, time.Second)
	check := fromBalancer(t, s.addr, nil)
	if err := check.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	ftptest.MustBeDropped(t, check, 10*time.Second, "TCP health check")
	local, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL}).Format()
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustBeDropped(t, fromBalancer(t, s.addr, local), 10*time.Second, "LOCAL header")
	if n := s.events.get(refusal.ProxyHeader); n != 0 {
		t.Errorf("health checks counted as %s (%d)", refusal.ProxyHeader, n)
	}
	ftptest.MustBeDropped(t, fromBalancer(t, s.addr, []byte("USER alice\r\n")), 10*time.Second, "a command instead of a header")
	if n := s.events.get(refusal.ProxyHeader); n != 1 {
		t.Errorf("%d refusals counted as %s, want 1", n, refusal.ProxyHeader)
	}
}
