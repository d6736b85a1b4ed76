package ftptest

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// CloseWriteInOneSegment ends tc, a TLS connection over the TCP socket
// raw, with close_notify and the socket's FIN in one TCP segment (the
// socket is corked while both are queued). The socket stays open for
// reading.
func CloseWriteInOneSegment(tc *tls.Conn, raw net.Conn) error {
	tcp, ok := raw.(*net.TCPConn)
	if !ok {
		return errors.New("close in one segment: not a TCP connection")
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if err := tc.CloseWrite(); err != nil {
		return err
	}
	return tcp.CloseWrite() // the FIN rides on the corked close_notify
}
