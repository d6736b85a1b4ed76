//go:build !linux

package driver

import "syscall"

// quickAck does nothing where TCP_QUICKACK does not exist.
func quickAck(syscall.Conn) {}
