package driver

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestKeepFieldsLogsAsZap: a logger under keepFields writes the lines
// zap would, fields of With first, each core of a tee at its own level;
// its children hold no encoder buffer of their own.
func TestKeepFieldsLogsAsZap(t *testing.T) {
	lines := func(wrap func(*zap.Logger) *zap.Logger) (info, debug string) {
		var infoOut, debugOut bytes.Buffer
		enc := zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", NameKey: "logger",
			EncodeLevel: zapcore.LowercaseLevelEncoder}
		logger := wrap(zap.New(zapcore.NewTee(
			zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&infoOut), zapcore.InfoLevel),
			zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&debugOut), zapcore.DebugLevel),
		)))
		s := logger.Named("session").With(zap.Uint64("session", 7), zap.String("remote", "127.0.0.1:5"))
		s = s.With(zap.String("user", "alice"))
		s.Debug("session opened")
		s.Named("control").Info("login", zap.String("result", "ok"))
		return infoOut.String(), debugOut.String()
	}
	wantInfo, wantDebug := lines(func(l *zap.Logger) *zap.Logger { return l })
	gotInfo, gotDebug := lines(keepFields)
	if gotInfo != wantInfo || gotDebug != wantDebug {
		t.Errorf("keepFields logged\n%s%s\nwant\n%s%s", gotInfo, gotDebug, wantInfo, wantDebug)
	}

	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	base := keepFields(zap.New(zapcore.NewCore(enc, zapcore.AddSync(&bytes.Buffer{}), zapcore.InfoLevel)))
	const n = 100
	children := make([]*zap.Logger, 0, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		children = append(children, base.With(zap.Uint64("session", 7), zap.String("user", "alice")))
	}
	runtime.ReadMemStats(&after)
	if each := (after.TotalAlloc - before.TotalAlloc) / n; each >= 1024 {
		t.Errorf("a child logger took %d bytes, want under 1024 (the size of an encoder buffer alone)", each)
	}
	runtime.KeepAlive(children)
}

// TestKeepFieldsReportsWriteErrors: a core that fails to write fails
// the keepFields core's Write too.
func TestKeepFieldsReportsWriteErrors(t *testing.T) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := &keepFieldsCore{Core: zapcore.NewCore(enc, zapcore.AddSync(failingWriter{}), zapcore.InfoLevel)}
	if err := core.Write(zapcore.Entry{Level: zapcore.InfoLevel, Message: "x"}, nil); err == nil {
		t.Error("Write on a failing core returned nil")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
