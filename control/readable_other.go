//go:build !unix

package control

import "net"

// waitReadable returns at once: the wire waits in Read, with its buffer.
func waitReadable(net.Conn) {}
