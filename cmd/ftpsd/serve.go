package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"ftpsd/acme"
	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/metrics"
	"ftpsd/tlsconf"
	"ftpsd/xferlog"
)

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := configFlags("serve", "configuration file (TOML); without it ftpsd runs its first-run default")
	showVersion := fs.Bool("version", false, "print the version and exit, as \"ftpsd version\"")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *showVersion {
		return printVersion(stdout)
	}
	cfg, demo, err := loadOrFirstRun(*path)
	if err != nil {
		return err
	}
	logger, level := newLogger(cfg.Log, stderr) // log.level and log.format were validated with the file
	defer func() { _ = logger.Sync() }()
	return serve(ctx, &daemon{path: *path, started: cfg, current: cfg, level: level, logger: logger}, demo, stdout)
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

// daemon is a running ftpsd process: the server and what reloads it.
type daemon struct {
	path    string        // configuration file; empty for the first-run default
	started config.Config // as started
	current config.Config // as last applied (started, then each reload)
	level   zap.AtomicLevel
	logger  *zap.Logger
	store   *tlsconf.Store
	srv     *driver.Server
	xferlog *xferlog.File     // [log] xferlog (a File with no path when off)
	hooks   *hooks.Dispatcher // delivers the events to [[hooks]]
	metrics *http.Server      // nil when [metrics] listen is empty
	notify  *notifier
	acme    *acme.Manager // [acme]; nil when off
	// workers are the goroutines serve starts besides the server's own;
	// serve waits for them before it returns.
	workers sync.WaitGroup
}

func serve(ctx context.Context, d *daemon, demo *demoAccount, stdout io.Writer) error {
	cfg := d.started
	var err error
	if d.store, err = tlsconf.New(tlsOptions(cfg), d.logger.Named("tls")); err != nil {
		return err
	}
	m := metrics.New()
	m.RegisterCertificateExpiry(func() time.Time { return d.store.Leaf().NotAfter })
	build := readBuildVersion()
	m.RegisterBuildInfo(build.module, build.revision, build.goVersion)
	if cfg.ACME.Enabled() {
		if d.acme, err = startACME(cfg, d.store, m, d.logger.Named("acme")); err != nil {
			return err
		}
		defer d.acme.Stop()
	}
	d.xferlog = xferlog.New(d.logger.Named("xferlog"))
	commitXferlog, err := d.xferlog.Prepare(cfg.Log.Xferlog)
	if err != nil {
		return fmt.Errorf("log.xferlog: %w", err)
	}
	commitXferlog()
	defer func() { _ = d.xferlog.Close() }()
	if d.hooks, err = hooks.New(hooks.Options{
		Events: cfg.Events, Hooks: cfg.Hooks, Logger: d.logger.Named("hooks"), Metrics: m, Env: commandEnv(os.Getenv),
	}); err != nil {
		return err
	}
	opts := []driver.Option{driver.WithMetrics(m), driver.WithGetenv(os.Getenv), driver.WithXferlog(d.xferlog)}
	if d.hooks.Enabled() { // without a spool no hook can be configured: no event, no checksum
		opts = append(opts, driver.WithEvents(d.hooks))
	}
	if d.srv, err = driver.NewServer(cfg, d.store.Config(), d.logger, opts...); err != nil {
		d.closeHooks()
		return err
	}
	if d.metrics, err = startMetrics(cfg.Metrics.Listen, m, d.logger, &d.workers); err != nil {
		d.srv.Close()
		d.closeHooks()
		return err
	}
	defer d.workers.Wait()
	if w := inlineCredentialsWarning(cfg.Storage, d.path); w != "" {
		d.logger.Warn(w)
	}
	d.logger.Info("ftpsd started",
		zap.String("version", build.short()),
		zap.String("listen", addrString(d.srv.Addr())),
		zap.String("implicit_listen", addrString(d.srv.ImplicitAddr())),
		zap.Stringer("passive_ports", cfg.Passive.Ports),
		zap.String("passive_announce_ports", announcedPorts(cfg.Passive)),
		zap.String("tls_require", string(cfg.TLS.Require)),
		zap.String("metrics", cfg.Metrics.Listen))
	if demo != nil {
		if err := demo.print(stdout, d.srv.Addr().String(), cfg); err != nil {
			d.logger.Warn("first-run banner not printed", zap.Error(err))
		}
	}
	return d.run(ctx)
}

// run serves until ctx ends (SIGINT/SIGTERM), reloading on SIGHUP.
func (d *daemon) run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.srv.Serve() }()
	bg, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the workers, which serve waits for
	d.workers.Go(func() { d.store.Watch(bg, certWatchInterval) })
	d.hooks.Start(bg)
	d.notify = newNotifier(d.logger)
	d.notify.ready()
	d.workers.Go(func() { d.notify.watchdog(bg) })
	hup, stopHUP := reloadSignals()
	defer stopHUP()
	for {
		select {
		case <-ctx.Done():
			return d.shutdown(serveErr)
		case <-hup:
			d.reload()
		case err := <-serveErr:
			d.closeMetrics()
			d.closeHooks()
			return fmt.Errorf("serve: %w", err)
		}
	}
}

// certWatchInterval is how often certificate files are checked for change.
const certWatchInterval = 10 * time.Second

// shutdown lets running transfers finish for server.shutdown_timeout.
func (d *daemon) shutdown(serveErr <-chan error) error {
	d.notify.stopping()
	timeout := d.started.Server.ShutdownTimeout.Std()
	d.logger.Info("shutting down: no new connections; running transfers may finish", zap.Duration("timeout", timeout))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.logger.Warn("shutdown timeout reached", zap.Error(err))
	}
	if d.metrics != nil {
		_ = d.metrics.Shutdown(ctx)
	}
	d.closeMetrics()
	<-serveErr // Serve returns once the listeners are closed
	// After the transfers: their events are in the spool.
	d.closeHooks()
	d.logger.Info("ftpsd stopped")
	return nil
}

// hookDrainTimeout is how long running hook deliveries may finish at
// shutdown before they are cut (a command killed); what they did not
// deliver stays in the spool for the next start.
const hookDrainTimeout = 5 * time.Second

// closeHooks stops delivering events, letting running deliveries finish
// for hookDrainTimeout.
func (d *daemon) closeHooks() {
	ctx, cancel := context.WithTimeout(context.Background(), hookDrainTimeout)
	defer cancel()
	d.hooks.Close(ctx)
}

// commandEnv is the environment of hook commands besides FTPSD_*: PATH
// alone, not the server's environment, which may hold the store's
// credentials.
func commandEnv(getenv func(string) string) []string {
	path := getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path}
}

// metricsHeaderTimeout bounds how long a scraper may take to send its
// request headers.
const metricsHeaderTimeout = 5 * time.Second

// closeMetrics stops the metrics endpoint at once, if it runs.
func (d *daemon) closeMetrics() {
	if d.metrics != nil {
		_ = d.metrics.Close()
	}
}

// startMetrics serves /metrics and /healthz on addr (empty is off) on a
// goroutine counted in workers.
func startMetrics(addr string, m *metrics.Metrics, logger *zap.Logger, workers *sync.WaitGroup) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: metricsHeaderTimeout}
	workers.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", zap.Error(err))
		}
	})
	return srv, nil
}

func tlsOptions(cfg config.Config) tlsconf.Options {
	t := cfg.TLS
	opts := tlsconf.Options{
		CertFile:   t.CertFile,
		KeyFile:    t.KeyFile,
		SelfSigned: t.SelfSigned,
		MinVersion: t.MinVersion.ID(),
	}
	if cfg.ACME.Enabled() {
		// Served until the first ACME certificate is obtained.
		opts.SelfSigned, opts.Hosts = true, cfg.ACME.Domains
	}
	return opts
}

// startACME builds the [acme] manager and starts it: the certificates in
// its storage are served before the listeners open; those it lacks are
// obtained in the background while the self-signed placeholder is served.
func startACME(cfg config.Config, store *tlsconf.Store, m *metrics.Metrics, logger *zap.Logger) (*acme.Manager, error) {
	mgr, err := acme.New(acme.Options{
		ACME: cfg.ACME, Storage: cfg.Storage, Logger: logger,
		Renewal: m.RegisterACMERenewals(), Serve: store.Set, Getenv: os.Getenv,
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Start(context.Background()); err != nil {
		mgr.Stop()
		return nil, err
	}
	return mgr, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
