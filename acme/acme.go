// Package acme obtains and renews the FTPS certificates from an ACME CA
// (RFC 8555) for [acme], through certmagic, and hands each one to the
// server's certificate store.
//
// A Manager owns a certmagic Cache and Config of its own (never
// certmagic's package defaults): the Cache's maintenance goroutine renews
// the certificates in their renewal window (renew_before, or a third of
// the lifetime, or the CA's ARI window), retrying failures with backoff
// while the current certificate stays served; the Storage (a directory,
// or the S3 bucket shared by the nodes of a cluster, with its locks) keeps
// the account and the certificates, so a restart obtains nothing new.
// The Manager watches the Cache and gives every certificate that appears
// in it, obtained, renewed or loaded (another node's renewal too), to the
// Serve callback (tlsconf.Store.Set): new handshakes get it at once, open
// sessions keep theirs.
package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/every"
	"ftpsd/metrics"
)

// Options are what a Manager is built from.
type Options struct {
	// ACME is the [acme] table (Enabled).
	ACME config.ACME
	// Storage is the [storage] table, whose bucket ACME.Storage "s3" uses.
	Storage config.Storage
	// Logger receives the Manager's lines and certmagic's (named "acme").
	Logger *zap.Logger
	// Renewal counts an attempt to obtain or renew a certificate by its
	// result (metrics.ACMESuccess, metrics.ACMEFailure); nil counts none.
	Renewal func(result string)
	// Serve makes certs the served certificates, the first by default
	// (tlsconf.Store.Set).
	Serve func(certs ...*tls.Certificate) error
	// Getenv reads the environment (the s3 credentials); nil is os.Getenv.
	Getenv func(string) string
}

// Manager obtains and renews the certificates of ACME.Domains.
type Manager struct {
	opts    Options
	logger  *zap.Logger
	cache   *certmagic.Cache
	magic   *certmagic.Config
	always  *httpListener // http_listen_always; nil otherwise
	cancel  context.CancelFunc
	workers sync.WaitGroup
	served  [][]byte // leaves of the certificates Serve was last given
}

// loadTimeout bounds the reading of the certificates kept in storage at
// Start, before the listeners open.
const loadTimeout = 30 * time.Second

// syncInterval is how often the Cache is looked at for a certificate that
// is not the one served.
const syncInterval = time.Second

// New checks opts and builds the Manager: its storage, issuer and solver.
// Nothing is contacted yet.
func New(opts Options) (*Manager, error) {
	if !opts.ACME.Enabled() {
		return nil, errors.New("acme: no acme.domains")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Renewal == nil {
		opts.Renewal = func(string) {}
	}
	m := &Manager{opts: opts, logger: opts.Logger}
	storage, err := newStorage(opts)
	if err != nil {
		return nil, err
	}
	a := opts.ACME
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(c certmagic.Certificate) (*certmagic.Config, error) { return m.configFor(c), nil },
		RenewCheckInterval: renewCheckInterval(a.RenewBefore.Std()),
		Logger:             m.logger.Named("certmagic"),
	})
	cfg := certmagic.New(m.cache, certmagic.Config{
		Storage:            storage,
		KeySource:          certmagic.StandardKeyGenerator{KeyType: certmagic.KeyType(a.KeyType)},
		OnEvent:            m.onEvent,
		DisableARI:         a.RenewBefore > 0, // the administrator's window, not the CA's
		RenewalWindowRatio: certmagic.DefaultRenewalWindowRatio,
		OCSP:               certmagic.OCSPConfig{DisableStapling: true},
		Logger:             m.logger.Named("certmagic"),
	})
	m.magic = cfg
	issuer, always, err := newIssuer(cfg, opts, m.logger)
	if err != nil {
		m.cache.Stop()
		return nil, err
	}
	cfg.Issuers = []certmagic.Issuer{issuer}
	m.always = always
	return m, nil
}

// renewCheckInterval is how often the Cache checks whether a certificate
// is due: a tenth of renew_before, between a second and a minute (a
// minute when renew_before is 0), so that a renewal made by another node
// of a cluster is loaded here within a minute. certmagic renews at once
// whatever expires within five intervals: a tenth keeps that inside
// renew_before.
func renewCheckInterval(renewBefore time.Duration) time.Duration {
	if renewBefore <= 0 {
		return time.Minute
	}
	return min(time.Minute, max(time.Second, renewBefore/10))
}

// configFor returns the certmagic Config that manages c: the Manager's,
// with renew_before expressed as the ratio of c's lifetime that certmagic
// knows.
func (m *Manager) configFor(c certmagic.Certificate) *certmagic.Config {
	before, life := m.opts.ACME.RenewBefore.Std(), c.Lifetime()
	if before <= 0 || life <= 0 {
		return m.magic
	}
	cfg := *m.magic
	cfg.RenewalWindowRatio = min(1, float64(before)/float64(life))
	return &cfg
}

// Start serves the certificates the storage holds (bounded by
// loadTimeout), then starts managing the domains in the background:
// obtaining those it lacks, renewing, and handing each new certificate to
// Serve. It returns an error only when the storage cannot be read; a CA
// that cannot be reached is logged and retried, while the certificate
// served so far stays.
func (m *Manager) Start(ctx context.Context) error {
	ctx, m.cancel = context.WithCancel(ctx)
	load, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	for _, d := range m.opts.ACME.Domains {
		if _, err := m.magic.CacheManagedCertificate(load, d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.cancel()
			return fmt.Errorf("acme.storage: load the certificate of %s: %w", d, err)
		}
	}
	m.sync()
	loaded := len(m.served)
	if m.always != nil {
		if err := m.always.start(&m.workers); err != nil {
			m.cancel()
			return err
		}
	}
	if err := m.magic.ManageAsync(ctx, m.opts.ACME.Domains); err != nil {
		m.cancel()
		return fmt.Errorf("acme: %w", err)
	}
	m.workers.Go(func() { every.Run(ctx, syncInterval, m.sync) })
	m.logger.Info("acme started",
		zap.Strings("domains", m.opts.ACME.Domains),
		zap.String("ca", m.opts.ACME.DirectoryURL()),
		zap.String("challenge", m.opts.ACME.Challenge),
		zap.String("storage", m.opts.ACME.Storage),
		zap.Int("loaded", loaded))
	return nil
}

// Stop ends the obtaining and renewing, and the HTTP-01 listener.
func (m *Manager) Stop() {
	if m.cancel != nil {
		m.cancel()
	}
	if m.always != nil {
		m.always.stop()
	}
	m.workers.Wait()
	m.cache.Stop()
}

// sync gives Serve the newest certificate the Cache holds for each
// domain, in the order of the domains, when they are not the ones served.
func (m *Manager) sync() {
	var certs []*tls.Certificate
	var leaves [][]byte
	for _, d := range m.opts.ACME.Domains {
		c := m.newest(d)
		if c == nil {
			continue
		}
		certs = append(certs, c)
		leaves = append(leaves, c.Leaf.Raw)
	}
	if len(certs) == 0 || equalLeaves(leaves, m.served) {
		return
	}
	if err := m.opts.Serve(certs...); err != nil {
		m.logger.Error("certificate not served", zap.Error(err))
		return
	}
	m.served = leaves
	for _, c := range certs {
		m.logger.Info("serving ACME certificate",
			zap.Strings("names", c.Leaf.DNSNames),
			zap.Time("not_after", c.Leaf.NotAfter),
			zap.String("issuer_cn", c.Leaf.Issuer.CommonName),
			zap.String("serial", c.Leaf.SerialNumber.Text(16)))
	}
}

// newest returns the certificate for name in the Cache that expires last,
// or nil.
func (m *Manager) newest(name string) *tls.Certificate {
	var best *certmagic.Certificate
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf == nil || best != nil && !c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			continue
		}
		best = &c
	}
	if best == nil {
		return nil
	}
	tc := best.Certificate
	return &tc
}

func equalLeaves(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// onEvent counts obtained and failed certificates (certmagic calls it
// synchronously: it must return quickly).
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		m.opts.Renewal(metrics.ACMESuccess)
	case "cert_failed":
		m.opts.Renewal(metrics.ACMEFailure)
		m.logger.Warn("certificate not obtained; the current one stays served, retried with backoff",
			zap.Any("identifier", data["identifier"]), zap.Any("renewal", data["renewal"]), zap.Any("error", data["error"]))
	}
	return nil
}
