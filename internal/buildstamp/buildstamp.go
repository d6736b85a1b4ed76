// Package buildstamp builds the ftpsd binary as releases ship it: static
// (CGO_ENABLED=0), without local paths (-trimpath), stripped, and with
// the release version, commit and date stamped into the variables of
// cmd/ftpsd by the linker (-ldflags -X). tools/release and the
// Dockerfile (through tools/stamp) build with it, so that both make the
// same binary from the same source.
package buildstamp

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Stamp is what a build stamps in; empty fields are left out, and a
// binary stamped with no Version falls back to Go's build information.
type Stamp struct {
	Version string // the release version, e.g. "0.1.0"
	Commit  string // the full commit hash
	Date    string // the commit's time, RFC 3339
}

// LDFlags returns the linker flags of a release build of s.
func (s Stamp) LDFlags() string {
	flags := []string{"-s", "-w"}
	for _, v := range []struct{ name, value string }{
		{"main.version", s.Version}, {"main.commit", s.Commit}, {"main.date", s.Date},
	} {
		if v.value != "" {
			flags = append(flags, "-X", v.name+"="+v.value)
		}
	}
	return strings.Join(flags, " ")
}

// Build builds ./cmd/ftpsd of the module at root for linux/goarch into
// out.
func Build(root, goarch string, s Stamp, out string) error {
	for _, v := range []string{s.Version, s.Commit, s.Date} {
		if strings.ContainsAny(v, " \t\n'\"") {
			return fmt.Errorf("stamp %q: no spaces or quotes allowed", v)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", s.LDFlags(), "-o", out, "./cmd/ftpsd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w\n%s", goarch, err, output)
	}
	return nil
}
