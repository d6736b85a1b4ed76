// Package config defines ftpsd's TOML configuration: its schema, the
// first-run defaults, strict decoding (an unknown key is an error that names
// it) and validation that reports every problem at once.
//
// The key names are a public interface: administrators' files rely on them.
// Keys may be added; none may be renamed.
package config

import (
	"crypto/tls"
	"net/netip"
	"runtime"
	"time"

	"go.uber.org/zap/zapcore"
)

// Config is the whole configuration of one ftpsd process.
type Config struct {
	Server   Server   `toml:"server"`
	TLS      TLS      `toml:"tls"`
	Passive  Passive  `toml:"passive"`
	Active   Active   `toml:"active"`
	Storage  Storage  `toml:"storage"`
	Defaults Defaults `toml:"defaults"`
	Users    []User   `toml:"users"`
	Hooks    []Hook   `toml:"hooks"`
	Events   Events   `toml:"events"`
	Log      Log      `toml:"log"`
	Metrics  Metrics  `toml:"metrics"`
	Security Security `toml:"security"`
	ACME     ACME     `toml:"acme"`
	// Auth is where accounts come from besides [[users]] (see auth.go).
	Auth Auth `toml:"auth"`
}

// Security holds the defence against password guessing: failed logins
// are counted per client network (an IPv4 address, an IPv6 prefix),
// delayed, and end in a ban.
type Security struct {
	// MaxLoginFailures failed logins from one network within FailureWindow
	// ban the network for BanTime (0: never ban).
	MaxLoginFailures int `toml:"max_login_failures"`
	// FailureWindow is how far back failed logins count.
	FailureWindow Duration `toml:"failure_window"`
	// BanTime is how long a banned address is refused (421 at connect).
	BanTime Duration `toml:"ban_time"`
	// BanExempt are client networks (CIDRs) that are never banned.
	BanExempt []netip.Prefix `toml:"ban_exempt"`
	// IPv6PrefixLength is how many leading bits of an IPv6 client address
	// name the network it counts as, for failed logins, delays, bans and
	// max_connections_per_ip (1..128; 128 counts each address alone). An
	// IPv4 client (IPv4-mapped IPv6 too) counts as its address.
	IPv6PrefixLength int `toml:"ipv6_prefix_length"`
}

// Metrics holds the Prometheus endpoint settings.
type Metrics struct {
	// Listen is the address of the /metrics and /healthz endpoint, e.g.
	// "127.0.0.1:9121"; empty turns it off.
	Listen string `toml:"listen"`
}

// Server holds the control-channel listeners and session settings.
type Server struct {
	// Listen is the explicit FTPS address (AUTH TLS), e.g. "0.0.0.0:21".
	Listen string `toml:"listen"`
	// ImplicitListen is the implicit FTPS address, e.g. "0.0.0.0:990";
	// empty disables implicit FTPS.
	ImplicitListen string `toml:"implicit_listen"`
	// Banner is the text of the 220 greeting.
	Banner string `toml:"banner"`
	// IdleTimeout closes a control connection idle for that long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long SIGTERM/SIGINT lets running transfers
	// finish before the remaining sessions are cut.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxConnections caps the control connections open at once (0: no cap).
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP caps them per client address (0: no cap).
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// TransferStallTimeout fails a transfer whose passive data connection
	// moved no byte for that long (426); its port is released and an
	// upload keeps the stored file.
	TransferStallTimeout Duration `toml:"transfer_stall_timeout"`
	// MaxListEntries caps the entries of one directory listing (LIST,
	// NLST, MLSD, STAT of a directory): the listing stops after that many
	// and ends with an error reply naming the key (0: no cap).
	MaxListEntries int `toml:"max_list_entries"`
	// MaxConcurrentListings caps the listings in progress on the whole
	// server, of which one client address may hold half; one more is
	// answered 450 before any line (0: sized for the machine, see
	// ConcurrentListings).
	MaxConcurrentListings int `toml:"max_concurrent_listings"`
	// HashCommand enables HASH (draft-bryan-ftpext-hash, with OPTS HASH)
	// and XSHA1/XSHA256/XSHA512: the server reads a whole file to answer
	// one command, one at a time per session, counted as a transfer.
	HashCommand bool `toml:"hash_command"`
	// LoginTimeout closes a control connection that has not logged in
	// (successful PASS) that long after it was accepted, with 421.
	LoginTimeout Duration `toml:"login_timeout"`
	// MaxUnauthenticated caps the control connections open at once that
	// have not logged in (0: no cap); logged-in sessions do not count.
	MaxUnauthenticated int `toml:"max_unauthenticated"`
	// MaxUnauthenticatedPerIP caps them per client address (0: no cap).
	// When MaxUnauthenticated is reached, a newcomer whose address,
	// newcomer included, would still hold fewer of them than the busiest
	// address takes the place of that address's oldest one.
	MaxUnauthenticatedPerIP int `toml:"max_unauthenticated_per_ip"`
	// ProxyProtocol makes the control listeners take each connection's
	// client address from a PROXY protocol header (v1 or v2) sent by a load
	// balancer in TrustedProxies; connections from other addresses, and
	// connections of a trusted balancer without a valid header, are dropped.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// TrustedProxies are the balancers' networks (CIDRs) allowed to send
	// PROXY headers; required when ProxyProtocol or Passive.ProxyProtocol
	// is on.
	TrustedProxies []netip.Prefix `toml:"trusted_proxies"`
}

// TLS holds the certificate and the TLS policy.
type TLS struct {
	CertFile   string `toml:"cert_file"`
	KeyFile    string `toml:"key_file"`
	SelfSigned bool   `toml:"self_signed"`
	// MinVersion is "1.2" or "1.3".
	MinVersion TLSVersion `toml:"min_version"`
	// Require is "none", "control" or "all".
	Require Require `toml:"require"`
	// CCC is "allow" or "deny": whether a logged-in client may clear the
	// control channel (CCC, RFC 4217 section 6).
	CCC CCCPolicy `toml:"ccc"`
	// RequireSessionReuse refuses a protected data connection whose TLS
	// session was not resumed from a control connection of the same user
	// and client address, while the control channel is TLS.
	RequireSessionReuse bool `toml:"require_session_reuse"`
	// RequireSessionReuseAfterCCC keeps RequireSessionReuse strict after
	// CCC. When false (the default), a session whose control channel was
	// cleared accepts a protected data connection that does not resume
	// when it comes from the control connection's client address.
	RequireSessionReuseAfterCCC bool `toml:"require_session_reuse_after_ccc"`
	// StrictUploadEOF commits an upload over a protected data connection
	// only when the client ended it with TLS close_notify: a bare TCP FIN,
	// which anybody on the path can forge, fails the upload.
	StrictUploadEOF bool `toml:"strict_upload_eof"`
}

// Passive holds the passive-mode data port settings.
type Passive struct {
	// Ports is the inclusive range "START-END" opened on the firewall.
	Ports PortRange `toml:"ports"`
	// AnnouncePorts, when set, is the range the edge forwards to Ports,
	// port for port ("60000-60019" for "50000-50019": 60000 reaches
	// 50000): 227/229 replies announce the public port of the local port
	// listened on, but to clients told the server's own address (inside,
	// or after CCC with AnnounceAfterCCC "local"). Same length as Ports;
	// empty announces Ports themselves.
	AnnouncePorts PortRange `toml:"announce_ports"`
	// Wait is how long a PASV/EPSV waits for a port when every port of the
	// range is leased; "0s" answers at once.
	Wait Duration `toml:"wait"`
	// PublicAddress is announced in 227 replies: an IPv4 address or a DNS
	// name (the firewall's public address behind NAT). Empty announces the
	// address the client connected to.
	PublicAddress string `toml:"public_address"`
	// PublicAddressRefresh is how often a DNS name is resolved again.
	PublicAddressRefresh Duration `toml:"public_address_refresh"`
	// InternalNetworks are client networks (CIDRs) that get the server's own
	// address instead of PublicAddress.
	InternalNetworks []netip.Prefix `toml:"internal_networks"`
	// AnnounceAfterCCC is the address of 227 replies once the control
	// channel was cleared (CCC): "local" (the server's own address, which a
	// NAT firewall's FTP inspector recognises and rewrites) or "public"
	// (PublicAddress, for an inspector that does not rewrite).
	AnnounceAfterCCC AnnounceWord `toml:"announce_after_ccc"`
	// EPSV answers EPSV; false answers it 502 and leaves it out of FEAT, so
	// that clients fall back to PASV (for inspectors that only track 227).
	EPSV bool `toml:"epsv"`
	// ConnectTimeout bounds the time from a 227/229 reply to its data
	// connection's TLS handshake (to its TCP connection under PROT C); on
	// expiry the port is released. It also bounds active-mode connects.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MaxPortsPerSession caps the idle passive listeners of one session.
	MaxPortsPerSession int `toml:"max_ports_per_session"`
	// MaxPortsPerIP caps the passive ports held at once by the sessions
	// of one client address; 0 means a quarter of the range (at least 1).
	// With Multiplex it caps the sessions of one address waiting for a
	// data connection at once; 0 then means MuxSessionsPerPort per port.
	MaxPortsPerIP int `toml:"max_ports_per_ip"`
	// ProxyProtocol makes the passive listeners take each data
	// connection's client from a PROXY protocol header (v1 or v2), for a
	// balancer that forwards this node's passive range as well as the
	// control port; connections from outside server.trusted_proxies, and
	// connections without a valid header within ConnectTimeout, are
	// dropped.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// Multiplex serves the data connections of many sessions on each port
	// of the range: a data connection goes to the waiting session of its
	// client address, or, with several from one address, to the one whose
	// TLS session its ClientHello resumes; a session of an address that
	// could not be told apart so gets another port.
	Multiplex bool `toml:"multiplex"`
}

// MuxSessionsPerPort is how many sessions of one address may wait for a
// data connection at once, per port of the range, when passive.multiplex
// is on and max_ports_per_ip is 0.
const MuxSessionsPerPort = 4

// ListingsPerCPU is how many listings may be in progress per CPU when
// server.max_concurrent_listings is 0.
const ListingsPerCPU = 16

// ConcurrentListings returns the effective max_concurrent_listings: the
// configured value, or ListingsPerCPU per CPU the process may use
// (GOMAXPROCS, which follows a container's CPU limit) when it is 0.
func (s Server) ConcurrentListings() int {
	if s.MaxConcurrentListings > 0 {
		return s.MaxConcurrentListings
	}
	return ListingsPerCPU * runtime.GOMAXPROCS(0)
}

// PortsPerIP returns the effective max_ports_per_ip: the configured value,
// or a quarter of the range (at least 1) when it is 0. A quarter, not a
// half: two addresses (one account on two machines) would hold the whole
// range; it takes four to hold it now.
func (p Passive) PortsPerIP() int {
	if p.MaxPortsPerIP > 0 {
		return p.MaxPortsPerIP
	}
	if p.Multiplex {
		return MuxSessionsPerPort * p.Ports.Len()
	}
	return max(1, p.Ports.Len()/4)
}

// Active holds the active-mode (PORT/EPRT) settings.
type Active struct {
	// Enabled allows active mode; behind a firewall it rarely works, so it
	// is off by default. The PORT address must be the client's own.
	Enabled bool `toml:"enabled"`
}

// Storage selects where users' files live.
type Storage struct {
	// Backend is "os", "memory" or "s3".
	Backend Backend `toml:"backend"`
	// Root is the directory under which users' homes live (backend "os").
	Root string `toml:"root"`

	// The keys below are those of backend "s3": an S3-compatible object
	// store, where the homes are key prefixes under Prefix in Bucket.

	// Endpoint is the store's URL, "http://127.0.0.1:9000" or
	// "https://s3.example.net".
	Endpoint Endpoint `toml:"endpoint"`
	Bucket   string   `toml:"bucket"`
	Region   string   `toml:"region"`
	// Prefix is the key prefix of the homes ("ftp" keeps them under
	// "ftp/"); empty puts them at the top of the bucket.
	Prefix string `toml:"prefix"`
	// PathStyle addresses the bucket in the URL's path (MinIO and most
	// self-hosted stores) instead of as a DNS name.
	PathStyle bool `toml:"path_style"`
	// CredentialsFile is an AWS shared-credentials file; empty takes
	// AccessKey/SecretKey, or else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
	// and AWS_SESSION_TOKEN from the environment.
	CredentialsFile    string `toml:"credentials_file"`
	CredentialsProfile string `toml:"credentials_profile"`
	// AccessKey and SecretKey are inline credentials; "ftpsd check" warns
	// about them (the file is then a secret).
	AccessKey string `toml:"access_key"`
	SecretKey string `toml:"secret_key"`
	// PartSize is the part of a multipart upload, "8MiB"; an upload holds
	// one part in memory, and up to four (parts sent concurrently) while
	// less than half of MaxUploadMemory is held.
	PartSize ByteSize `toml:"part_size"`
	// MaxUploadMemory bounds the memory held by the uploads in flight,
	// "256MiB": each reserves one part (PartSize) from the STOR until it
	// ended, and up to three more while less than half the bound is held
	// (see PartSize); a STOR beyond the bound gets 450 before its 150.
	MaxUploadMemory ByteSize `toml:"max_upload_memory"`
	// Timeout bounds each request to the store and each wait for its
	// bytes.
	Timeout Duration `toml:"timeout"`
}

// User is one account.
type User struct {
	Name string `toml:"name"`
	// PasswordHash is a bcrypt hash (see "ftpsd hash-password").
	PasswordHash string `toml:"password_hash"`
	// Home is relative to Storage.Root; empty means the root itself.
	Home     string `toml:"home"`
	ReadOnly bool   `toml:"read_only"`
	// RequireSessionReuse, when set, replaces [tls] require_session_reuse
	// for this user (e.g. false for a partner whose client cannot resume).
	RequireSessionReuse *bool `toml:"require_session_reuse"`
	// AllowedNetworks, when set, replaces [defaults] allowed_networks: the
	// client networks (CIDRs) the account may log in from; empty: any.
	AllowedNetworks *[]netip.Prefix `toml:"allowed_networks"`
	// QuotaBytes and QuotaFiles, when set, replace [defaults]: the bytes
	// and files the account's home may hold ("0B", 0: no quota).
	QuotaBytes ByteSize `toml:"quota_bytes,omitempty"`
	QuotaFiles *int64   `toml:"quota_files"`
	// MaxDownloadRate and MaxUploadRate, when set, replace [defaults]: the
	// bytes per second of the account's downloads and uploads, each
	// session and all its sessions together ("0B": no limit).
	MaxDownloadRate ByteSize `toml:"max_download_rate,omitempty"`
	MaxUploadRate   ByteSize `toml:"max_upload_rate,omitempty"`
	// Expires, when set, is when the account stops working: a date
	// ("2027-03-31": from that day's start, server time, as useradd -e) or
	// an RFC 3339 time.
	Expires Expiry `toml:"expires,omitempty"`
	// Disabled refuses every login of the account and closes its sessions.
	Disabled bool `toml:"disabled"`
}

// Defaults holds the account policy of every [[users]] entry that does
// not set a key of its own.
type Defaults struct {
	// AllowedNetworks are the client networks (CIDRs) an account may log
	// in from; empty: any.
	AllowedNetworks []netip.Prefix `toml:"allowed_networks"`
	// QuotaBytes and QuotaFiles bound what a home may hold (0: no quota).
	QuotaBytes ByteSize `toml:"quota_bytes"`
	QuotaFiles int64    `toml:"quota_files"`
	// MaxDownloadRate and MaxUploadRate bound an account's transfers in
	// bytes per second (0: no limit).
	MaxDownloadRate ByteSize `toml:"max_download_rate"`
	MaxUploadRate   ByteSize `toml:"max_upload_rate"`
}

// Policy is an account's policy once [defaults] is applied: what the
// driver enforces.
type Policy struct {
	AllowedNetworks []netip.Prefix // empty: any
	QuotaBytes      int64          // 0: no quota
	QuotaFiles      int64          // 0: no quota
	MaxDownloadRate int64          // bytes per second; 0: no limit
	MaxUploadRate   int64          // bytes per second; 0: no limit
	Expires         time.Time      // zero: never
	Disabled        bool
}

// Policy returns u's policy, its own keys over d.
func (u User) Policy(d Defaults) Policy {
	p := Policy{
		AllowedNetworks: d.AllowedNetworks,
		QuotaBytes:      d.QuotaBytes.Bytes(),
		QuotaFiles:      d.QuotaFiles,
		MaxDownloadRate: d.MaxDownloadRate.Bytes(),
		MaxUploadRate:   d.MaxUploadRate.Bytes(),
		Expires:         u.Expires.Time(),
		Disabled:        u.Disabled,
	}
	if u.AllowedNetworks != nil {
		p.AllowedNetworks = *u.AllowedNetworks
	}
	if u.QuotaBytes.Set() {
		p.QuotaBytes = u.QuotaBytes.Bytes()
	}
	if u.QuotaFiles != nil {
		p.QuotaFiles = *u.QuotaFiles
	}
	if u.MaxDownloadRate.Set() {
		p.MaxDownloadRate = u.MaxDownloadRate.Bytes()
	}
	if u.MaxUploadRate.Set() {
		p.MaxUploadRate = u.MaxUploadRate.Bytes()
	}
	return p
}

// AllowsFrom reports whether a client at ip may log in under p.
func (p Policy) AllowsFrom(ip netip.Addr) bool {
	if len(p.AllowedNetworks) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, n := range p.AllowedNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ExpiredAt reports whether the account has expired at now.
func (p Policy) ExpiredAt(now time.Time) bool {
	return !p.Expires.IsZero() && !now.Before(p.Expires)
}

// SessionReuseRequired reports whether u's protected data connections must
// resume a TLS session, given the [tls] default.
func (u User) SessionReuseRequired(tlsDefault bool) bool {
	if u.RequireSessionReuse != nil {
		return *u.RequireSessionReuse
	}
	return tlsDefault
}

// Hook is one [[hooks]] entry: the events it wants and the action that
// gets them, a command or an HTTP POST.
type Hook struct {
	// Events are the kinds of event the hook gets: "upload", "download",
	// "delete", "rename", "mkdir", "rmdir", "login", "login_failed".
	Events []string `toml:"events"`
	// Users, when not empty, keeps the events of these accounts only.
	Users []string `toml:"users"`
	// Path, when set, keeps the events whose path in the user's view (or a
	// rename's new path) matches this glob (path.Match syntax, "/in/*.csv").
	Path string `toml:"path"`
	// Command is a program and its arguments, run without a shell; the
	// placeholders of HookPlaceholders are replaced in the arguments.
	Command []string `toml:"command"`
	// URL receives the event as a signed HTTP POST ("https://...").
	URL string `toml:"url"`
	// SecretFile holds the key of the POST's HMAC-SHA256 signature;
	// required with URL.
	SecretFile string `toml:"secret_file"`
	// Timeout bounds one run of the command (then killed) or one POST;
	// zero means DefaultHookTimeout.
	Timeout Duration `toml:"timeout"`
}

// DefaultHookTimeout is a hook's timeout when it sets none.
const DefaultHookTimeout = 30 * time.Second

// EffectiveTimeout returns the hook's timeout, DefaultHookTimeout when unset.
func (h Hook) EffectiveTimeout() time.Duration {
	if h.Timeout <= 0 {
		return DefaultHookTimeout
	}
	return h.Timeout.Std()
}

// HookEvents are the kinds of event a hook may ask for.
var HookEvents = []string{"upload", "download", "delete", "rename", "mkdir", "rmdir", "login", "login_failed"}

// HookPlaceholders are replaced in a hook command's arguments by the
// event's values.
var HookPlaceholders = []string{"{event_id}", "{event}", "{user}", "{client}", "{session}",
	"{path}", "{store_path}", "{target_path}", "{target_store_path}", "{size}", "{sha256}", "{start}", "{end}", "{reason}"}

// Events holds the spool where the server's events wait until every hook
// that wants them has them, and how they are delivered.
type Events struct {
	// SpoolDir is the directory of the spool; required when [[hooks]] are
	// configured.
	SpoolDir string `toml:"spool_dir"`
	// SpoolMaxEvents bounds the events waiting in the spool; when it is
	// full the oldest is dropped.
	SpoolMaxEvents int `toml:"spool_max_events"`
	// MaxRunning bounds the deliveries (commands running, POSTs in
	// flight) at once.
	MaxRunning int `toml:"max_running"`
	// MaxAttempts is how many times one event is tried on one hook before
	// it is given up (0: never given up).
	MaxAttempts int `toml:"max_attempts"`
	// RetryMinDelay and RetryMaxDelay bound the wait before a failed
	// delivery is tried again: it doubles from the first to the second,
	// with jitter.
	RetryMinDelay Duration `toml:"retry_min_delay"`
	RetryMaxDelay Duration `toml:"retry_max_delay"`
}

// Log holds the logging settings.
type Log struct {
	// Level is "debug", "info", "warn" or "error".
	Level LogLevel `toml:"level"`
	// Format is "json" or "console".
	Format LogFormat `toml:"format"`
	// Xferlog is a file that gets one line per transfer in the xferlog(5)
	// layout of wu-ftpd and vsftpd (for xferstats and log shippers),
	// opened for appending and reopened on SIGHUP; empty: none.
	Xferlog string `toml:"xferlog"`
}

// Policy words of [tls] require.
const (
	RequireNone    Require = "none"
	RequireControl Require = "control"
	RequireAll     Require = "all"
)

// Words of [tls] ccc.
const (
	CCCAllow CCCPolicy = "allow"
	CCCDeny  CCCPolicy = "deny"
)

// Words of [passive] announce_after_ccc.
const (
	AnnounceLocal  AnnounceWord = "local"
	AnnouncePublic AnnounceWord = "public"
)

// Storage backends.
const (
	BackendOS     Backend = "os"
	BackendMemory Backend = "memory"
	BackendS3     Backend = "s3"
)

// Log formats.
const (
	FormatConsole LogFormat = "console"
	FormatJSON    LogFormat = "json"
)

// Default returns a complete configuration that works as it is: the
// first-run default, listening on 127.0.0.1:2121 with a self-signed
// certificate and no users (cmd/ftpsd adds the demo user, and keeps the
// demo password and a certificate in files so that a restart serves the
// same ones).
func Default() Config {
	return Config{
		Server: Server{
			Listen:               "127.0.0.1:2121",
			Banner:               "ftpsd ready",
			IdleTimeout:          Duration(5 * time.Minute),
			ShutdownTimeout:      Duration(30 * time.Second),
			MaxConnections:       1000,
			MaxConnectionsPerIP:  100,
			TransferStallTimeout: Duration(5 * time.Minute),
			MaxListEntries:       1_000_000,
			LoginTimeout:         Duration(30 * time.Second),
			MaxUnauthenticated:   256,
			// An office behind one NAT address logging in at once: its
			// password checks run one at a time, so its clients wait
			// their turn not logged in.
			MaxUnauthenticatedPerIP: 32,
		},
		TLS: TLS{
			SelfSigned:          true,
			MinVersion:          TLSVersionOf(tls.VersionTLS12),
			Require:             RequireAll,
			CCC:                 CCCAllow,
			RequireSessionReuse: true,
			StrictUploadEOF:     true,
		},
		Passive: Passive{
			Ports:                PortsOf(50000, 50019),
			Wait:                 Duration(5 * time.Second),
			PublicAddressRefresh: Duration(5 * time.Minute),
			AnnounceAfterCCC:     AnnounceLocal,
			EPSV:                 true,
			ConnectTimeout:       Duration(30 * time.Second),
			MaxPortsPerSession:   1,
		},
		Storage: Storage{
			Backend: BackendOS, Root: "./ftproot",
			Region: "us-east-1", CredentialsProfile: "default",
			PartSize: BytesOf(8 << 20), MaxUploadMemory: BytesOf(256 << 20),
			Timeout: Duration(30 * time.Second),
		},
		Defaults: Defaults{QuotaBytes: BytesOf(0), MaxDownloadRate: BytesOf(0), MaxUploadRate: BytesOf(0)},
		Events: Events{
			SpoolMaxEvents: 10000, MaxRunning: 4, MaxAttempts: 25,
			RetryMinDelay: Duration(time.Second), RetryMaxDelay: Duration(10 * time.Minute),
		},
		Log: Log{Level: LogLevelOf(zapcore.InfoLevel), Format: FormatConsole},
		Security: Security{
			MaxLoginFailures: 5,
			FailureWindow:    Duration(5 * time.Minute),
			BanTime:          Duration(15 * time.Minute),
			IPv6PrefixLength: 64,
		},
		ACME: defaultACME(),
		Auth: defaultAuth(),
	}
}
