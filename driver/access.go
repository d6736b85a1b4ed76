package driver

import (
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/refusal"
)

// The account policy: allowed_networks, expires and disabled. A login is
// checked against it after its password, so that a refusal costs the
// same bcrypt work as a wrong password and gets the same reply after the
// same delay (guard.Denied): neither tells the client that the password
// was right. A refusal counts toward no ban; a wrong password counts as
// ever, whatever the policy. A session already open is closed (421) by
// the reload that leaves it outside the policy (commitLive), and by its
// expiry timer at the time its account expires.

// policyRefusal is why the account's policy refuses a login or ends a
// session.
type policyRefusal struct {
	reason string // for the log and the 421: "account disabled"
	key    string // the [[users]] key, a refusal.LoginReasons label
}

func (r *policyRefusal) Error() string { return r.reason }

var (
	refusedDisabled = &policyRefusal{"account disabled", refusal.Disabled}
	refusedExpired  = &policyRefusal{"account expired", refusal.Expires}
	refusedNetwork  = &policyRefusal{"address not in allowed_networks", refusal.AllowedNetworks}
)

// policyRefuses returns why p refuses a session of client at now, or nil.
func policyRefuses(p config.Policy, client netip.Addr, now time.Time) *policyRefusal {
	switch {
	case p.Disabled:
		return refusedDisabled
	case p.ExpiredAt(now):
		return refusedExpired
	case !p.AllowsFrom(client):
		return refusedNetwork
	}
	return nil
}

// refusedByPolicy answers a login whose password was right and whose
// account's policy refuses it: counted, logged with the reason, and
// answered as a wrong password, after the delay of one (see guard.Denied).
func (d *Driver) refusedByPolicy(s *session, name string, r *policyRefusal) error {
	d.countFailedLogin(s)
	d.metrics.LoginRefused(r.key)
	client := s.client()
	s.log().Warn("login refused", zap.String("user", name), zap.Stringer("client", client), zap.String("reason", r.reason))
	s.emitLogin(name, r.reason, time.Now())
	time.Sleep(d.guard.Denied(client))
	return ErrBadCredentials
}

// armExpiry sets the timer that closes s when its account expires at at
// (zero: never), replacing the one set before; it does nothing when at is
// the time already set. It is called under admitMu, at login and by each
// reload for the sessions it keeps.
func (d *Driver) armExpiry(s *session, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !at.Equal(s.expiresAt) {
		d.setExpiryLocked(s, at)
	}
}

// setExpiryLocked sets the expiry timer of s to at; the caller holds s.mu.
func (d *Driver) setExpiryLocked(s *session, at time.Time) {
	s.stopExpiryLocked()
	s.expiresAt = at
	if !at.IsZero() && !s.closed {
		s.expiry = time.AfterFunc(time.Until(at), func() { d.expire(s) })
	}
}

// stopExpiryLocked stops the expiry timer of s; the caller holds s.mu.
func (s *session) stopExpiryLocked() {
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
}

// expire closes s with a 421 if its account has expired by the
// configuration in force. A reload may have moved the expiry since the
// timer was set (and set another timer: this one does nothing), and the
// wall clock may be behind the timer's monotonic one (the timer is set
// again).
func (d *Driver) expire(s *session) {
	d.admitMu.Lock()
	p, ok := s.policyIn(d.live.Load().users)
	expired := ok && p.ExpiredAt(time.Now())
	if ok && !expired && p.Expires.Equal(s.expiryTime()) {
		s.mu.Lock()
		d.setExpiryLocked(s, p.Expires)
		s.mu.Unlock()
	}
	d.admitMu.Unlock()
	if !expired || s.isEnding() || s.isClosed() {
		return
	}
	s.log().Warn("session closed at expiry", zap.Time("expires", p.Expires),
		zap.Int("transfers_in_progress", s.transfersInProgress()))
	s.end("Session closed: "+refusedExpired.reason+".", d)
}

// expiryTime returns the time the expiry timer of s was set to.
func (s *session) expiryTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiresAt
}

// errPolicy reports whether err is a refusal by the account's policy.
func errPolicy(err error) (*policyRefusal, bool) {
	var r *policyRefusal
	ok := errors.As(err, &r)
	return r, ok
}
