//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// reloadSignals delivers SIGHUP, which reloads the configuration.
func reloadSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}
