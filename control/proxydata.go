package control

import (
	"net"

	"go.uber.org/zap"
)

// DataProxyListener returns a passive (data) listener that takes each
// connection's client from a PROXY header, as the control listeners do
// under Options.Proxy: a connection from outside proxy.Trusted is closed
// unread, one without a valid header within proxy.HeaderTimeout, or
// before the listener closes (reason "port_closed"), is closed, each with
// one warning ("data connection dropped: PROXY protocol", as
// often as gate lets it; gate may be nil). The connections it returns have
// the header's client as their RemoteAddr, so that every check above it
// (the session's owner, the TLS binding, the lib's IP match) sees the
// client, and their socket's own LocalAddr. Closing it closes inner and
// ends the header readers.
func DataProxyListener(inner net.Listener, proxy ProxyOptions, gate Gate, logger *zap.Logger) net.Listener {
	h := newHeaderStage(inner, &Options{Proxy: &proxy, Gate: gate, Logger: logger})
	h.dropped = "data connection dropped: PROXY protocol"
	h.closedDrops = true
	h.wrap = func(c *proxiedConn) net.Conn { return &proxiedDataConn{proxiedConn: c} }
	return &dataProxyListener{Listener: inner, headers: h}
}

type dataProxyListener struct {
	net.Listener
	headers *headerStage
}

// Accept returns the next connection whose header was read.
func (l *dataProxyListener) Accept() (net.Conn, error) { return l.headers.accept() }

// Close closes the inner listener and the connections whose header is
// still awaited, and waits for their readers.
func (l *dataProxyListener) Close() error {
	err := l.Listener.Close()
	l.headers.close()
	return err
}

// proxiedDataConn is a data connection from a load balancer: what the
// balancer sent after the header (a TLS ClientHello, an upload's first
// bytes) is read first.
type proxiedDataConn struct {
	*proxiedConn
}

func (c *proxiedDataConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
