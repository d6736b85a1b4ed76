package driver

import (
	"errors"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// keepFieldsCore is a zapcore.Core whose With keeps the fields as they are
// and adds them to each entry when it is written. zap's own cores encode
// them at once into a buffer of their own (1 KiB, from zap's pool) that a
// logger keeps for its life; every session has such loggers (its own, its
// control connection's, the lib's), so that an idle session would hold
// kilobytes of buffers for a few short fields. The cost is encoding those
// fields again for every line a session logs. Field values are read when
// the line is written, not when With is called.
type keepFieldsCore struct {
	zapcore.Core
	fields []zapcore.Field
}

// keepFields returns logger whose children made by With keep their fields
// (see keepFieldsCore).
func keepFields(logger *zap.Logger) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return &keepFieldsCore{Core: c}
	}))
}

// With returns a core that adds fields after the ones c adds.
func (c *keepFieldsCore) With(fields []zapcore.Field) zapcore.Core {
	return &keepFieldsCore{Core: c.Core, fields: slices.Concat(c.fields, fields)}
}

// Check adds c to ce when the wrapped core would log the entry.
func (c *keepFieldsCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write writes the entry with c's fields first, through the wrapped core's
// Check, so that each core of a tee still applies its own level.
func (c *keepFieldsCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	ce := c.Core.Check(e, nil)
	if ce == nil {
		return nil
	}
	var failed writeFailure
	ce.ErrorOutput = &failed
	ce.Write(slices.Concat(c.fields, fields)...)
	return failed.err
}

// writeFailure receives what a CheckedEntry reports when a core failed to
// write, as an error.
type writeFailure struct{ err error }

func (w *writeFailure) Write(p []byte) (int, error) {
	w.err = errors.New(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Sync has nothing to flush.
func (w *writeFailure) Sync() error { return nil }
