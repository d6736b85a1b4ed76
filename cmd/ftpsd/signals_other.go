//go:build !unix

package main

import "os"

// reloadSignals delivers nothing where there is no SIGHUP.
func reloadSignals() (<-chan os.Signal, func()) { return nil, func() {} }
