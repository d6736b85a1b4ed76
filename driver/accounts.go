package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ftpsd/auth"
	"ftpsd/auth/httpauth"
	"ftpsd/auth/ldapauth"
	"ftpsd/config"
	"ftpsd/hooks"
)

// Accounts come from the sources of [auth] sources, asked in order by an
// auth.Chain: "local" is the [[users]] of the configuration in force
// (localSource), the others are external (LDAP, an HTTP service). Every
// account, whatever its source, goes through the same guard (turns,
// delays, bans) and the same policy (allowed_networks, quotas, rates,
// expiry). An external account's settings are those its source answered
// at login, [defaults] applied then: a reload re-checks nothing of its
// sessions (the source is not asked again, the password is not kept),
// empties the cache, and its next login gets what the source says then.
// Its home is created at its first login.

// admission is a login the sources admitted.
type admission struct {
	auth.Answer
	// policy is an external account's policy, set by admit; nil for a
	// [[users]] account, whose policy is the configuration's.
	policy *config.Policy
}

// isExternal reports whether the account is not a [[users]] one.
func (a admission) isExternal() bool { return a.Source != "" && a.Source != config.SourceLocal }

// localAdmission is the admission of a [[users]] account.
func localAdmission(u config.User) admission {
	return admission{Answer: auth.Answer{User: u, Source: config.SourceLocal}}
}

// external returns the policy the session keeps: an external account's.
func (a admission) external() *config.Policy {
	if !a.isExternal() {
		return nil
	}
	return a.policy
}

// rateKey is the key of an account among the bandwidth limits (see
// session.rateKey).
func rateKey(name, source string) string {
	if source == "" || source == config.SourceLocal {
		return name
	}
	return source + ":" + name
}

// localSource is "local": the [[users]] of the configuration in force.
// Its bcrypt comparisons take a password-check slot (see checkPassword),
// which the waits of external sources do not.
type localSource struct{ d *Driver }

func (localSource) Name() string { return config.SourceLocal }

func (l localSource) Authenticate(ctx context.Context, req auth.Request) (config.User, error) {
	d := l.d
	if err := d.checks.Acquire(ctx, d.guard.Suspect(req.Client)); err != nil {
		return config.User{}, errBusy
	}
	defer d.checks.Release()
	if d.guard.Banned(req.Client) {
		return config.User{}, errBanned
	}
	return d.live.Load().users.authenticate(req.User, req.Password)
}

func (localSource) Check(context.Context) error { return nil }
func (localSource) Close() error                { return nil }

// newAccounts returns the chain of the sources cfg names, in its order;
// its errors name the key at fault.
func (d *Driver) newAccounts(cfg config.Auth, logger *zap.Logger) (*auth.Chain, error) {
	var sources []auth.Source
	for _, name := range cfg.Sources {
		var (
			src auth.Source
			err error
		)
		switch name {
		case config.SourceLocal:
			src = localSource{d}
		case config.SourceHTTP:
			src, err = newHTTPSource(cfg.HTTP)
		case config.SourceLDAP:
			src, err = newLDAPSource(cfg.LDAP, logger.Named("auth.ldap"))
		default:
			err = fmt.Errorf("auth.sources: %q is not an account source", name)
		}
		if err != nil {
			for _, s := range sources {
				_ = s.Close()
			}
			return nil, err
		}
		sources = append(sources, src)
	}
	return auth.NewChain(sources, auth.Options{CacheTTL: cfg.CacheTTL.Std(), Observer: d.metrics}), nil
}

// newHTTPSource returns the source of [auth.http].
func newHTTPSource(c config.HTTPAuth) (auth.Source, error) {
	opts, err := httpauth.FromConfig(c)
	if err != nil {
		return nil, err
	}
	return httpauth.New(opts), nil
}

// newLDAPSource returns the source of [auth.ldap], its password file read.
func newLDAPSource(c config.LDAP, logger *zap.Logger) (auth.Source, error) {
	opts := ldapauth.Options{
		URL: c.URL, StartTLS: c.StartTLS, Insecure: c.Insecure, CAFile: c.CAFile,
		BindDN: c.BindDN, BaseDN: c.BaseDN, UserFilter: c.UserFilter,
		Timeout: c.Timeout.Std(), PoolSize: c.PoolSize, NestedGroups: c.NestedGroups,
	}
	if c.BindPasswordFile != "" {
		password, err := hooks.ReadSecret(c.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("auth.ldap.bind_password_file: %w", err)
		}
		opts.BindPassword = string(password)
	}
	for _, g := range c.Groups {
		opts.Groups = append(opts.Groups, ldapauth.Group{DN: g.DN, Account: g.AccountKeys()})
	}
	src, err := ldapauth.New(opts, logger)
	if err != nil {
		return nil, err
	}
	return src, nil
}

// checkTimeout bounds ftpsd check's call of each source's Check.
const checkTimeout = 30 * time.Second

// checkAccounts proves the external sources answer, for ftpsd check.
func checkAccounts(accounts *auth.Chain) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	return accounts.Check(ctx)
}

// errUnavailable is the reply to a login whose account source could not
// answer (421, see loginDeferred).
var errUnavailable = errors.New("the account service is unavailable; try again later")
