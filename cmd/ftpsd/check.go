package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"

	"ftpsd/acme"
	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/tlsconf"
	"ftpsd/xferlog"
)

func checkCommand(args []string, stdout io.Writer) error {
	fs, path := configFlags("check", "configuration file (TOML) to check")
	quiet := fs.Bool("quiet", false, "print nothing when the configuration is valid (the systemd unit's ExecStartPre=)")
	offline := fs.Bool("offline", false, "leave out what needs another host to answer: the ACME CA's directory, the LDAP directory, the HTTP authentication service (serve starts while they are down; the systemd unit's ExecStartPre=)")
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
	// serve's construction as a dry run: what serve would refuse at start
	// (but for a listen address that cannot be bound), check refuses.
	store, err := tlsconf.New(tlsOptions(cfg), zap.NewNop())
	if err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	driverOpts := []driver.Option{driver.WithGetenv(os.Getenv)}
	checkACME := acme.Check
	if *offline {
		driverOpts = append(driverOpts, driver.WithOffline())
		checkACME = func(_ context.Context, a config.ACME) error { return acme.CheckLocal(a) }
	}
	if err := driver.Check(cfg, store.Config(), driverOpts...); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	if err := hooks.Check(cfg.Hooks); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	if err := xferlog.Check(cfg.Log.Xferlog); err != nil {
		return fmt.Errorf("config %s: log.xferlog: %w", *path, err)
	}
	if err := checkACME(context.Background(), cfg.ACME); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	if *quiet {
		return nil
	}
	fmt.Fprintf(stdout, "# %s is valid; effective settings:\n", *path)
	if w := inlineCredentialsWarning(cfg.Storage, *path); w != "" {
		fmt.Fprintf(stdout, "# WARNING: %s\n", w)
	}
	for i := range cfg.Users {
		cfg.Users[i].PasswordHash = "(bcrypt hash, not shown)"
	}
	if cfg.Storage.SecretKey != "" {
		cfg.Storage.SecretKey = "(not shown)"
	}
	if err := toml.NewEncoder(stdout).Encode(cfg); err != nil {
		return err
	}
	printPortReport(stdout, cfg)
	return nil
}

// inlineCredentialsWarning says why credentials written in the
// configuration file at path are a risk, or "" when there are none.
func inlineCredentialsWarning(st config.Storage, path string) string {
	if st.Backend != config.BackendS3 || st.SecretKey == "" {
		return ""
	}
	return fmt.Sprintf("storage.access_key and storage.secret_key are written in %s: whoever reads it "+
		"can use the bucket. Prefer storage.credentials_file (mode 0600) or AWS_ACCESS_KEY_ID and "+
		"AWS_SECRET_ACCESS_KEY in the service's environment.", path)
}
