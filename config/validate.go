package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Validate checks ranges and cross-field rules and reports every problem,
// each naming its key.
func (c *Config) Validate() error {
	var problems []error
	add := func(key, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.validateServer(add)
	c.validateTLS(add)
	c.validatePassive(add)
	c.validatePassiveProxy(add)
	c.validateStorage(add)
	c.validateDefaults(add)
	c.validateUsers(add)
	c.validateHooks(add)
	c.validateLog(add)
	c.validateSecurity(add)
	c.validateACME(add)
	c.validateAuth(add)
	return errors.Join(problems...)
}

type addFunc func(key, format string, args ...any)

func (c *Config) validateServer(add addFunc) {
	if c.Server.Listen == "" && c.Server.ImplicitListen == "" {
		add("server.listen", "set server.listen or server.implicit_listen")
	}
	checkAddr(add, "server.listen", c.Server.Listen)
	checkAddr(add, "server.implicit_listen", c.Server.ImplicitListen)
	if c.Server.Listen != "" && c.Server.Listen == c.Server.ImplicitListen && !strings.HasSuffix(c.Server.Listen, ":0") {
		add("server.implicit_listen", "must differ from server.listen")
	}
	atLeastSecond(add, "server.idle_timeout", c.Server.IdleTimeout)
	if c.Server.ShutdownTimeout < 0 {
		add("server.shutdown_timeout", "must not be negative")
	}
	if c.Server.MaxConnections < 0 {
		add("server.max_connections", "must not be negative (0 means no limit)")
	}
	if c.Server.TransferStallTimeout.Std() < time.Second {
		add("server.transfer_stall_timeout", "must be at least 1s, got %s", c.Server.TransferStallTimeout.Std())
	}
	if c.Server.MaxConnectionsPerIP < 0 {
		add("server.max_connections_per_ip", "must not be negative (0 means no limit)")
	}
	if c.Server.MaxListEntries < 0 {
		add("server.max_list_entries", "must not be negative (0 means no limit)")
	}
	if c.Server.MaxConcurrentListings < 0 {
		add("server.max_concurrent_listings", "must not be negative (0 means %d per CPU)", ListingsPerCPU)
	}
	if c.Server.MaxUnauthenticated < 0 {
		add("server.max_unauthenticated", "must not be negative (0 means no limit)")
	}
	if c.Server.MaxUnauthenticatedPerIP < 0 {
		add("server.max_unauthenticated_per_ip", "must not be negative (0 means no limit)")
	}
	atLeastSecond(add, "server.login_timeout", c.Server.LoginTimeout)
	if c.Server.ProxyProtocol && len(c.Server.TrustedProxies) == 0 {
		add("server.trusted_proxies", "required when server.proxy_protocol = true (the load balancers' CIDRs)")
	}
	checkAddr(add, "metrics.listen", c.Metrics.Listen)
	if strings.ContainsAny(c.Server.Banner, "\r\n") {
		add("server.banner", "must be one line")
	}
}

// atLeastSecond reports a duration below one second.
func atLeastSecond(add addFunc, key string, d Duration) {
	if d.Std() < time.Second {
		add(key, "must be at least 1s, got %s", d.Std())
	}
}

func (c *Config) validateSecurity(add addFunc) {
	if c.Security.MaxLoginFailures < 0 {
		add("security.max_login_failures", "must not be negative (0 means never ban)")
	}
	atLeastSecond(add, "security.failure_window", c.Security.FailureWindow)
	atLeastSecond(add, "security.ban_time", c.Security.BanTime)
	if n := c.Security.IPv6PrefixLength; n < 1 || n > 128 {
		add("security.ipv6_prefix_length", "must be 1..128, got %d", n)
	}
}

func checkAddr(add addFunc, key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		add(key, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add(key, "%q has no valid port", addr)
	}
}

func (c *Config) validateTLS(add addFunc) {
	if c.TLS.MinVersion.ID() == 0 {
		add("tls.min_version", "%q is not one of \"1.2\", \"1.3\"", c.TLS.MinVersion.String())
	}
	switch c.TLS.Require {
	case RequireNone, RequireControl, RequireAll:
	default:
		add("tls.require", "%q is not one of \"none\", \"control\", \"all\"", c.TLS.Require)
	}
	switch c.TLS.CCC {
	case CCCAllow, CCCDeny:
	default:
		add("tls.ccc", "%q is not one of \"allow\", \"deny\"", c.TLS.CCC)
	}
	if c.TLS.SelfSigned && (c.TLS.CertFile != "" || c.TLS.KeyFile != "") {
		add("tls.self_signed", "cannot be true together with tls.cert_file/tls.key_file")
	}
	if !c.TLS.SelfSigned && !c.ACME.Enabled() {
		if c.TLS.CertFile == "" {
			add("tls.cert_file", "required unless tls.self_signed = true")
		}
		if c.TLS.KeyFile == "" {
			add("tls.key_file", "required unless tls.self_signed = true")
		}
	}
}

func (c *Config) validatePassive(add addFunc) {
	if c.Passive.Wait < 0 {
		add("passive.wait", "must not be negative")
	}
	atLeastSecond(add, "passive.public_address_refresh", c.Passive.PublicAddressRefresh)
	if a := c.Passive.PublicAddress; a != "" {
		if ip, err := netip.ParseAddr(a); err == nil && !ip.Is4() {
			add("passive.public_address", "%q is not IPv4 (PASV announces IPv4; IPv6 clients use EPSV)", a)
		} else if err != nil && !validHostname(a) {
			add("passive.public_address", "%q is neither an IPv4 address nor a DNS name", a)
		}
	}
	switch c.Passive.AnnounceAfterCCC {
	case AnnounceLocal, AnnouncePublic:
	default:
		add("passive.announce_after_ccc", "%q is not one of \"local\", \"public\"", c.Passive.AnnounceAfterCCC)
	}
	if c.Passive.ConnectTimeout.Std() < time.Second {
		add("passive.connect_timeout", "must be at least 1s, got %s", c.Passive.ConnectTimeout.Std())
	}
	r := c.Passive.Ports
	if r.problem == nil && r.IsZero() {
		r.problem = errNoRange
	}
	if r.problem != nil {
		add("passive.ports", "%v", r.problem)
		return
	}
	c.validatePortCaps(add)
	c.validateAnnouncePorts(add)
	c.validateMultiplex(add)
	for _, key := range []struct{ name, addr string }{
		{"server.listen", c.Server.Listen}, {"server.implicit_listen", c.Server.ImplicitListen},
	} {
		if _, p, err := net.SplitHostPort(key.addr); err == nil {
			if n, _ := strconv.Atoi(p); r.Contains(n) {
				add("passive.ports", "range %s contains the control port of %s", r, key.name)
			}
		}
	}
}

// validatePassiveProxy checks passive.proxy_protocol: every data
// connection must then come through a balancer, so the addresses that
// would send a client straight to this node are errors.
func (c *Config) validatePassiveProxy(add addFunc) {
	if !c.Passive.ProxyProtocol {
		return
	}
	if len(c.Server.TrustedProxies) == 0 {
		add("server.trusted_proxies", "required when passive.proxy_protocol = true (the load balancers' CIDRs)")
	}
	if len(c.Passive.InternalNetworks) > 0 {
		add("passive.internal_networks", "must be empty when passive.proxy_protocol = true: those clients would get this node's own address and reach it without the balancer's header")
	}
	if c.TLS.CCC == CCCAllow && c.Passive.AnnounceAfterCCC == AnnounceLocal {
		add("passive.announce_after_ccc", "must be \"public\" when passive.proxy_protocol = true and tls.ccc = \"allow\": \"local\" announces this node's own address, which clients reach without the balancer's header")
	}
}

// validateMultiplex refuses what passive.multiplex cannot serve yet: it
// routes a data connection by the address of the accepted socket, before
// any PROXY header is read (passive.proxy_protocol), and announces the
// ports of the range as they are (passive.announce_ports).
func (c *Config) validateMultiplex(add addFunc) {
	if !c.Passive.Multiplex {
		return
	}
	if c.Passive.ProxyProtocol {
		add("passive.multiplex", "cannot be combined with passive.proxy_protocol: a multiplexed port routes each data connection by the address it comes from, which behind the balancer is the balancer's")
	}
	if !c.Passive.AnnouncePorts.IsZero() {
		add("passive.multiplex", "cannot be combined with passive.announce_ports (port translation) yet")
	}
}

// validateAnnouncePorts checks passive.announce_ports against the range
// it translates: port for port, so of the same length.
func (c *Config) validateAnnouncePorts(add addFunc) {
	a := c.Passive.AnnouncePorts
	switch {
	case a.problem != nil:
		add("passive.announce_ports", "%v", a.problem)
	case a.IsZero():
	case a.Len() != c.Passive.Ports.Len():
		add("passive.announce_ports", "range %s has %d ports, passive.ports %s has %d: the edge forwards them port for port, so both must have the same length",
			a, a.Len(), c.Passive.Ports, c.Passive.Ports.Len())
	}
}

// validatePortCaps checks the caps on passive ports against the range: a
// cap above the range could never apply and is an error, not clamped.
func (c *Config) validatePortCaps(add addFunc) {
	n := c.Passive.Ports.Len()
	if v := c.Passive.MaxPortsPerSession; v < 1 || v > n {
		add("passive.max_ports_per_session", "must lie in 1-%d (the ports of passive.ports), got %d", n, v)
	}
	if v := c.Passive.MaxPortsPerIP; c.Passive.Multiplex && v < 0 {
		add("passive.max_ports_per_ip", "must not be negative, got %d", v)
	} else if v := c.Passive.MaxPortsPerIP; !c.Passive.Multiplex && (v < 0 || v > n) {
		add("passive.max_ports_per_ip", "must lie in 0-%d (0: a quarter of passive.ports' %d ports), got %d", n, n, v)
	}
}

func (c *Config) validateStorage(add addFunc) {
	switch c.Storage.Backend {
	case BackendOS:
		if c.Storage.Root == "" {
			add("storage.root", "required with backend \"os\"")
		}
	case BackendMemory:
	case BackendS3:
		c.validateS3(add)
	default:
		add("storage.backend", "%q is not one of \"os\", \"memory\", \"s3\"", c.Storage.Backend)
	}
}

// Bounds of storage.part_size: S3's smallest part (but the last) and its
// largest.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// validateS3 checks the keys of backend "s3".
func (c *Config) validateS3(add addFunc) {
	s := c.Storage
	switch {
	case s.Endpoint.String() == "":
		add("storage.endpoint", "required with backend \"s3\" (e.g. \"https://s3.example.net\")")
	case s.Endpoint.problem != nil:
		add("storage.endpoint", "%v", s.Endpoint.problem)
	}
	if s.Bucket == "" {
		add("storage.bucket", "required with backend \"s3\"")
	}
	if s.Region == "" {
		add("storage.region", "must not be empty (\"us-east-1\" suits most stores)")
	}
	if strings.HasPrefix(s.Prefix, "/") || containsDotDot(s.Prefix) || strings.Contains(s.Prefix, "//") {
		add("storage.prefix", "%q must be a relative key prefix, without \"..\" or \"//\"", s.Prefix)
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		add("storage.access_key", "set both storage.access_key and storage.secret_key, or neither")
	}
	if s.CredentialsFile != "" && s.AccessKey != "" {
		add("storage.credentials_file", "set storage.credentials_file or storage.access_key/secret_key, not both")
	}
	if s.CredentialsProfile == "" {
		add("storage.credentials_profile", "must not be empty (\"default\" is the usual profile)")
	}
	p, m := s.PartSize, s.MaxUploadMemory
	if p.problem != nil {
		add("storage.part_size", "%v", p.problem)
	} else if p.Bytes() < minPartSize || p.Bytes() > maxPartSize {
		add("storage.part_size", "must lie in 5MiB-5GiB (S3's part sizes), got %s", p)
	}
	if m.problem != nil {
		add("storage.max_upload_memory", "%v", m.problem)
	} else if p.problem == nil && m.Bytes() < p.Bytes() {
		add("storage.max_upload_memory", "must be at least storage.part_size (%s), the memory one upload holds, got %s", p, m)
	}
	atLeastSecond(add, "storage.timeout", s.Timeout)
}

func (c *Config) validateUsers(add addFunc) {
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			add(key+".name", "required")
		case strings.ContainsAny(u.Name, " \t\r\n"):
			add(key+".name", "%q must not contain white space", u.Name)
		case seen[u.Name]:
			add(key+".name", "%q is defined twice", u.Name)
		}
		seen[u.Name] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			add(key+".password_hash", "not a bcrypt hash (make one with \"ftpsd hash-password\")")
		}
		checkAccountKeys(add, key, u)
	}
}

func (c *Config) validateHooks(add addFunc) {
	for i, h := range c.Hooks {
		key := fmt.Sprintf("hooks[%d]", i)
		if len(h.Events) == 0 {
			add(key+".events", "required: one or more of %s", strings.Join(HookEvents, ", "))
		}
		for _, e := range h.Events {
			if !slices.Contains(HookEvents, e) {
				add(key+".events", "%q is not one of %s", e, strings.Join(HookEvents, ", "))
			}
		}
		for _, u := range h.Users {
			if u == "" || strings.ContainsAny(u, " \t\r\n") {
				add(key+".users", "%q is not an account name", u)
			}
		}
		if h.Path != "" {
			if _, err := path.Match(h.Path, "/"); err != nil || !strings.HasPrefix(h.Path, "/") || strings.Contains(h.Path, "**") {
				add(key+".path", "%q is not a glob of a path in the user's view (\"/in/*.csv\"; path.Match syntax, no \"**\")", h.Path)
			}
		}
		if h.Timeout != 0 && h.Timeout.Std() < time.Second {
			add(key+".timeout", "must be at least 1s, got %s", h.Timeout.Std())
		}
		validateHookAction(add, key, h)
	}
	e := c.Events
	if len(c.Hooks) > 0 && e.SpoolDir == "" {
		add("events.spool_dir", "required when [[hooks]] are configured (a directory only ftpsd writes, e.g. \"/var/lib/ftpsd/spool\")")
	}
	if e.SpoolMaxEvents < 1 {
		add("events.spool_max_events", "must be at least 1, got %d", e.SpoolMaxEvents)
	}
	if e.MaxRunning < 1 {
		add("events.max_running", "must be at least 1, got %d", e.MaxRunning)
	}
	if e.MaxAttempts < 0 {
		add("events.max_attempts", "must not be negative (0: never give up), got %d", e.MaxAttempts)
	}
	if e.RetryMinDelay.Std() < 100*time.Millisecond {
		add("events.retry_min_delay", "must be at least 100ms, got %s", e.RetryMinDelay.Std())
	}
	if e.RetryMaxDelay < e.RetryMinDelay {
		add("events.retry_max_delay", "must be at least events.retry_min_delay (%s), got %s", e.RetryMinDelay.Std(), e.RetryMaxDelay.Std())
	}
}

// placeholderRE finds the placeholders of a hook command's arguments.
var placeholderRE = regexp.MustCompile(`\{[a-z0-9_]+\}`)

// validateHookAction checks that a hook has one action, command or url,
// and that it is well formed.
func validateHookAction(add addFunc, key string, h Hook) {
	switch {
	case len(h.Command) == 0 && h.URL == "":
		add(key, "set command or url")
	case len(h.Command) > 0 && h.URL != "":
		add(key+".command", "set command or url, not both")
	case len(h.Command) > 0:
		if !path.IsAbs(h.Command[0]) {
			add(key+".command", "the program %q must be an absolute path (it is run without a shell)", h.Command[0])
		}
		for _, arg := range h.Command[1:] {
			for _, p := range placeholderRE.FindAllString(arg, -1) {
				if !slices.Contains(HookPlaceholders, p) {
					add(key+".command", "%s is not one of %s", p, strings.Join(HookPlaceholders, " "))
				}
			}
		}
		if h.SecretFile != "" {
			add(key+".secret_file", "only with url (it signs the POST)")
		}
	default:
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(key+".url", "%q is not an http:// or https:// URL", h.URL)
		}
		if h.SecretFile == "" {
			add(key+".secret_file", "required with url (the file holding the signature's key)")
		}
	}
}

func (c *Config) validateDefaults(add addFunc) {
	d := c.Defaults
	checkNetworks(add, "defaults.allowed_networks", d.AllowedNetworks)
	checkSize(add, "defaults.quota_bytes", d.QuotaBytes)
	if d.QuotaFiles < 0 {
		add("defaults.quota_files", "must be 0 (no quota) or more, got %d", d.QuotaFiles)
	}
	checkSize(add, "defaults.max_download_rate", d.MaxDownloadRate)
	checkSize(add, "defaults.max_upload_rate", d.MaxUploadRate)
}

// checkNetworks refuses a network written with host bits set
// ("198.51.100.7/24"), which is most often a typing mistake.
func checkNetworks(add addFunc, key string, nets []netip.Prefix) {
	for _, n := range nets {
		if n != n.Masked() {
			add(key, "%s has host bits set (the network is %s)", n, n.Masked())
		}
	}
}

// checkSize reports a size whose text did not parse.
func checkSize(add addFunc, key string, b ByteSize) {
	if b.problem != nil {
		add(key, "%v", b.problem)
	}
}

func containsDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func (c *Config) validateLog(add addFunc) {
	if !c.Log.Level.ok {
		add("log.level", "%q is not one of \"debug\", \"info\", \"warn\", \"error\"", c.Log.Level.String())
	}
	switch c.Log.Format {
	case FormatJSON, FormatConsole:
	default:
		add("log.format", "%q is not one of \"json\", \"console\"", c.Log.Format)
	}
}

// validHostname reports whether s looks like a DNS name.
func validHostname(s string) bool {
	if len(s) > 253 || s == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}
