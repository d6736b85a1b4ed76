package driver

import (
	"net"

	"ftpsd/control"
	"ftpsd/ipaddr"
)

// sameLocalAddress returns l whose Accept closes the data connections that
// reach another local address than their control connection's, and goes
// on waiting. The lib binds passive ports on every interface whatever
// server.listen says; this keeps data on the address the control
// connection chose (behind NAT both are the server's own address).
func sameLocalAddress(l net.Listener, registry *control.Registry) net.Listener {
	return &localListener{Listener: l, registry: registry}
}

type localListener struct {
	net.Listener
	registry *control.Registry
}

func (l *localListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		owner := l.registry.DataOwner(conn)
		if owner == nil || ipaddr.Of(conn.LocalAddr()) == ipaddr.Of(owner.LocalAddr()) {
			return conn, nil
		}
		owner.NoteDataElsewhere(conn)
		_ = conn.Close()
	}
}
