package driver

import (
	"net"

	"ftpsd/connwrap"
	"ftpsd/pasv"
	"ftpsd/quickack"
)

// dataHandshaken is called when the TLS handshake of a passive data
// connection was accepted; only the client's Finished is still to come.
// It ends the connect deadline (pasv.MarkReady), sends the server's last
// flight at once (it may wait in the connection's record batch), and asks
// the kernel to acknowledge the client's Finished at once (see quickack).
func dataHandshaken(conn net.Conn) {
	pasv.MarkReady(conn)
	if f, ok := connwrap.Below[interface{ Flush() error }](conn); ok {
		_ = f.Flush() // a failure shows in the transfer's next read or write
	}
	quickack.Ack(conn)
}
