package main

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
)

// TestServeStopsItsGoroutines: every goroutine serve starts (the server,
// the certificate watch, the watchdog, the metrics endpoint) has ended
// when serve returns.
func TestServeStopsItsGoroutines(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "1000000") // the watchdog runs
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := config.Default()
	// Certificate files: their watch runs.
	cfg.TLS.SelfSigned = false
	cfg.TLS.CertFile, cfg.TLS.KeyFile = testcert.SelfSigned(t, "serve test").Write(t, t.TempDir())
	cfg.Server.Listen = "127.0.0.1:0"
	r := ftptest.PortRange(t, 2)
	cfg.Passive.Ports = config.PortsOf(r.Start, r.End)
	cfg.Storage = config.Storage{Backend: config.BackendMemory}
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = config.Duration(time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{started: cfg, current: cfg, level: zap.NewAtomicLevel(), logger: zap.NewNop()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, d, nil, io.Discard) }()
	time.Sleep(300 * time.Millisecond) // let it start its workers
	cancel()
	err, ok := ftptest.Receive(done, 10*time.Second)
	if !ok {
		t.Fatal("serve did not return after its context ended")
	}
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
}
