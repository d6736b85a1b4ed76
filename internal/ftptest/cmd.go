package ftptest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// DefaultCmdTimeout bounds a Cmd whose Timeout is 0.
const DefaultCmdTimeout = 30 * time.Second

// ErrTimeout is in the error of a Cmd that ran out of time.
var ErrTimeout = errors.New("timed out")

// Cmd is one run of an external program, killed when its timeout passes.
type Cmd struct {
	// Dir is the working directory ("" : the test's).
	Dir string
	// Env is added to the test process's environment.
	Env []string
	// Home, when set, is the program's HOME, XDG_CONFIG_HOME and
	// XDG_DATA_HOME, with LC_ALL=C: no user configuration leaks in and
	// messages are in English.
	Home string
	// Stdin is the program's standard input (none when nil).
	Stdin io.Reader
	// Timeout bounds the run (DefaultCmdTimeout when 0).
	Timeout time.Duration
}

// Run runs name with args and returns its standard output and standard
// error. The error of a run that timed out wraps ErrTimeout.
func (c Cmd) Run(name string, args ...string) (stdout, stderr string, err error) {
	limit := c.Timeout
	if limit <= 0 {
		limit = DefaultCmdTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Stdin = c.Dir, c.Stdin
	env := c.Env
	if c.Home != "" {
		env = append([]string{"HOME=" + c.Home, "XDG_CONFIG_HOME=" + c.Home, "XDG_DATA_HOME=" + c.Home, "LC_ALL=C"}, env...)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, limit, err)
	}
	return out.String(), errOut.String(), err
}

// MustRun is Run that fails the test, with the program's output, when the
// program fails or times out.
func (c Cmd) MustRun(t testing.TB, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := c.Run(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

//go:embed ftplib_client.py
var ftplibClient []byte

// FtplibClient writes the Python ftplib client (ftplib_client.py in this
// package: its docstring lists its options) to a temporary directory and
// returns its path.
func FtplibClient(t testing.TB) string {
	t.Helper()
	return WriteFile(t, t.TempDir(), "ftplib_client.py", ftplibClient)
}
