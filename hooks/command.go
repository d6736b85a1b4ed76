package hooks

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"ftpsd/runcmd"
)

// command runs a program for each event, without a shell.
type command struct {
	argv   []string
	env    []string // besides FTPSD_*
	logger *zap.Logger
}

func (c *command) deliver(ctx context.Context, m *message) error {
	values := m.values()
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, "{"+v.name+"}", v.value)
	}
	expand := strings.NewReplacer(pairs...)
	argv := make([]string, 0, len(c.argv))
	argv = append(argv, c.argv[0])
	for _, a := range c.argv[1:] {
		argv = append(argv, expand.Replace(a))
	}
	env := slices.Clone(c.env)
	for _, v := range values {
		env = append(env, "FTPSD_"+strings.ToUpper(v.name)+"="+v.value)
	}
	out, err := runcmd.Run(ctx, argv, env, bytes.NewReader(m.body))
	if out.Stdout.Len() > 0 || out.Stderr.Len() > 0 {
		c.logger.Info("hook command output", zap.String("event_id", m.ID), zap.String("stdout", out.Stdout.String()),
			zap.String("stderr", out.Stderr.String()))
	}
	return err
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
