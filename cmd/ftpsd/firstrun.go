package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/bcrypt"

	"ftpsd/config"
)

// demoAccount is the account the first-run default creates; its password is
// random and shown once.
type demoAccount struct {
	name, password string
}

// firstRunConfig returns config.Default with its storage root created and
// one demo user with a fresh random password.
func firstRunConfig() (config.Config, *demoAccount, error) {
	cfg := config.Default()
	if err := os.MkdirAll(cfg.Storage.Root, 0o750); err != nil {
		return config.Config{}, nil, fmt.Errorf("create storage.root %s: %w", cfg.Storage.Root, err)
	}
	demo := &demoAccount{name: "demo", password: rand.Text()[:16]}
	hash, err := bcrypt.GenerateFromPassword([]byte(demo.password), bcrypt.DefaultCost)
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("hash demo password: %w", err)
	}
	cfg.Users = []config.User{{Name: demo.name, PasswordHash: string(hash)}}
	return cfg, demo, cfg.Validate()
}

func (d *demoAccount) print(w io.Writer, addr string, cfg config.Config) {
	fmt.Fprintf(w, `
ftpsd is running on its first-run default (no -config given):
  explicit FTPS on %s, passive ports %s, self-signed certificate
  files in %s
  user: %s   password: %s   (random, shown only this once)

Try it:
  curl --ssl-reqd -k -u %s:%s ftp://%s/
  lftp -u %s,%s -e 'set ssl:verify-certificate no; ls; bye' %s

`, addr, cfg.Passive.Ports, cfg.Storage.Root, d.name, d.password,
		d.name, d.password, addr, d.name, d.password, addr)
}
