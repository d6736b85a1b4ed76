// Command ftpsd is an FTPS server for hosts behind stateful, deep-inspection
// firewalls.
//
// Usage:
//
//	ftpsd [serve] [-config FILE]   run in the foreground (first-run default without -config)
//	ftpsd check [-quiet] -config FILE  validate a configuration and print the effective settings
//	ftpsd rules -config FILE -firewall host|nat-edge -cure range|ccc|both
//	                               print a complete firewall ruleset for the configuration
//	ftpsd hash-password            read a password on stdin, print its bcrypt hash
//	ftpsd health -config FILE      exit 0 when the configured server answers 220
//	ftpsd probe ftps://USER@HOST   diagnose a server from the client side (firewall, NAT, TLS)
//	ftpsd version                  print the version and the commit built (also -version, --version)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // bad configuration, start-up failure
	exitUsage = 2 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a problem with the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}
