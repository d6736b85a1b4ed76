package driver

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck turns off delayed acknowledgements on a socket until it next
// sends (TCP_QUICKACK), and acknowledges at once what it received.
//
// After the data connection's handshake, the server has nothing to send
// on an upload: the client's Finished would be acknowledged only by the
// delayed-ACK timer (40 ms on Linux), and a client with Nagle's algorithm
// (Python's ssl, OpenSSL-based clients) holds its first data record until
// that acknowledgement comes: every small upload took 40 ms more.
func quickAck(sc syscall.Conn) {
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
