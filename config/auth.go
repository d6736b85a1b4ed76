package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Auth says where accounts are looked up: the sources asked in order,
// the cache of their answers, and the settings of each external source.
type Auth struct {
	// Sources are the account sources asked in order, each at most once:
	// "local" ([[users]]), "ldap" ([auth.ldap]), "http" ([auth.http]). The
	// first that knows the user decides; a source that cannot answer
	// stops the login with 421 (the next is not asked).
	Sources []string `toml:"sources"`
	// CacheTTL keeps an external source's admission of a user and
	// password that long (0: no cache). Failures are never kept; a reload
	// empties the cache.
	CacheTTL Duration `toml:"cache_ttl"`
	LDAP     LDAP     `toml:"ldap"`
	HTTP     HTTPAuth `toml:"http"`
}

// The names of the account sources in [auth] sources.
const (
	SourceLocal = "local"
	SourceLDAP  = "ldap"
	SourceHTTP  = "http"
)

// SourceNames are the names [auth] sources accepts.
var SourceNames = []string{SourceLocal, SourceLDAP, SourceHTTP}

// MaxCacheTTL bounds auth.cache_ttl: an admission kept longer would let a
// password changed or an account locked in the directory work on.
const MaxCacheTTL = time.Hour

// LDAP is [auth.ldap]: a directory (OpenLDAP, Active Directory) that
// checks passwords by a bind as the user.
type LDAP struct {
	// URL is the server, "ldaps://host[:636]" or "ldap://host[:389]".
	URL string `toml:"url"`
	// StartTLS upgrades an ldap:// connection with StartTLS.
	StartTLS bool `toml:"start_tls"`
	// Insecure allows ldap:// without StartTLS: passwords in clear.
	Insecure bool `toml:"insecure"`
	// CAFile holds PEM certificates trusted for the server's, besides the
	// system's.
	CAFile string `toml:"ca_file"`
	// BindDN and BindPasswordFile are the service account that searches
	// for users (neither: an anonymous search).
	BindDN           string `toml:"bind_dn"`
	BindPasswordFile string `toml:"bind_password_file"`
	// BaseDN is where users are searched (subtree).
	BaseDN string `toml:"base_dn"`
	// UserFilter finds the user's entry; {user} is replaced by the login
	// name, escaped (RFC 4515).
	UserFilter string `toml:"user_filter"`
	// Timeout bounds one login's dealings with the directory (connect,
	// TLS, waiting for a connection, searches, bind).
	Timeout Duration `toml:"timeout"`
	// PoolSize is how many connections to the directory are open at most.
	PoolSize int `toml:"pool_size"`
	// NestedGroups counts membership through groups in groups (a bounded
	// search of ftpsd's own, on every directory).
	NestedGroups bool `toml:"nested_groups"`
	// Groups map group membership to the account's settings: the first
	// group (in this order) the user is a member of decides; a user in
	// none is unknown to this source (the next is asked). DN "*", last,
	// matches every user found.
	Groups []LDAPGroup `toml:"groups"`
}

// LDAPGroup is one [[auth.ldap.groups]] entry: the account keys of its
// members, as a [[users]] entry would set them.
type LDAPGroup struct {
	// DN is the group's distinguished name, or "*" (last) for every user.
	DN string `toml:"dn"`
	// Home is relative to storage.root; {user} is replaced by the login
	// name, {uid} by the user's uid in the directory.
	Home            string          `toml:"home"`
	ReadOnly        bool            `toml:"read_only"`
	AllowedNetworks *[]netip.Prefix `toml:"allowed_networks"`
	QuotaBytes      ByteSize        `toml:"quota_bytes,omitempty"`
	QuotaFiles      *int64          `toml:"quota_files"`
	MaxDownloadRate ByteSize        `toml:"max_download_rate,omitempty"`
	MaxUploadRate   ByteSize        `toml:"max_upload_rate,omitempty"`
}

// HomePlaceholders are replaced in an [[auth.ldap.groups]] home.
var HomePlaceholders = []string{"{user}", "{uid}"}

// AccountKeys returns the account keys g gives its members, as a
// [[users]] entry sets them; {user} and {uid} stay in Home.
func (g LDAPGroup) AccountKeys() User {
	return User{
		Home: g.Home, ReadOnly: g.ReadOnly, AllowedNetworks: g.AllowedNetworks,
		QuotaBytes: g.QuotaBytes, QuotaFiles: g.QuotaFiles,
		MaxDownloadRate: g.MaxDownloadRate, MaxUploadRate: g.MaxUploadRate,
	}
}

// HTTPAuth is [auth.http]: a service of the organisation's that answers
// a POST of the login with the account.
type HTTPAuth struct {
	// URL is where the login is POSTed (https://; http:// only to a
	// loopback address).
	URL string `toml:"url"`
	// TokenFile holds the token sent as "Authorization: Bearer".
	TokenFile string `toml:"token_file"`
	// SecretFile holds the key of the X-Ftpsd-Signature HMAC of the body,
	// as [[hooks]] sign theirs.
	SecretFile string `toml:"secret_file"`
	// Timeout bounds one request and its answer.
	Timeout Duration `toml:"timeout"`
	// CAFile holds PEM certificates trusted for the service's, besides
	// the system's.
	CAFile string `toml:"ca_file"`
}

// defaultAuth is [auth] as Default sets it.
func defaultAuth() Auth {
	return Auth{
		Sources: []string{SourceLocal},
		LDAP: LDAP{
			UserFilter: "(uid={user})", Timeout: Duration(5 * time.Second), PoolSize: 4,
		},
		HTTP: HTTPAuth{Timeout: Duration(5 * time.Second)},
	}
}

// Uses reports whether [auth] sources names source.
func (a Auth) Uses(source string) bool { return slices.Contains(a.Sources, source) }

func (c *Config) validateAuth(add addFunc) {
	a := c.Auth
	if len(a.Sources) == 0 {
		add("auth.sources", "name at least one of %s", quoted(SourceNames))
	}
	seen := map[string]bool{}
	for _, s := range a.Sources {
		switch {
		case !slices.Contains(SourceNames, s):
			add("auth.sources", "%q is not one of %s", s, quoted(SourceNames))
		case seen[s]:
			add("auth.sources", "%q is named twice", s)
		}
		seen[s] = true
	}
	if a.CacheTTL < 0 || a.CacheTTL.Std() > MaxCacheTTL {
		add("auth.cache_ttl", "must be 0 (no cache) to %s, got %s", MaxCacheTTL, a.CacheTTL.Std())
	}
	login := c.Server.LoginTimeout.Std()
	// A table whose source is not named is left alone: it may be kept
	// for later, as config.example.toml does.
	if a.Uses(SourceLDAP) {
		c.validateLDAP(add, login)
	}
	if a.Uses(SourceHTTP) {
		validateHTTPAuth(add, a.HTTP, login)
	}
}

func (c *Config) validateLDAP(add addFunc, login time.Duration) {
	l := c.Auth.LDAP
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		add("auth.ldap.url", "required when auth.sources names \"ldap\" (ldaps://host or ldap://host)")
	case err != nil || (u.Scheme != "ldaps" && u.Scheme != "ldap") || u.Host == "":
		add("auth.ldap.url", "%q is not an ldaps:// or ldap:// URL", l.URL)
	case u.Scheme == "ldaps" && l.StartTLS:
		add("auth.ldap.start_tls", "only with ldap:// (ldaps:// is TLS already)")
	case u.Scheme == "ldap" && !l.StartTLS && !l.Insecure:
		add("auth.ldap.url", "ldap:// sends passwords in clear: use ldaps://, start_tls = true, or insecure = true")
	}
	if (l.BindDN == "") != (l.BindPasswordFile == "") {
		add("auth.ldap.bind_password_file", "set both auth.ldap.bind_dn and auth.ldap.bind_password_file, or neither (anonymous search)")
	}
	if l.BaseDN == "" {
		add("auth.ldap.base_dn", "required (where users are searched, e.g. \"ou=people,dc=example,dc=org\")")
	}
	if !strings.Contains(l.UserFilter, "{user}") || !strings.HasPrefix(l.UserFilter, "(") || !strings.HasSuffix(l.UserFilter, ")") {
		add("auth.ldap.user_filter", "%q must be a parenthesised filter with {user}, e.g. \"(uid={user})\"", l.UserFilter)
	}
	checkSourceTimeout(add, "auth.ldap.timeout", l.Timeout, login)
	if l.PoolSize < 1 || l.PoolSize > 64 {
		add("auth.ldap.pool_size", "must be 1..64, got %d", l.PoolSize)
	}
	if len(l.Groups) == 0 {
		add("auth.ldap.groups", "required: at least one [[auth.ldap.groups]] (a user in no group is unknown; dn = \"*\" admits every user found)")
	}
	for i, g := range l.Groups {
		key := fmt.Sprintf("auth.ldap.groups[%d]", i)
		switch {
		case g.DN == "":
			add(key+".dn", "required (the group's distinguished name, or \"*\" for every user)")
		case g.DN == "*" && i != len(l.Groups)-1:
			add(key+".dn", "\"*\" matches every user: the groups after it could never match; put it last")
		}
		for _, p := range placeholderRE.FindAllString(g.Home, -1) {
			if !slices.Contains(HomePlaceholders, p) {
				add(key+".home", "%s is not one of %s", p, strings.Join(HomePlaceholders, " "))
			}
		}
		keys := g.AccountKeys()
		keys.Home = strings.NewReplacer("{user}", "user", "{uid}", "uid").Replace(keys.Home)
		checkAccountKeys(add, key, keys)
	}
}

func validateHTTPAuth(add addFunc, h HTTPAuth, login time.Duration) {
	u, err := url.Parse(h.URL)
	switch {
	case h.URL == "":
		add("auth.http.url", "required when auth.sources names \"http\"")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		add("auth.http.url", "%q is not an https:// URL", h.URL)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		add("auth.http.url", "%q sends passwords in clear: use https:// (http:// only to a loopback address)", h.URL)
	}
	if h.TokenFile == "" && h.SecretFile == "" {
		add("auth.http.token_file", "set auth.http.token_file or auth.http.secret_file (or both): the service must know the request is ftpsd's")
	}
	checkSourceTimeout(add, "auth.http.timeout", h.Timeout, login)
}

// loopbackHost reports whether host is "localhost" or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSourceTimeout wants a source's timeout within the login timeout.
func checkSourceTimeout(add addFunc, key string, d Duration, login time.Duration) {
	if d.Std() < 100*time.Millisecond || d.Std() > login {
		add(key, "must be 100ms to server.login_timeout (%s), got %s", login, d.Std())
	}
}

// checkAccountKeys checks the keys of an account that a [[users]] entry,
// a group or an external source sets: home, allowed_networks, quotas,
// rates, expires.
func checkAccountKeys(add addFunc, key string, u User) {
	if strings.HasPrefix(u.Home, "/") || containsDotDot(u.Home) {
		add(key+".home", "%q must be relative to storage.root, without \"..\"", u.Home)
	}
	if u.AllowedNetworks != nil {
		checkNetworks(add, key+".allowed_networks", *u.AllowedNetworks)
	}
	checkSize(add, key+".quota_bytes", u.QuotaBytes)
	if u.QuotaFiles != nil && *u.QuotaFiles < 0 {
		add(key+".quota_files", "must be 0 (no quota) or more, got %d", *u.QuotaFiles)
	}
	checkSize(add, key+".max_download_rate", u.MaxDownloadRate)
	checkSize(add, key+".max_upload_rate", u.MaxUploadRate)
	if u.Expires.problem != nil {
		add(key+".expires", "%v", u.Expires.problem)
	}
}

// CheckAccount checks an account an external source answered as
// [[users]] entries are checked (its name aside, and it has no password
// hash): a home relative to storage.root without "..", well-formed
// networks, sizes and expiry. The error names each key at fault.
func (u User) CheckAccount() error {
	var problems []error
	checkAccountKeys(func(key, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}, "account", u)
	if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n") {
		problems = append(problems, fmt.Errorf("account.name: %q is not an account name", u.Name))
	}
	return errors.Join(problems...)
}

// quoted writes names as "a", "b", "c".
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
