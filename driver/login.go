package driver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ftpsd/auth"
	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/ipaddr"
	"ftpsd/metrics"
)

// Logins are checked in three steps. The policy refuses what needs no
// password check: PASS on a clear channel when TLS is required, PASS
// without USER, an address banned since it connected. The password check
// runs at most once per client network at a time (the guard's turn: an
// IPv4 address, an IPv6 prefix of security.ipv6_prefix_length) and goes
// through the account sources in order (accounts.go); the local source's
// bcrypt runs at most GOMAXPROCS at a time in all (d.checks, where
// addresses with recent failures wait behind the others), so that a storm
// of logins can neither hold every CPU nor queue ahead of everybody else,
// while the waits on an external source hold no check slot; an address
// banned while its logins waited is refused unchecked. A failure is
// answered after the chain's pad (as long as asking every source) and the
// guard's delay, which hold neither a turn nor a check slot; a source that
// cannot answer gets 421 at once (loginDeferred).

var (
	errBanned = errors.New("address banned")
	errBusy   = errors.New("no password check slot within the login timeout")
)

// tlsMissing reports whether the policy requires TLS for login and the
// session's control channel never had it.
func (d *Driver) tlsMissing(s *session) bool {
	return d.cfg.TLS.Require != config.RequireNone && !s.controlState().Protected()
}

// loginPolicy refuses a PASS that is not worth a password check.
func (d *Driver) loginPolicy(s *session, name string) error {
	switch {
	case d.tlsMissing(s):
		return d.refuseLogin(s, name, "PASS before AUTH TLS", ErrTLSRequired)
	case name == "":
		return d.refuseLogin(s, name, "PASS before USER", ErrNoUser)
	case d.guard.Banned(s.client()):
		return d.refuseLogin(s, name, errBanned.Error(), ErrBanned)
	}
	return nil
}

// refuseLogin counts and logs a login refused before any password check
// and returns err for the client.
func (d *Driver) refuseLogin(s *session, name, reason string, err error) error {
	d.countFailedLogin(s)
	level := zap.WarnLevel
	if errors.Is(err, ErrBanned) { // the ban was logged when it started
		level = zap.DebugLevel
	}
	s.log().Log(level, "login refused", zap.String("user", name), zap.String("reason", reason))
	s.emitLogin(name, reason, time.Now())
	return err
}

// checkPassword asks the account sources about name and pass (see
// accounts.go) under the client network's turn; see the comment at the
// top of the file. The local source takes a check slot for its bcrypt.
func (d *Driver) checkPassword(s *session, name, pass string) (admission, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Server.LoginTimeout.Std())
	defer cancel()
	client := s.client()
	done, err := d.guard.Turn(ctx, client)
	if err != nil {
		return admission{}, errBusy
	}
	defer done()
	if d.guard.Banned(client) {
		return admission{}, errBanned
	}
	a, err := d.accounts.Authenticate(ctx, auth.Request{User: name, Password: pass, Client: client})
	return admission{Answer: a}, err
}

// errRevoked refuses a login whose account a reload removed, or whose
// password it changed, while the password was being checked.
var errRevoked = errors.New("account changed by the administrator during login")

// admit opens the home of the account a admitted against live and logs
// s in, unless the account's policy refuses the session (a
// *policyRefusal, see access.go) or a reload committed in between: a
// [[users]] account is then taken from the configuration in force,
// refused (errRevoked) when it was removed or its password changed,
// checked against its policy again, and admitted with its new home,
// read-only flag and other settings otherwise; an external account has
// nothing in the reloaded [[users]] and is checked against its policy
// with [defaults] as reloaded. The comparison and the login happen
// under admitMu, which a reload's commit holds while it replaces live and
// chooses the sessions it closes: a login admitted before the commit is
// closed with the others, one admitted after it was checked against the
// accounts the commit installed. No login escapes a reload. A session
// admitted has its expiry timer set (armExpiry); an external account's
// home is created if need be and its rates set.
func (d *Driver) admit(s *session, live *liveConfig, a admission) (admission, home, error) {
	for {
		policy := live.users.policy(a.User.Name)
		if a.isExternal() {
			policy = a.User.Policy(live.users.defaults)
			a.policy = &policy
		}
		if r := policyRefuses(policy, s.client(), time.Now()); r != nil {
			return admission{}, nil, r
		}
		if a.isExternal() {
			if err := live.storage.makeHome(a.User.Home); err != nil {
				return admission{}, nil, fmt.Errorf("create home: %w", err)
			}
		}
		fs, err := live.storage.open(a.User.Home)
		if err != nil {
			return admission{}, nil, err
		}
		d.admitMu.Lock()
		now := d.live.Load()
		if now == live {
			s.login(a, fs)
			d.armExpiry(s, policy.Expires)
			if a.isExternal() {
				d.rates.setExternal(rateKey(a.User.Name, a.Source), policy)
			}
			d.admitMu.Unlock()
			return a, fs, nil
		}
		d.admitMu.Unlock()
		_ = fs.close()
		if a.isExternal() {
			live = now
			continue
		}
		account, kept := now.users.byName[a.User.Name]
		switch why := accountChange(a.User, account, kept); why {
		case changeRemoved, changePassword:
			return admission{}, nil, fmt.Errorf("%w (%s); log in again", errRevoked, why)
		case "":
		default:
			s.log().Info("login admitted with the account as reloaded", zap.String("user", a.User.Name), zap.String("change", why))
		}
		a.User, live = account, now
	}
}

// loginDeferred answers a login whose account source could not answer
// with 421 (try again later) and logs it once; it counts as a failed
// login, not toward a ban: the client is not at fault.
func (d *Driver) loginDeferred(s *session, name, source string, err error) error {
	d.countFailedLogin(s)
	s.log().Warn("login deferred: account source unavailable", zap.String("user", name),
		zap.String("source", source), zap.String("reason", err.Error()))
	s.emitLogin(name, err.Error(), time.Now())
	if s.conn != nil {
		s.conn.NoteFailure(control.Failure{Code: 421, Text: errUnavailable.Error()})
	}
	return errUnavailable
}

// loginFailed counts, logs and delays a failed login, bans its address
// when the guard says so, and returns the error for the client.
func (d *Driver) loginFailed(s *session, name string, err error) error {
	switch {
	case errors.Is(err, errBanned):
		return d.refuseLogin(s, name, err.Error(), ErrBanned)
	case errors.Is(err, errBusy):
		return d.refuseLogin(s, name, err.Error(), ErrBusy)
	}
	d.countFailedLogin(s)
	s.log().Warn("login failed", zap.String("user", name), zap.String("reason", err.Error()))
	s.emitLogin(name, err.Error(), time.Now())
	client := s.client()
	f := d.guard.Failed(client)
	switch {
	case f.BanStarted:
		d.metrics.Banned()
		s.log().Warn("address banned", zap.Stringer("client", client), zap.Stringer("network", f.Network),
			zap.Int("failures", f.Failures), zap.Time("until", f.Until))
	case f.BanTableFull:
		s.log().Warn("address not banned: too many bans in force", zap.Stringer("client", client),
			zap.Stringer("network", f.Network), zap.Int("failures", f.Failures))
	}
	time.Sleep(f.Delay)
	return ErrBadCredentials
}

// countFailedLogin counts a login that failed or was refused, and tells
// the control connection that nobody waits for its login any longer.
func (d *Driver) countFailedLogin(s *session) {
	if s.conn != nil {
		s.conn.SetLoginFailed()
	}
	d.metrics.Login(metrics.ResultFailed)
}

// client returns the session's client address.
func (s *session) client() netip.Addr {
	if s.conn != nil {
		return s.conn.Client()
	}
	return ipaddr.Of(s.cc.RemoteAddr())
}
