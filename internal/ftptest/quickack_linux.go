package ftptest

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// SetQuickAck sets TCP_QUICKACK on c: 0 puts the socket in delayed-ACK
// ("pingpong") mode, as after it answered what it received.
func SetQuickAck(t testing.TB, c *net.TCPConn, v int) {
	t.Helper()
	sockControl(t, c, func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, v) })
}

// QuickAck returns TCP_QUICKACK of c: 1 when the socket is out of
// delayed-ACK mode.
func QuickAck(t testing.TB, c *net.TCPConn) int {
	t.Helper()
	var v int
	sockControl(t, c, func(fd int) (err error) {
		v, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK)
		return err
	})
	return v
}

func sockControl(t testing.TB, c *net.TCPConn, f func(fd int) error) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}
