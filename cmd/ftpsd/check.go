package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/pasv"
	"ftpsd/tlsconf"
)

func checkCommand(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (TOML) to check")
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
	if err := driver.CheckStorage(cfg.Storage); err != nil {
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

func hashPasswordCommand(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("hash-password: empty password on stdin")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(hash))
	return err
}
