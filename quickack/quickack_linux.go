// Package quickack acknowledges at once what a TCP socket received, where
// the kernel would wait for its delayed-ACK timer (40 ms on Linux).
//
// A TLS handshake ends with the client's Finished. When the server has
// nothing to send next (an upload's data connection; the control
// connection after AUTH TLS, which waits for USER), the Finished is
// acknowledged only by that timer, and a client with Nagle's algorithm
// (Python's ssl, OpenSSL-based clients) holds its next small write until
// the acknowledgement comes: 40 ms more for every small upload and every
// login. Ack right after the handshake removes the wait.
package quickack

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"ftpsd/connwrap"
)

// Ack sets TCP_QUICKACK on the socket below conn (conn itself, or what
// its wrappers return from NetConn, as *tls.Conn does): the kernel sends
// a pending acknowledgement now and leaves delayed-ACK mode until the
// socket next sends. A conn without a socket is left alone.
func Ack(conn net.Conn) {
	sc, ok := connwrap.Below[syscall.Conn](conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
