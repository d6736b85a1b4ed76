package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"ftpsd/config"
	"ftpsd/tlsconf"
)

// The first-run default is what "ftpsd" serves without -config:
// config.Default, a demo account, and a self-signed certificate. Its
// password, certificate and key are kept in firstRunDir so that a restart
// in the same directory serves the same ones.

// firstRunDir is where the first-run default keeps its state: relative to
// the working directory, beside the default storage.root ./ftproot (and not
// inside it, where the demo user could read it). Its files are mode 0600,
// the directory 0700; deleting it starts afresh.
const firstRunDir = "ftpsd-first-run"

// The files in firstRunDir.
const (
	demoPasswordFile = "demo-password" // the password on one line
	firstRunCertFile = "cert.pem"
	firstRunKeyFile  = "key.pem"
)

// demoAccount is the account the first-run default serves.
type demoAccount struct {
	name, password string
	created        bool // this start made the password (else it was kept)
}

// firstRunConfig returns config.Default with its storage root created,
// the certificate and key kept in firstRunDir, and the demo user.
func firstRunConfig() (config.Config, *demoAccount, error) {
	cfg := config.Default()
	if err := os.MkdirAll(cfg.Storage.Root, 0o750); err != nil {
		return config.Config{}, nil, fmt.Errorf("create storage.root %s: %w", cfg.Storage.Root, err)
	}
	created, err := createFirstRunState(firstRunDir)
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("first-run state %s: %w", firstRunDir, err)
	}
	password, err := readDemoPassword(firstRunDir)
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("first-run state %s (delete it to start afresh): %w", firstRunDir, err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("hash demo password: %w", err)
	}
	cfg.TLS.SelfSigned = false
	cfg.TLS.CertFile = filepath.Join(firstRunDir, firstRunCertFile)
	cfg.TLS.KeyFile = filepath.Join(firstRunDir, firstRunKeyFile)
	demo := &demoAccount{name: "demo", password: password, created: created}
	cfg.Users = []config.User{{Name: demo.name, PasswordHash: string(hash)}}
	return cfg, demo, cfg.Validate()
}

// createFirstRunState makes dir with a new random password and a new
// self-signed certificate and key, unless dir exists. The files are
// written into a temporary directory renamed to dir, so that dir is whole
// or absent even when two first runs start at once.
func createFirstRunState(dir string) (created bool, err error) {
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		return false, err // nil: it exists
	}
	certPEM, keyPEM, err := tlsconf.SelfSignedPEM(nil)
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-*") // mode 0700
	if err != nil {
		return false, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // gone once renamed
	for _, f := range []struct {
		name string
		data []byte
	}{
		{demoPasswordFile, []byte(rand.Text()[:16] + "\n")},
		{firstRunCertFile, certPEM},
		{firstRunKeyFile, keyPEM},
	} {
		if err := os.WriteFile(filepath.Join(tmp, f.name), f.data, 0o600); err != nil {
			return false, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Lstat(dir); statErr == nil {
			return false, nil // another first run made it first
		}
		return false, err
	}
	return true, nil
}

// readDemoPassword reads the password kept in dir, which only its owner
// may read.
func readDemoPassword(dir string) (string, error) {
	path := filepath.Join(dir, demoPasswordFile)
	for _, p := range []string{path, filepath.Join(dir, firstRunKeyFile)} {
		info, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			return "", fmt.Errorf("%s: mode %#o, want 0600: it holds a secret", p, perm)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	password := strings.TrimSpace(string(data))
	if password == "" || strings.ContainsFunc(password, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("%s: want one password line without spaces", path)
	}
	return password, nil
}
