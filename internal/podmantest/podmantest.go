// Package podmantest runs podman for the tests that build and drive
// containers (the Dockerfile's image, the Debian package), with the
// settings this sandbox and CI need: runc, cgroupfs and no default
// ulimits. Those tests run when FTPSD_CONTAINER_TEST=1 or CI=true.
package podmantest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Podman runs podman commands for one test.
type Podman struct {
	T    *testing.T
	Bin  string   // the podman program
	Args []string // global options, before each command
	Env  []string // added to the environment
}

// New returns the podman of test t, or skips t, saying skip, unless
// FTPSD_CONTAINER_TEST=1 or CI=true (then a missing podman or runc fails
// it).
func New(t *testing.T, skip string) *Podman {
	t.Helper()
	testenv.FullTier(t, "podman")
	ci := os.Getenv("CI") == "true"
	if os.Getenv("FTPSD_CONTAINER_TEST") != "1" && !ci {
		t.Skip(skip)
	}
	bin := testenv.NeedTool(t, "podman", "podman runc")
	args := []string{"--cgroup-manager", "cgroupfs"}
	if _, err := exec.LookPath("runc"); err == nil {
		args = append(args, "--runtime", "runc")
	} else if ci {
		t.Fatal("runc is not installed (apt-get install runc): podman's default runtime does not work here")
	}
	// The default ulimits cannot be set in this sandbox.
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Podman{T: t, Bin: bin, Args: args, Env: []string{"CONTAINERS_CONF=" + conf}}
	out := p.MustRun(time.Minute, "version", "--format", "{{.Client.Version}}")
	t.Logf("podman %s", strings.TrimSpace(out))
	return p
}

// Run runs one podman command and returns its output, standard error
// after standard output.
func (p *Podman) Run(limit time.Duration, args ...string) (string, error) {
	stdout, stderr, err := ftptest.Cmd{Env: p.Env, Timeout: limit}.Run(p.Bin, append(slices.Clone(p.Args), args...)...)
	return stdout + stderr, err
}

// MustRun runs one podman command and returns its standard output (podman
// writes warnings, such as its complaints about systemd, to standard error).
func (p *Podman) MustRun(limit time.Duration, args ...string) string {
	p.T.Helper()
	stdout, stderr, err := ftptest.Cmd{Env: p.Env, Timeout: limit}.Run(p.Bin, append(slices.Clone(p.Args), args...)...)
	if err != nil {
		p.T.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}
