package ftptest

import (
	"net"
	"testing"
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
