package ftptest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Pair dials ln (a TCP listener, or a wrapper of one) and accepts the
// connection: the client's end and what ln's Accept returned. Both, and
// ln, are closed when the test ends.
func Pair(t testing.TB, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	t.Cleanup(func() { _ = ln.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// Listen listens on a free port of 127.0.0.1.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// DialFrom opens a TCP connection from the address local to addr; it is
// closed when the test ends.
func DialFrom(t testing.TB, local netip.Addr, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: DefaultTimeout}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// DialProxied dials addr from proxy, a load balancer, and sends a PROXY
// v2 header naming client; the connection closes when the test ends.
func DialProxied(t testing.TB, proxy, client netip.Addr, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	conn, err := Dialer{Local: client, Proxy: proxy}.viaProxy(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s with a header naming %s: %v", addr, proxy, client, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// MustBeDropped fails the test unless the peer closes conn without
// sending a byte, within timeout: a refused connection.
func MustBeDropped(t testing.TB, conn net.Conn, timeout time.Duration, what string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Fatalf("%s: read %q, %v; want the connection closed without a byte", what, b, err)
	}
}
