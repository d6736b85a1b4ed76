package control

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/internal/ftptest"
)

// startDataProxy returns a DataProxyListener on loopback that trusts the
// balancer, and its log.
func startDataProxy(t *testing.T, headerTimeout time.Duration) (net.Listener, *observer.ObservedLogs) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	l := DataProxyListener(inner, ProxyOptions{Trusted: []netip.Prefix{netip.PrefixFrom(testBalancer, 32)}, HeaderTimeout: headerTimeout},
		nil, zap.New(core))
	t.Cleanup(func() { _ = l.Close() })
	return l, logs
}

// TestDataProxyEarlyBytes: a data connection whose header and first bytes
// come in one segment: RemoteAddr is the header's client, LocalAddr the
// socket's, and the bytes past the header are read first, then the rest.
func TestDataProxyEarlyBytes(t *testing.T) {
	l, _ := startDataProxy(t, time.Second)
	from := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	raw := fromBalancer(t, l.Addr().String(), append(headerFor(t, 2, from), "early "...))
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.RemoteAddr().String(); got != from.String() {
		t.Errorf("RemoteAddr = %s, want the header's client %s", got, from)
	}
	if got := conn.LocalAddr().String(); got != l.Addr().String() {
		t.Errorf("LocalAddr = %s, want the socket's %s", got, l.Addr())
	}
	if _, err := raw.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(conn); err != nil || string(got) != "early late" {
		t.Fatalf("read %q, %v; want \"early late\"", got, err)
	}
}

// TestDataProxyCloseDropsPending: closing the listener (the port's
// connect deadline, the end of its transfer) while a header is awaited
// drops that connection with one warning ("port_closed"), ends its reader
// at once (goleak) and ends Accept with net.ErrClosed.
func TestDataProxyCloseDropsPending(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, logs := startDataProxy(t, time.Hour)
	silent := fromBalancer(t, l.Addr().String(), nil)
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	h := l.(*dataProxyListener).headers
	if !ftptest.Eventually(5*time.Second, func() bool { return h.reading.Load() > 0 }) {
		t.Fatal("the header reader did not start")
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err, ok := ftptest.Receive(accepted, 5*time.Second); !ok || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v (returned: %v), want net.ErrClosed", err, ok)
	}
	ftptest.MustBeDropped(t, silent, 5*time.Second, "connection awaiting its header at close")
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v to end the pending header", took)
	}
	dropped := logs.FilterMessage("data connection dropped: PROXY protocol").FilterField(zap.String("reason", "port_closed")).Len()
	if dropped != 1 || logs.Len() != 1 {
		t.Fatalf("logged %v, want one port_closed drop", logs.All())
	}
}
