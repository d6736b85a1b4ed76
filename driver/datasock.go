package driver

import (
	"net"

	"ftpsd/internal/quickack"
	"ftpsd/pasv"
)

// dataHandshaken is called when the TLS handshake of a passive data
// connection was accepted; only the client's Finished is still to come.
// It ends the connect deadline (pasv.MarkReady), sends the server's last
// flight at once (it may wait in the connection's record batch), and asks
// the kernel to acknowledge the client's Finished at once (see quickack).
func dataHandshaken(conn net.Conn) {
	pasv.MarkReady(conn)
	if f, ok := below[interface{ Flush() error }](conn); ok {
		_ = f.Flush() // a failure shows in the transfer's next read or write
	}
	quickack.Ack(conn)
}

// below returns the first of conn and the connections it wraps (each
// returning the next from NetConn, as *tls.Conn does) that is a T.
func below[T any](conn net.Conn) (T, bool) {
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
