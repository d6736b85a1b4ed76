package pasv

import (
	"net"
	"strconv"
)

// TakenPorts returns the ports of the inclusive range on which a TCP
// listener cannot be opened now (another process holds them). It opens
// and closes one listener per port, so it is meant for a one-off check,
// not for a running server.
func TakenPorts(start, end int) []int {
	var taken []int
	for p := start; p <= end; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			taken = append(taken, p)
			continue
		}
		_ = l.Close()
	}
	return taken
}
