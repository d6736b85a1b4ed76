// Package connwrap wraps the connections a listener accepts: the shape
// shared by the layers ftpsd puts on a passive data listener.
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
