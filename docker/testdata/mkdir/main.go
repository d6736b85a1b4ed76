// Command mkdir is the test's stand-in for coreutils' mkdir in the Go image
// that docker_test.go makes from the local Go installation: the official Go
// image is a Debian system, and the Dockerfile's build stage runs
// "mkdir -p". It knows only -p; anything else is an error, so that a
// Dockerfile asking for more fails here rather than passing by accident.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	args, parents := os.Args[1:], false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		opt := args[0]
		args = args[1:]
		if opt == "--" {
			break
		}
		if opt != "-p" && opt != "--parents" {
			fmt.Fprintf(os.Stderr, "mkdir: unsupported option %q (this stand-in knows only -p)\n", opt)
			os.Exit(2)
		}
		parents = true
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "mkdir: missing operand")
		os.Exit(2)
	}
	code := 0
	for _, dir := range args {
		var err error
		if parents {
			err = os.MkdirAll(dir, 0o777)
		} else {
			err = os.Mkdir(dir, 0o777)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkdir: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
