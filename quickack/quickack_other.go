//go:build !linux

// Package quickack acknowledges at once what a TCP socket received; see
// quickack_linux.go. Elsewhere it does nothing.
package quickack

import "net"

// Ack does nothing where TCP_QUICKACK does not exist.
func Ack(net.Conn) {}
