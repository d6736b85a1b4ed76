package driver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/guard"
	"ftpsd/hooks"
	"ftpsd/metrics"
	"ftpsd/pasv"
	"ftpsd/quota"
	"ftpsd/tlsconf/closenotify"
	"ftpsd/tlsconf/ticketbind"
	"ftpsd/xferlog"
)

// Server runs one lib server per control listener (explicit and implicit
// FTPS) over a shared Driver.
type Server struct {
	driver    *Driver
	explicit  *control.Listener
	implicit  *control.Listener
	libs      []*ftpserver.FtpServer
	base      *tls.Config // control channels; data channels use driver.tls
	logger    *zap.Logger
	closeOnce sync.Once
}

// NewServer binds the configured control listeners and prepares storage.
// cfg must be valid (config.Validate). tlsConfig is used for the control
// and data channels; it should be the stable config of a tlsconf.Store.
func NewServer(cfg config.Config, tlsConfig *tls.Config, logger *zap.Logger, opts ...Option) (*Server, error) {
	return build(cfg, tlsConfig, logger, newOptions(opts))
}

// Check is NewServer as a dry run, for `ftpsd check`: the same
// construction with the same checks (storage, the users' homes, passive
// ports, public address), but it creates no home, removes no orphan
// upload, binds no listener and leaves nothing running. It returns the
// error NewServer would, but for a listen address that cannot be bound.
func Check(cfg config.Config, tlsConfig *tls.Config, opts ...Option) error {
	o := newOptions(opts)
	o.dryRun = true
	s, err := build(cfg, tlsConfig, zap.NewNop(), o)
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

// build is NewServer, or Check with o.dryRun.
func build(cfg config.Config, tlsConfig *tls.Config, logger *zap.Logger, o options) (*Server, error) {
	logger = keepFields(logger) // sessions' loggers hold no encoder buffers
	live, err := newLiveConfig(cfg, o.getenv, o.dryRun)
	if err != nil {
		return nil, err
	}
	if !o.dryRun {
		live.storage.removeOrphans(time.Now(), logger.Named("storage"))
	}
	var (
		ports = cfg.Passive.Ports
		alloc passivePorts
		mux   *pasv.Mux
	)
	if cfg.Passive.Multiplex {
		mux, err = pasv.NewMux(pasv.MuxOptions{
			Start: ports.Start, End: ports.End, MaxPerIP: cfg.Passive.PortsPerIP(), Logger: logger.Named("pasv"),
		})
		alloc = mux
	} else {
		alloc, err = pasv.NewAllocator(pasv.Options{
			Start: ports.Start, End: ports.End, Wait: cfg.Passive.Wait.Std(), Logger: logger.Named("pasv"),
			MaxPerIP: cfg.Passive.PortsPerIP(), AnnounceStart: cfg.Passive.AnnouncePorts.Start,
		})
	}
	if err != nil {
		return nil, err
	}
	announcer, err := pasv.NewAnnouncer(context.Background(), pasv.AddressOptions{
		PublicAddress:    cfg.Passive.PublicAddress,
		Refresh:          cfg.Passive.PublicAddressRefresh.Std(),
		InternalNetworks: cfg.Passive.InternalNetworks,
		AfterCCC:         announceAfterCCC(cfg.Passive.AnnounceAfterCCC),
		Logger:           logger.Named("pasv"),
	})
	if err != nil {
		return nil, fmt.Errorf("passive.public_address: %w", err)
	}
	registry := control.NewRegistry()
	d := &Driver{
		metrics:   o.metrics,
		events:    o.events,
		xferlog:   o.xferlog,
		ports:     alloc,
		announcer: announcer,
		cfg:       cfg,
		registry:  registry,
		guard:     newGuard(cfg.Security),
		checks:    guard.NewSlots(runtime.GOMAXPROCS(0)),
		quotas:    &quota.Table{},
		logger:    logger.Named("session"),
	}
	d.lists = newListings(cfg.Server.ConcurrentListings(), d.guard.Network)
	if d.accounts, err = d.newAccounts(cfg.Auth, logger); err != nil {
		announcer.Close()
		return nil, err
	}
	d.rates = newRateLimits(realClock)
	d.rates.apply(live.users)
	d.live.Store(live)
	d.data = ticketbind.NewDataTLS(tlsConfig, d.dataBinding())
	d.dataTLS = d.data.Config()
	if mux != nil {
		// Sessions of one address are told apart by the TLS session their
		// data connections must resume.
		mux.SetIdentify(d.data.HelloOwners, func(owner uint64) bool {
			c := registry.ConnByID(owner)
			return c != nil && d.ownerOf(c).RequireReuse
		})
	}
	if cfg.TLS.StrictUploadEOF {
		d.dataTLS = closenotify.Config(d.dataTLS)
	}
	s := &Server{driver: d, base: tlsConfig, logger: logger}
	if o.dryRun {
		if o.offline {
			return s, nil
		}
		if err := checkAccounts(d.accounts); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if s.explicit, err = s.listen(cfg.Server.Listen, false); err != nil {
		s.Close() // stops what already runs (the public address refresh)
		return nil, err
	}
	if s.implicit, err = s.listen(cfg.Server.ImplicitListen, true); err != nil {
		s.Close()
		return nil, err
	}
	s.registerGauges()
	return s, nil
}

// listen binds addr (nothing when empty) and adds a lib server for it.
func (s *Server) listen(addr string, implicit bool) (*control.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := control.NewListener(inner, control.Options{
		TLSConfig:      s.base,
		TLSConfigFor:   func(id uint64) *tls.Config { return s.driver.controlTLS(s.base, id) },
		Implicit:       implicit,
		RequireDataTLS: s.driver.cfg.TLS.Require == config.RequireAll,
		AllowCCC:       s.driver.cfg.TLS.CCC == config.CCCAllow,
		DisableEPSV:    !s.driver.cfg.Passive.EPSV,
		HashAlgorithms: s.driver.hashFeatures(),
		Registry:       s.driver.registry,
		Passive:        s.driver.ports,
		AnnounceLocalPort: func(client netip.Addr, cleared bool) bool {
			return !s.driver.announcer.Public(client, cleared)
		},
		MaxConns:                s.driver.cfg.Server.MaxConnections,
		MaxPerIP:                s.driver.cfg.Server.MaxConnectionsPerIP,
		Network:                 s.driver.guard.Network,
		MaxUnauthenticated:      s.driver.cfg.Server.MaxUnauthenticated,
		MaxUnauthenticatedPerIP: s.driver.cfg.Server.MaxUnauthenticatedPerIP,
		LoginTimeout:            s.driver.cfg.Server.LoginTimeout.Std(),
		Gate:                    s.driver.guard,
		Events:                  s.driver.metrics,
		Proxy:                   proxyOptions(s.driver.cfg.Server),
		Logger:                  s.logger.Named("control"),
	})
	lib := ftpserver.NewFtpServer(listenerDriver{Driver: s.driver, listener: l})
	lib.Logger = slog.New(zapslog.NewHandler(s.logger.Named("ftp").Core()))
	if err := lib.Listen(); err != nil {
		_ = inner.Close()
		return nil, fmt.Errorf("start FTP server on %s: %w", addr, err)
	}
	s.libs = append(s.libs, lib)
	return l, nil
}

// Option changes how NewServer builds a server.
type Option func(*options)

type options struct {
	metrics *metrics.Metrics
	events  hooks.Sink // nil: no events
	xferlog *xferlog.File
	getenv  func(string) string
	dryRun  bool // Check: no side effects, no listeners
	offline bool // Check: the account sources are not asked to answer
}

func newOptions(opts []Option) options {
	o := options{metrics: metrics.New(), xferlog: xferlog.New(zap.NewNop()), getenv: func(string) string { return "" }}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithOffline makes Check leave out what needs another host to answer:
// the external account sources (LDAP, the HTTP service) are built but not
// asked. serve starts while they are down (logins get 421), so the check
// before each start must not fail for them.
func WithOffline() Option { return func(o *options) { o.offline = true } }

// WithGetenv reads the environment with getenv (os.Getenv): backend "s3"
// takes AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
// from it when the configuration names no credentials. By default the
// environment is empty.
func WithGetenv(getenv func(string) string) Option { return func(o *options) { o.getenv = getenv } }

// WithMetrics reports to m (by default the server counts into metrics of
// its own that nobody reads).
func WithMetrics(m *metrics.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithEvents tells sink what happens on the server (see events.go): a
// file committed whole or sent whole, a delete, rename, mkdir or rmdir, a
// login and a refused one. Without it, or with nil, the server emits
// nothing and computes no checksum.
func WithEvents(sink hooks.Sink) Option { return func(o *options) { o.events = sink } }

// WithXferlog writes a line of every transfer to f (by default to a File
// with no path, which writes nothing).
func WithXferlog(f *xferlog.File) Option { return func(o *options) { o.xferlog = f } }

// registerGauges exposes the server's live values.
func (s *Server) registerGauges() {
	s.driver.metrics.RegisterGauges(metrics.Gauges{
		SessionsOpen:       s.driver.registry.Len,
		Unauthenticated:    s.driver.registry.Unauthenticated,
		BannedAddresses:    s.driver.guard.BannedCount,
		PassiveCapacity:    func() int { return s.driver.ports.Stats().Capacity },
		PassiveInUse:       func() int { return s.driver.ports.Stats().InUse },
		PassiveWaiting:     func() int { return s.driver.ports.Stats().Waiting },
		PassiveExhaustions: func() uint64 { return s.driver.ports.Stats().Exhaustions },
		UploadMemory:       func() int { return int(s.driver.live.Load().storage.uploadMemory()) },
		Quotas:             s.driver.quotaUsage,
	})
}

// Addr returns the explicit FTPS address, or nil when it is off.
func (s *Server) Addr() net.Addr { return addrOf(s.explicit) }

// ImplicitAddr returns the implicit FTPS address, or nil when it is off.
func (s *Server) ImplicitAddr() net.Addr { return addrOf(s.implicit) }

func addrOf(l *control.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Serve accepts clients on every listener until Close. It returns nil
// after Close, or the first listener's failure.
func (s *Server) Serve() error {
	errs := make(chan error, len(s.libs))
	for _, lib := range s.libs {
		go func() { errs <- lib.Serve() }()
	}
	var first error
	for range s.libs {
		if err := <-errs; err != nil && first == nil {
			first = err
			s.Close()
		}
	}
	return first
}

// Close stops accepting clients. Sessions already open go on until they
// end. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, lib := range s.libs {
			if err := lib.Stop(); err != nil && !errors.Is(err, ftpserver.ErrNotListening) {
				s.logger.Warn("stop listener", zap.Error(err))
			}
		}
		s.driver.announcer.Close()
		if err := s.driver.accounts.Close(); err != nil {
			s.logger.Warn("close account sources", zap.Error(err))
		}
	})
}

// Sessions returns the number of open control connections.
func (s *Server) Sessions() int { return s.driver.registry.Len() }

// proxyOptions returns the PROXY protocol settings of the control
// listeners, or nil when server.proxy_protocol is off.
func proxyOptions(srv config.Server) *control.ProxyOptions {
	if !srv.ProxyProtocol {
		return nil
	}
	return &control.ProxyOptions{Trusted: srv.TrustedProxies}
}

// newGuard returns the guard of the [security] settings.
func newGuard(sec config.Security) *guard.Guard {
	return guard.New(guard.Options{
		MaxFailures: sec.MaxLoginFailures,
		Window:      sec.FailureWindow.Std(),
		BanTime:     sec.BanTime.Std(),
		Exempt:      sec.BanExempt,

		IPv6PrefixLength: sec.IPv6PrefixLength,
	})
}

// announceAfterCCC maps passive.announce_after_ccc to the announcer's
// policy.
func announceAfterCCC(word config.AnnounceWord) pasv.Announce {
	if word == config.AnnouncePublic {
		return pasv.AnnouncePublic
	}
	return pasv.AnnounceLocal
}
