// Package metrics exposes ftpsd's Prometheus series (named ftpsd_…) and the
// /metrics and /healthz endpoints.
//
// A Metrics is created once per process and handed to the driver, which
// reports logins and transfers, and to the control listeners, for which it
// implements control.Events. It is safe for concurrent use.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ftpsd/auth"
	"ftpsd/config"
	"ftpsd/hooks"
	"ftpsd/refusal"
)

// Metrics holds the series of one ftpsd process.
type Metrics struct {
	reg                *prometheus.Registry
	logins             *prometheus.CounterVec
	loginsRefused      *prometheus.CounterVec
	transfers          *prometheus.CounterVec
	bytes              *prometheus.CounterVec
	rateLimited        *prometheus.CounterVec
	handshakeFailures  prometheus.Counter
	ccc                prometheus.Counter
	connectionsRefused *prometheus.CounterVec
	loginTimeouts      prometheus.Counter
	evictions          prometheus.Counter
	bans               prometheus.Counter
	hookDeliveries     *prometheus.CounterVec
	hookSpool          prometheus.Gauge
	authRequests       *prometheus.CounterVec
	authCacheHits      *prometheus.CounterVec
}

// New returns metrics registered on a registry of their own, with the Go
// runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg: reg,
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_logins_total", Help: "Login attempts by result (ok, failed).",
		}, []string{"result"}),
		loginsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_logins_refused_total",
			Help: "Logins with the right password refused by the account's policy, by the [[users]] key that refused them (allowed_networks, expires, disabled); each is also a failed login.",
		}, []string{"reason"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_transfers_total", Help: "File transfers by direction (upload, download) and result (ok, failed).",
		}, []string{"direction", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_transfer_bytes_total", Help: "Bytes of file transfers by direction and result.",
		}, []string{"direction", "result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_rate_limited_bytes_total",
			Help: "Bytes of file transfers held back by an account's bandwidth limit (max_download_rate, max_upload_rate), by direction.",
		}, []string{"direction"}),
		handshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsd_tls_handshake_failures_total", Help: "Control-channel TLS handshakes that failed.",
		}),
		ccc: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsd_ccc_total", Help: "Control channels cleared with CCC.",
		}),
		connectionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_connections_refused_total", Help: "Control connections refused at accept, by the config key that refused them (a limit, a ban, the PROXY protocol).",
		}, []string{"reason"}),
		loginTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsd_login_timeouts_total", Help: "Control connections closed for not logging in within server.login_timeout.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsd_unauthenticated_evicted_total",
			Help: "Control connections not logged in closed to make room for a newcomer from a quieter address, server.max_unauthenticated being reached.",
		}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsd_bans_total", Help: "Client addresses banned for failed logins.",
		}),
		hookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsd_hook_deliveries_total",
			Help: "Deliveries of events to [[hooks]] by result (delivered, retry, given_up, rejected; dropped_spool_full and spool_failed count events).",
		}, []string{"result"}),
		hookSpool: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ftpsd_hook_spool_events", Help: "Events in the spool waiting for a hook ([events] spool_max_events).",
		}),
	}
	reg.MustRegister(m.logins, m.loginsRefused, m.transfers, m.bytes, m.rateLimited, m.handshakeFailures, m.ccc, m.connectionsRefused, m.loginTimeouts, m.evictions, m.bans)
	for _, r := range []string{ResultOK, ResultFailed} {
		m.logins.WithLabelValues(r)
		for _, d := range []string{Upload, Download} {
			m.rateLimited.WithLabelValues(d)
			m.transfers.WithLabelValues(d, r)
			m.bytes.WithLabelValues(d, r)
		}
	}
	for _, r := range refusal.Reasons() {
		m.connectionsRefused.WithLabelValues(r)
	}
	for _, r := range refusal.LoginReasons() {
		m.loginsRefused.WithLabelValues(r)
	}
	reg.MustRegister(m.hookDeliveries, m.hookSpool)
	for _, r := range hooks.Results() {
		m.hookDeliveries.WithLabelValues(r)
	}
	m.authRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpsd_auth_requests_total",
		Help: "Answers of the account sources of [auth] sources, by source (local, ldap, http) and result (ok, bad_password, unknown, unavailable).",
	}, []string{"source", "result"})
	m.authCacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpsd_auth_cache_hits_total",
		Help: "Logins admitted from the cache of external sources' answers ([auth] cache_ttl), by source.",
	}, []string{"source"})
	reg.MustRegister(m.authRequests, m.authCacheHits)
	for _, source := range config.SourceNames {
		for _, r := range auth.Results() {
			m.authRequests.WithLabelValues(source, r)
		}
		if source != config.SourceLocal {
			m.authCacheHits.WithLabelValues(source)
		}
	}
	return m
}

// AuthRequest counts an answer of an account source.
func (m *Metrics) AuthRequest(source, result string) {
	m.authRequests.WithLabelValues(source, result).Inc()
}

// AuthCacheHit counts a login admitted from the cache of source's answers.
func (m *Metrics) AuthCacheHit(source string) { m.authCacheHits.WithLabelValues(source).Inc() }

// Label values of the series.
const (
	// ResultOK and ResultFailed are the result of a login or a transfer.
	ResultOK     = "ok"
	ResultFailed = "failed"
	// Upload and Download are the direction of a transfer.
	Upload   = "upload"
	Download = "download"
)

// Login counts a login attempt; result is ResultOK or ResultFailed.
func (m *Metrics) Login(result string) { m.logins.WithLabelValues(result).Inc() }

// LoginRefused counts a login refused by the account's policy; reason is
// one of refusal.LoginReasons. The login is counted by Login too.
func (m *Metrics) LoginRefused(reason string) { m.loginsRefused.WithLabelValues(reason).Inc() }

// Transfer counts a finished transfer.
func (m *Metrics) Transfer(direction, result string, bytes int64) {
	m.transfers.WithLabelValues(direction, result).Inc()
	m.bytes.WithLabelValues(direction, result).Add(float64(bytes))
}

// RateLimited counts bytes of a transfer in direction that waited for
// their account's bandwidth limit.
func (m *Metrics) RateLimited(direction string, bytes int) {
	m.rateLimited.WithLabelValues(direction).Add(float64(bytes))
}

// ConnectionRefused counts a connection refused by a limit.
func (m *Metrics) ConnectionRefused(reason string) {
	m.connectionsRefused.WithLabelValues(reason).Inc()
}

// LoginTimedOut counts a connection closed by the login timeout.
func (m *Metrics) LoginTimedOut() { m.loginTimeouts.Inc() }

// UnauthenticatedEvicted counts a connection not logged in that was closed
// to make room for another address.
func (m *Metrics) UnauthenticatedEvicted() { m.evictions.Inc() }

// Banned counts a client address banned for failed logins.
func (m *Metrics) Banned() { m.bans.Inc() }

// HandshakeFailed counts a failed control-channel handshake.
func (m *Metrics) HandshakeFailed() { m.handshakeFailures.Inc() }

// ControlCleared counts a CCC.
func (m *Metrics) ControlCleared() { m.ccc.Inc() }

// HookDelivery counts a delivery of an event to a hook by its result (one
// of hooks.Results).
func (m *Metrics) HookDelivery(result string) { m.hookDeliveries.WithLabelValues(result).Inc() }

// HookSpoolDepth sets the number of events in the hooks' spool.
func (m *Metrics) HookSpoolDepth(n int) { m.hookSpool.Set(float64(n)) }

// RegisterCertificateExpiry adds ftpsd_certificate_expiry_timestamp_seconds,
// read at each scrape from notAfter: the end of validity of the
// certificate served now (a file, self-signed, and, once renewals come,
// whatever replaced it).
func (m *Metrics) RegisterCertificateExpiry(notAfter func() time.Time) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ftpsd_certificate_expiry_timestamp_seconds",
		Help: "When the certificate served now expires, in seconds since the Unix epoch.",
	}, func() float64 { return float64(notAfter().Unix()) }))
}

// Gauges are the values read at each scrape.
type Gauges struct {
	SessionsOpen       func() int
	Unauthenticated    func() int
	BannedAddresses    func() int
	PassiveCapacity    func() int
	PassiveInUse       func() int
	PassiveWaiting     func() int
	PassiveExhaustions func() uint64
	UploadMemory       func() int
	// Quotas returns the usage of the accounts with a quota whose home
	// has been counted (nil: none).
	Quotas func() []AccountQuota
}

// AccountQuota is the usage of an account's home and its quota (0: no
// limit).
type AccountQuota struct {
	User                   string
	Bytes, Files           int64
	BytesLimit, FilesLimit int64
}

// RegisterGauges adds the series read from the running server.
func (m *Metrics) RegisterGauges(g Gauges) {
	gauge := func(name, help string, f func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(
		gauge("ftpsd_sessions_open", "Control connections open.", g.SessionsOpen),
		gauge("ftpsd_sessions_unauthenticated", "Control connections open that have not logged in.", g.Unauthenticated),
		gauge("ftpsd_banned_addresses", "Client addresses banned now for failed logins.", g.BannedAddresses),
		gauge("ftpsd_passive_ports", "Ports in the passive range.", g.PassiveCapacity),
		gauge("ftpsd_passive_ports_in_use", "Passive ports leased now.", g.PassiveInUse),
		gauge("ftpsd_passive_waiting", "PASV/EPSV commands waiting for a port now.", g.PassiveWaiting),
		gauge("ftpsd_upload_memory_bytes", "Memory reserved by the uploads in flight (storage.max_upload_memory).", g.UploadMemory),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ftpsd_passive_exhaustions_total", Help: "PASV/EPSV commands that found no free port.",
		}, func() float64 { return float64(g.PassiveExhaustions()) }),
	)
	if g.Quotas != nil {
		m.reg.MustRegister(quotaCollector(g.Quotas))
	}
}

// Series of the accounts' quotas, by user.
var (
	quotaBytesDesc = prometheus.NewDesc("ftpsd_quota_used_bytes",
		"Bytes in the home of an account with a quota, as this process counts them.", []string{"user"}, nil)
	quotaFilesDesc = prometheus.NewDesc("ftpsd_quota_used_files",
		"Files in the home of an account with a quota, as this process counts them.", []string{"user"}, nil)
	quotaBytesLimitDesc = prometheus.NewDesc("ftpsd_quota_limit_bytes",
		"quota_bytes of an account that has one.", []string{"user"}, nil)
	quotaFilesLimitDesc = prometheus.NewDesc("ftpsd_quota_limit_files",
		"quota_files of an account that has one.", []string{"user"}, nil)
)

// quotaCollector reads the accounts' quotas at each scrape.
type quotaCollector func() []AccountQuota

func (f quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{quotaBytesDesc, quotaFilesDesc, quotaBytesLimitDesc, quotaFilesLimitDesc} {
		ch <- d
	}
}

func (f quotaCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int64, user string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), user)
	}
	for _, q := range f() {
		gauge(quotaBytesDesc, q.Bytes, q.User)
		gauge(quotaFilesDesc, q.Files, q.User)
		if q.BytesLimit > 0 {
			gauge(quotaBytesLimitDesc, q.BytesLimit, q.User)
		}
		if q.FilesLimit > 0 {
			gauge(quotaFilesLimitDesc, q.FilesLimit, q.User)
		}
	}
}

// Handler serves /metrics and /healthz (200 "ok" while the process runs).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
