package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/pasv"
	"ftpsd/tlsconf"
)

func checkCommand(args []string, stdout io.Writer) error {
	fs, path := configFlags("check", "configuration file (TOML) to check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usage("check: -config FILE is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if _, err := tlsconf.New(tlsOptions(cfg.TLS), zap.NewNop()); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	ann, err := pasv.NewAnnouncer(context.Background(), pasv.AddressOptions{
		PublicAddress: cfg.Passive.PublicAddress, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("config %s: passive.public_address: %w", *path, err)
	}
	ann.Close()
	if err := driver.CheckStorage(cfg.Storage, os.Getenv); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	fmt.Fprintf(stdout, "# %s is valid; effective settings:\n", *path)
	for i := range cfg.Users {
		cfg.Users[i].PasswordHash = "(bcrypt hash, not shown)"
	}
	if err := toml.NewEncoder(stdout).Encode(cfg); err != nil {
		return err
	}
	printPortReport(stdout, cfg)
	return nil
}
