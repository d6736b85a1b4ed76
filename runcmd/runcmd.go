// Package runcmd runs the programs an administrator configures (hook
// commands, DNS-01 scripts) as ftpsd must: without a shell, with only the
// environment it is given (not the server's, which may hold credentials),
// in a process group of its own that is killed whole when the context
// ends, and with a bounded part of its output kept for the log.
package runcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// OutputLimit bounds what is kept of a run's standard output and error
// each, for the log.
const OutputLimit = 4096

// waitDelay bounds the wait for a killed command's output pipes, which a
// process outside its group may hold open.
const waitDelay = 2 * time.Second

// Output is what a run wrote, bounded.
type Output struct {
	Stdout, Stderr Capped
}

// Run runs argv[0] with the arguments argv[1:], env as its whole
// environment (none when empty) and stdin as its standard input (nil:
// none). When ctx ends first the command and every process of its group
// are killed; the error then says "killed at its timeout" when ctx's
// deadline passed. Any other error names argv[0]; an *exec.ExitError is
// wrapped. The output is returned in every case.
func Run(ctx context.Context, argv, env []string, stdin io.Reader) (*Output, error) {
	out := &Output{Stdout: Capped{Limit: OutputLimit}, Stderr: Capped{Limit: OutputLimit}}
	if len(argv) == 0 {
		return out, errors.New("no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append([]string{}, env...) // never nil: nil would be the server's environment
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &out.Stdout, &out.Stderr
	inOwnGroup(cmd)
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	switch {
	case err == nil:
		return out, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return out, fmt.Errorf("killed at its timeout: %w", err)
	default:
		return out, fmt.Errorf("%s: %w", argv[0], err)
	}
}
