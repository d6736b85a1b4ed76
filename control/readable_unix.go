//go:build unix

package control

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable returns once conn has bytes to read, has ended or failed,
// or its read deadline passed, without a buffer of the caller's: the next
// Read then returns at once, with the bytes or the error. It peeks one
// byte, so readiness that the runtime's poller already reported is not
// missed. A conn without a descriptor returns at once.
func waitReadable(conn net.Conn) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		var one [1]byte
		_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK)
		return !errors.Is(err, syscall.EAGAIN)
	})
}
