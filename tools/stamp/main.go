// Command stamp builds ftpsd as tools/release does, for the Dockerfile,
// whose build stage has no shell to expand its build arguments: the
// version, commit and date come from the environment variables VERSION,
// COMMIT and DATE (the Dockerfile's ARGs), the architecture from GOARCH
// (default: this machine's).
//
//	VERSION=0.1.0 COMMIT=<hash> DATE=<RFC 3339> go run ./tools/stamp -o /out/ftpsd
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"ftpsd/internal/buildstamp"
)

func main() {
	out := flag.String("o", "ftpsd", "the binary to write")
	flag.Parse()
	goarch := os.Getenv("GOARCH")
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	s := buildstamp.Stamp{Version: os.Getenv("VERSION"), Commit: os.Getenv("COMMIT"), Date: os.Getenv("DATE")}
	if err := buildstamp.Build(".", goarch, s, *out); err != nil {
		fmt.Fprintln(os.Stderr, "stamp:", err)
		os.Exit(1)
	}
}
