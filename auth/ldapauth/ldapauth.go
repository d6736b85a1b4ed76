// Package ldapauth is the LDAP account source ([auth.ldap]): a user is
// found by a search as the service account, the password is checked by a
// bind as the user's entry, and the first configured group the user is a
// member of gives the account (home, read-only, quotas, rates, networks).
//
// It speaks to OpenLDAP, Active Directory and other directories alike:
// over ldaps:// or ldap:// with StartTLS (plain LDAP only with Insecure),
// with group membership read from the groups' member (and uniqueMember)
// attributes, nested groups followed by its own bounded search. See
// docs/ldap.md.
package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"ftpsd/auth"
	"ftpsd/config"
)

// Defaults of the Options left zero.
const (
	DefaultUserFilter = "(uid={user})"
	DefaultTimeout    = 5 * time.Second
	DefaultPoolSize   = 4
)

// AnyUser is the Group DN that every user found matches: the account of
// users in none of the groups before it.
const AnyUser = "*"

// maxNameLen bounds a user name: a longer one is unknown, never searched.
const maxNameLen = 256

// Options configure a Source ([auth.ldap]).
type Options struct {
	// URL is the directory's ldaps://host[:port] or ldap://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection with StartTLS.
	StartTLS bool
	// Insecure allows ldap:// without StartTLS: passwords in clear text.
	Insecure bool
	// CAFile is a PEM file of CAs trusted for the directory's
	// certificate besides the system's.
	CAFile string
	// BindDN and BindPassword are the service account the searches run
	// as; an empty BindDN searches anonymously.
	BindDN       string
	BindPassword string
	// BaseDN is where users are searched (the whole subtree).
	BaseDN string
	// UserFilter finds a user's entry; {user} is replaced by the name the
	// client sent, escaped. Default "(uid={user})".
	UserFilter string
	// Timeout bounds one login's dealings with the directory (connect,
	// TLS, searches, binds). Default 5s.
	Timeout time.Duration
	// PoolSize is the most connections open to the directory at once.
	// Default 4.
	PoolSize int
	// NestedGroups counts a user as a member of a group through groups
	// that are members of it.
	NestedGroups bool
	// Groups map membership to the account, first match wins.
	Groups []Group
}

// Group maps the members of a directory group to an account.
type Group struct {
	// DN is the group's DN, or AnyUser ("*") for every user found.
	DN string
	// Account is what a member gets: Home (where {user} is replaced by the
	// user's name as the directory spells it, {uid} by the entry's uid),
	// ReadOnly and the policy keys, as a [[users]] entry sets them. Name
	// and PasswordHash are ignored.
	Account config.User
}

// Source is the LDAP account source. It is safe for concurrent use.
type Source struct {
	opts Options
	log  *zap.Logger
	pool *pool
	// nameAttrs are the attributes the filter compares with {user}: the
	// entry's value of one of them equal to the name (but for case) is the
	// account's name.
	nameAttrs []string
	// groups are the groups' parsed DNs (nil for AnyUser), in order.
	groups []*ldap.DN
	// groupBase is where groups are searched: the deepest DN above base_dn
	// and every configured group (the groups' alone when there is none).
	groupBase string
}

// filterAttr finds the attributes compared with {user} in a filter.
var filterAttr = regexp.MustCompile(`\(([A-Za-z][A-Za-z0-9-]*|[0-9.]+)=\{user\}\)`)

// New checks opts and returns the source. It does not connect: Check
// does, and each login. Its errors name the [auth.ldap] key at fault.
func New(opts Options, logger *zap.Logger) (*Source, error) {
	if opts.UserFilter == "" {
		opts.UserFilter = DefaultUserFilter
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	tlsConfig, addr, ldaps, err := transport(opts)
	if err != nil {
		return nil, err
	}
	if opts.BindDN != "" && opts.BindPassword == "" {
		return nil, errors.New("auth.ldap.bind_password_file: empty password for bind_dn (an LDAP bind with an empty password is anonymous)")
	}
	if _, err := ldap.ParseDN(opts.BaseDN); err != nil || opts.BaseDN == "" {
		return nil, fmt.Errorf("auth.ldap.base_dn: %q is not a DN", opts.BaseDN)
	}
	if !strings.Contains(opts.UserFilter, "{user}") {
		return nil, fmt.Errorf("auth.ldap.user_filter: %q has no {user}", opts.UserFilter)
	}
	if _, err := ldap.CompileFilter(strings.ReplaceAll(opts.UserFilter, "{user}", "x")); err != nil {
		return nil, fmt.Errorf("auth.ldap.user_filter: %q: %w", opts.UserFilter, err)
	}
	s := &Source{opts: opts, log: logger}
	for _, m := range filterAttr.FindAllStringSubmatch(opts.UserFilter, -1) {
		s.nameAttrs = append(s.nameAttrs, m[1])
	}
	if err := s.parseGroups(); err != nil {
		return nil, err
	}
	s.pool = newPool(opts.PoolSize, dialer(addr, ldaps, opts.StartTLS, tlsConfig, opts.Timeout), s.bindService)
	return s, nil
}

// transport checks URL, StartTLS, Insecure and CAFile and returns the TLS
// configuration, the host:port to dial and whether it is ldaps.
func transport(opts Options) (*tls.Config, string, bool, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, "", false, fmt.Errorf("auth.ldap.url: %q is not ldaps://host[:port] or ldap://host[:port]", opts.URL)
	}
	var ldaps bool
	port := u.Port()
	switch u.Scheme {
	case "ldaps":
		ldaps = true
		if opts.StartTLS {
			return nil, "", false, errors.New("auth.ldap.start_tls: ldaps:// is TLS already; StartTLS is for ldap://")
		}
		if port == "" {
			port = ldap.DefaultLdapsPort
		}
	case "ldap":
		if !opts.StartTLS && !opts.Insecure {
			return nil, "", false, fmt.Errorf("auth.ldap.url: %q is plain LDAP, passwords in clear text: use ldaps://, or start_tls = true, or insecure = true to allow it", opts.URL)
		}
		if port == "" {
			port = ldap.DefaultLdapPort
		}
	default:
		return nil, "", false, fmt.Errorf("auth.ldap.url: %q: the scheme must be ldaps or ldap", opts.URL)
	}
	tlsConfig := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, "", false, fmt.Errorf("auth.ldap.ca_file: %w", err)
		}
		// Besides the system's CAs (none if they cannot be read).
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		tlsConfig.RootCAs = pool
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", false, fmt.Errorf("auth.ldap.ca_file: no PEM certificate in %s", opts.CAFile)
		}
	}
	return tlsConfig, net.JoinHostPort(u.Hostname(), port), ldaps, nil
}

// parseGroups checks Groups and works out where nested groups are
// searched.
func (s *Source) parseGroups() error {
	if len(s.opts.Groups) == 0 {
		return errors.New(`auth.ldap.groups: no group: a user must be a member of one to log in (dn = "*" admits every user found)`)
	}
	var base *ldap.DN
	for i, g := range s.opts.Groups {
		key := fmt.Sprintf("auth.ldap.groups[%d]", i)
		if strings.HasPrefix(g.Account.Home, "/") || containsDotDot(strings.NewReplacer("{user}", "u", "{uid}", "u").Replace(g.Account.Home)) {
			return fmt.Errorf("%s.home: %q must be relative to storage.root, without \"..\"", key, g.Account.Home)
		}
		if g.DN == AnyUser {
			if i != len(s.opts.Groups)-1 {
				return fmt.Errorf("%s.dn: %q matches every user: the groups after it could never match; put it last", key, AnyUser)
			}
			s.groups = append(s.groups, nil)
			continue
		}
		dn, err := ldap.ParseDN(g.DN)
		if err != nil || len(dn.RDNs) == 0 {
			return fmt.Errorf("%s.dn: %q is not a DN", key, g.DN)
		}
		s.groups = append(s.groups, dn)
		parent := &ldap.DN{RDNs: dn.RDNs[1:]}
		if base == nil {
			base = parent
		} else {
			base = commonSuffix(base, parent)
		}
	}
	if base != nil {
		// Groups in groups may live elsewhere than the configured ones
		// (another OU of the domain): above base_dn too, when that is a DN.
		userBase, _ := ldap.ParseDN(s.opts.BaseDN)
		if all := commonSuffix(base, userBase); len(all.RDNs) > 0 {
			base = all
		}
		s.groupBase = base.String()
	}
	if s.groupBase == "" {
		s.groupBase = s.opts.BaseDN
	}
	return nil
}

// commonSuffix returns the deepest DN above (or equal to) both a and b.
func commonSuffix(a, b *ldap.DN) *ldap.DN {
	n := 0
	for n < len(a.RDNs) && n < len(b.RDNs) &&
		a.RDNs[len(a.RDNs)-1-n].EqualFold(b.RDNs[len(b.RDNs)-1-n]) {
		n++
	}
	return &ldap.DN{RDNs: a.RDNs[len(a.RDNs)-n:]}
}

func containsDotDot(p string) bool {
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

// Name is the source's name in [auth] sources.
func (s *Source) Name() string { return "ldap" }

// Close closes the connections to the directory.
func (s *Source) Close() error {
	s.pool.close()
	return nil
}

// bindService binds c as the service account (nothing to do for
// anonymous searches).
func (s *Source) bindService(c *ldap.Conn) error {
	if s.opts.BindDN == "" {
		return nil
	}
	if err := c.Bind(s.opts.BindDN, s.opts.BindPassword); err != nil {
		return fmt.Errorf("service bind as %s: %w", s.opts.BindDN, err)
	}
	return nil
}

// do runs op on a pooled connection (bound as the service for a search),
// aborting it when ctx ends. A reused connection the server has dropped
// meanwhile (a restart, an idle timeout) is replaced once.
func (s *Source) do(ctx context.Context, service bool, op func(*conn) error) error {
	for {
		c, fresh, err := s.pool.get(ctx, service)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = op(c)
		aborted := !stop()
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		broken := err != nil && isTransport(err)
		s.pool.put(c, !broken && !aborted)
		if broken && !fresh && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// unavailable wraps err as auth.ErrUnavailable, saying during what. It
// does not log: the caller logs the login's outcome with this error, once.
func unavailable(what string, err error) error {
	return fmt.Errorf("ldap: %s: %w: %w", what, auth.ErrUnavailable, err)
}

// Authenticate finds req.User's entry, checks the password with a bind as
// that entry and maps the user's first configured group to the account.
func (s *Source) Authenticate(ctx context.Context, req auth.Request) (config.User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if !plausibleName(req.User) {
		return config.User{}, fmt.Errorf("ldap: %w: not a possible user name", auth.ErrUnknownUser)
	}
	entry, err := s.findUser(ctx, req.User)
	if err != nil {
		return config.User{}, err
	}
	if entry == nil {
		// As long as a wrong password: a bind, of a DN that cannot exist.
		if req.Password != "" {
			_ = s.checkPassword(ctx, decoyDN(s.opts.BaseDN), req.Password)
		}
		return config.User{}, fmt.Errorf("ldap: %w", auth.ErrUnknownUser)
	}
	// An empty password would make the bind an unauthenticated one,
	// which servers may answer with success (RFC 4513 5.1.2).
	if req.Password == "" {
		return config.User{}, fmt.Errorf("ldap: %w: empty password", auth.ErrBadPassword)
	}
	if err := s.checkPassword(ctx, entry.DN, req.Password); err != nil {
		if errors.Is(err, auth.ErrBadPassword) {
			return config.User{}, err
		}
		return config.User{}, unavailable("bind as the user", err)
	}
	group, err := s.firstGroup(ctx, entry.DN)
	if err != nil {
		return config.User{}, unavailable("group search", err)
	}
	if group < 0 {
		s.log.Info("ldap user in no configured group", zap.String("user", req.User), zap.String("dn", entry.DN))
		return config.User{}, fmt.Errorf("ldap: %w: in no configured group", auth.ErrUnknownUser)
	}
	name := s.accountName(entry, req.User)
	account := s.opts.Groups[group].Account
	values := map[string]string{"{user}": name, "{uid}": entry.GetAttributeValue("uid")}
	for placeholder, value := range values {
		if strings.Contains(account.Home, placeholder) && !safeInPath(value) {
			s.log.Warn("ldap user name unsafe in a home", zap.String("user", req.User),
				zap.String("home", account.Home), zap.String("placeholder", placeholder))
			return config.User{}, fmt.Errorf("ldap: %w: %s unsafe in home %q", auth.ErrUnknownUser, placeholder, account.Home)
		}
	}
	account.Name, account.PasswordHash = name, ""
	account.Home = strings.NewReplacer("{user}", name, "{uid}", values["{uid}"]).Replace(account.Home)
	return account, nil
}

// findUser returns the one entry the user filter matches for name, nil
// when none or several do.
func (s *Source) findUser(ctx context.Context, name string) (*ldap.Entry, error) {
	filter := strings.ReplaceAll(s.opts.UserFilter, "{user}", ldap.EscapeFilter(name))
	var res *ldap.SearchResult
	err := s.do(ctx, true, func(c *conn) error {
		var err error
		// A size limit of 2 tells one match from several.
		res, err = c.Search(ldap.NewSearchRequest(s.opts.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, timeLimit(s.opts.Timeout), false, filter, append([]string{"uid"}, s.nameAttrs...), nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil
		}
		return err
	})
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			// base_dn does not exist: a configuration error, said by Check.
			return nil, unavailable("user search", fmt.Errorf("auth.ldap.base_dn %q: %w", s.opts.BaseDN, err))
		}
		return nil, unavailable("user search", err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, nil
	case 1:
		return res.Entries[0], nil
	}
	s.log.Warn("ldap user filter matched several entries", zap.String("user", name),
		zap.String("dn", res.Entries[0].DN), zap.String("other_dn", res.Entries[1].DN))
	return nil, nil
}

// timeLimit is the server-side time limit of a search, in seconds.
func timeLimit(d time.Duration) int { return max(1, int(d/time.Second)) }

// decoyDN is a DN under base that no directory holds.
func decoyDN(base string) string { return "cn=ftpsd-no-such-user," + base }

// checkPassword binds as dn with password on a connection of its own
// (never one a search then uses as the service). Its error wraps
// auth.ErrBadPassword when the directory refuses the credentials; any
// other error means it could not say.
func (s *Source) checkPassword(ctx context.Context, dn, password string) error {
	err := s.do(ctx, false, func(c *conn) error {
		c.service = false
		return c.Bind(dn, password)
	})
	var le *ldap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le) && refusal(le.ResultCode):
		return fmt.Errorf("ldap: %w: %s", auth.ErrBadPassword, ldap.LDAPResultCodeMap[le.ResultCode])
	default:
		return err
	}
}

// refusal reports the bind results that refuse the user (rather than say
// the server cannot answer): invalid credentials (49, also Active
// Directory's locked, expired and disabled accounts), inappropriate
// authentication, insufficient access, unwilling to perform (a password
// policy's lockout).
func refusal(code uint16) bool {
	switch code {
	case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform:
		return true
	}
	return false
}

// accountName is the user's name as the directory spells it (the value of
// a filter attribute equal to typed but for case), so that "Alice" and
// "alice" are one account with one home; typed when there is none.
func (s *Source) accountName(e *ldap.Entry, typed string) string {
	for _, attr := range s.nameAttrs {
		for _, v := range e.GetEqualFoldAttributeValues(attr) {
			if strings.EqualFold(v, typed) {
				return v
			}
		}
	}
	return typed
}

// plausibleName reports a name worth a search: not empty, not too long,
// valid UTF-8 without control characters.
func plausibleName(name string) bool {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return false
	}
	return !strings.ContainsFunc(name, unicode.IsControl)
}

// safeInPath reports a name that can stand for {user} or {uid} in a
// home: one path element, not empty, "." or "..".
func safeInPath(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) &&
		!strings.ContainsFunc(name, unicode.IsControl)
}
