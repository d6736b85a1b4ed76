// Package connwrap handles connections in layers: the wrappers ftpsd puts
// on what a listener accepts, and the way down through them to a layer
// below.
package connwrap

import "net"

// Listener returns l whose Accept hands out wrap(c) for each connection c
// it accepts.
func Listener(l net.Listener, wrap func(net.Conn) net.Conn) net.Listener {
	return listener{Listener: l, wrap: wrap}
}

type listener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// Below returns the first of conn and the connections it wraps that is a
// T. Each wrapper returns the connection below it from NetConn, as
// *tls.Conn does; the walk ends at a connection without NetConn.
func Below[T any](conn net.Conn) (T, bool) {
	for conn != nil {
		if t, ok := conn.(T); ok {
			return t, true
		}
		w, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = w.NetConn()
	}
	var zero T
	return zero, false
}
