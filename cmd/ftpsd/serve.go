package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/tlsconf"
)

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (TOML); without it ftpsd runs its first-run default")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, demo, err := loadOrFirstRun(*path)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	return serve(ctx, cfg, demo, logger, stdout)
}

// loadOrFirstRun loads the file at path, or builds the first-run default
// (with its demo account) when path is empty.
func loadOrFirstRun(path string) (config.Config, *demoAccount, error) {
	if path != "" {
		cfg, err := config.Load(path)
		return cfg, nil, err
	}
	return firstRunConfig()
}

func serve(ctx context.Context, cfg config.Config, demo *demoAccount, logger *zap.Logger, stdout io.Writer) error {
	store, err := tlsconf.New(tlsOptions(cfg.TLS), logger.Named("tls"))
	if err != nil {
		return err
	}
	srv, err := driver.NewServer(cfg, store.Config(), logger)
	if err != nil {
		return err
	}
	logger.Info("ftpsd started",
		zap.String("version", version()),
		zap.String("listen", addrString(srv.Addr())),
		zap.String("implicit_listen", addrString(srv.ImplicitAddr())),
		zap.String("passive_ports", cfg.Passive.Ports),
		zap.String("tls_require", cfg.TLS.Require))
	if demo != nil {
		demo.print(stdout, srv.Addr().String(), cfg)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("ftpsd stopped")
	return nil
}

func tlsOptions(t config.TLS) tlsconf.Options {
	return tlsconf.Options{
		CertFile:   t.CertFile,
		KeyFile:    t.KeyFile,
		SelfSigned: t.SelfSigned,
		MinVersion: t.MinVersion,
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
