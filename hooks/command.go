package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// command runs a program for each event, without a shell.
type command struct {
	argv   []string
	env    []string // besides FTPSD_*
	logger *zap.Logger
}

// outputLimit bounds what is kept of a run's standard output and error
// each, for the log.
const outputLimit = 4096

// waitDelay bounds the wait for a killed command's output pipes, which a
// process outside its group may hold open.
const waitDelay = 2 * time.Second

func (c *command) deliver(ctx context.Context, m *message) error {
	values := m.values()
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, "{"+v.name+"}", v.value)
	}
	expand := strings.NewReplacer(pairs...)
	args := make([]string, 0, len(c.argv)-1)
	for _, a := range c.argv[1:] {
		args = append(args, expand.Replace(a))
	}
	cmd := exec.CommandContext(ctx, c.argv[0], args...)
	cmd.Env = slices.Clone(c.env)
	for _, v := range values {
		cmd.Env = append(cmd.Env, "FTPSD_"+strings.ToUpper(v.name)+"="+v.value)
	}
	cmd.Stdin = bytes.NewReader(m.body)
	stdout, stderr := &capped{limit: outputLimit}, &capped{limit: outputLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	inOwnGroup(cmd)
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if stdout.Len() > 0 || stderr.Len() > 0 {
		c.logger.Info("hook command output", zap.String("event_id", m.ID), zap.String("stdout", stdout.String()),
			zap.String("stderr", stderr.String()))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("killed at its timeout: %w", err)
	default:
		return fmt.Errorf("%s: %w", c.argv[0], err)
	}
}

// value is one of an event's values, as a placeholder ({name}) and a
// variable (FTPSD_NAME) give it.
type value struct{ name, value string }

// values lists the event's values for a command.
func (m *message) values() []value {
	return []value{
		{"event_id", m.ID}, {"event", m.Kind}, {"user", m.User}, {"client", m.Client},
		{"session", strconv.FormatUint(m.Session, 10)},
		{"path", m.Path}, {"store_path", m.StorePath}, {"target_path", m.TargetPath}, {"target_store_path", m.TargetStorePath},
		{"size", strconv.FormatInt(m.Size, 10)}, {"sha256", m.SHA256},
		{"start", formatTime(m.Start)}, {"end", formatTime(m.End)}, {"reason", m.Reason},
	}
}

// formatTime writes a time as RFC 3339 in UTC; the zero time as "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// capped keeps the first limit bytes written to it and counts the rest.
type capped struct {
	limit   int
	buf     bytes.Buffer
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	keep := min(len(p), c.limit-c.buf.Len())
	c.buf.Write(p[:keep])
	c.dropped += len(p) - keep
	return len(p), nil
}

func (c *capped) Len() int { return c.buf.Len() + c.dropped }

func (c *capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s... (%d more bytes)", c.buf.String(), c.dropped)
	}
	return c.buf.String()
}
