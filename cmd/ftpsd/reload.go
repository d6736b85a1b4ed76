package main

import (
	"fmt"
	"slices"

	"go.uber.org/zap"

	"ftpsd/config"
)

// reloadStep is one component that SIGHUP can change. keys are the config
// keys it applies (as config.ChangedKeys names them); every other key
// needs a restart. prepare checks the new configuration and makes
// everything ready without changing what the server does, or fails; the
// commit it returns applies it and cannot fail.
type reloadStep struct {
	name    string
	keys    []string
	prepare func(config.Config) (commit func(), err error)
}

// reloadSteps lists what a reload changes, in the order of preparation.
// The server's step comes last: creating the homes of new users is the one
// effect of a prepare that a later failure would leave behind.
func (d *daemon) reloadSteps() []reloadStep {
	return []reloadStep{
		{"certificate", []string{"tls.cert_file", "tls.key_file"}, d.prepareCertificate},
		{"log level", []string{"log.level"}, d.prepareLogLevel},
		{"xferlog", []string{"log.xferlog"}, d.prepareXferlog},
		{"hooks", []string{"hooks"}, d.prepareHooks},
		{"users, homes and banner", []string{"users", "server.banner", "defaults.allowed_networks", "defaults.quota_bytes",
			"defaults.quota_files", "defaults.max_download_rate", "defaults.max_upload_rate"}, d.prepareServer},
	}
}

// reloadable reports whether one of steps applies key: the one place that
// decides what a reload applies and what needs a restart.
func reloadable(steps []reloadStep, key string) bool {
	return slices.ContainsFunc(steps, func(s reloadStep) bool { return slices.Contains(s.keys, key) })
}

// reload applies a changed configuration file all or nothing: every step
// is prepared first, and only when all succeeded are they committed. A bad
// file is rejected and the running configuration stays.
func (d *daemon) reload() {
	if d.path == "" {
		d.logger.Info("SIGHUP: no configuration file to reload (first-run default)")
		return
	}
	cfg, err := config.Load(d.path)
	if err != nil {
		d.logger.Error("reload rejected; the running configuration stays", zap.Error(err))
		return
	}
	steps := d.reloadSteps()
	commits := make([]func(), 0, len(steps))
	for _, step := range steps {
		commit, err := step.prepare(cfg)
		if err != nil {
			d.logger.Error("reload rejected; the running configuration stays", zap.String("component", step.name), zap.Error(err))
			return
		}
		commits = append(commits, commit)
	}
	for _, commit := range commits {
		commit()
	}
	applied := func(k string) bool { return reloadable(steps, k) }
	changed := config.ChangedKeys(d.current, cfg)
	d.current = cfg
	d.logger.Info("configuration reloaded",
		zap.Strings("changed", changed),
		zap.Strings("applied", filterKeys(changed, applied)),
		zap.Bool("nothing_changed", len(changed) == 0),
		zap.Strings("need_restart", filterKeys(config.ChangedKeys(d.started, cfg), func(k string) bool { return !applied(k) })),
		zap.Int("users", len(cfg.Users)),
		zap.String("certificate_sha256", d.store.Fingerprint()))
}

// prepareCertificate loads the certificate files again (renewed files, or
// new paths); a self-signed certificate stays until a restart, and so does
// [acme], whose manager renews by itself.
func (d *daemon) prepareCertificate(cfg config.Config) (func(), error) {
	if cfg.TLS.SelfSigned || d.started.TLS.SelfSigned || cfg.ACME.Enabled() || d.started.ACME.Enabled() {
		return func() {}, nil
	}
	commit, err := d.store.PrepareFiles(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	return commit, nil
}

// prepareLogLevel applies log.level (decoded and validated with the file).
func (d *daemon) prepareLogLevel(cfg config.Config) (func(), error) {
	return func() { d.level.SetLevel(cfg.Log.Level.Level()) }, nil
}

// prepareHooks builds the [[hooks]] list, reading the webhooks' secret
// files again (a rotated key applies without a change of the file).
func (d *daemon) prepareHooks(cfg config.Config) (func(), error) {
	return d.hooks.PrepareReload(cfg.Hooks)
}

// prepareXferlog opens log.xferlog again, at its new path or at the same
// one: after a rotation renamed the file, the next line goes to a new file.
func (d *daemon) prepareXferlog(cfg config.Config) (func(), error) {
	commit, err := d.xferlog.Prepare(cfg.Log.Xferlog)
	if err != nil {
		return nil, fmt.Errorf("log.xferlog: %w", err)
	}
	return commit, nil
}

// prepareServer prepares the accounts, their homes and the banner.
func (d *daemon) prepareServer(cfg config.Config) (func(), error) {
	return d.srv.PrepareReload(cfg)
}

// filterKeys returns the keys for which keep is true.
func filterKeys(keys []string, keep func(string) bool) []string {
	out := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !keep(k) })
	if out == nil {
		out = []string{}
	}
	return out
}
