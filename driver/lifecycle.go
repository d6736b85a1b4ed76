package driver

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
)

// newLiveConfig opens the storage of cfg and creates the users' homes, or
// with dryRun checks that they can be created (see openStorage).
func newLiveConfig(cfg config.Config, getenv func(string) string, dryRun bool) (*liveConfig, error) {
	st, err := openStorage(cfg.Storage, cfg.Users, getenv, dryRun)
	if err != nil {
		return nil, err
	}
	return &liveConfig{users: newUserBase(cfg.Users, cfg.Defaults), storage: st, banner: cfg.Server.Banner}, nil
}

// Reload applies the accounts, their homes and the banner of cfg (which
// must be valid): PrepareReload, then its commit. On error nothing changed.
func (s *Server) Reload(cfg config.Config) error {
	commit, err := s.PrepareReload(cfg)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// PrepareReload is the first phase of a reload of cfg (which must be
// valid): it builds the accounts and banner and creates the homes of new
// users in the running storage, and returns the commit that makes them
// current, which cannot fail. Sessions already logged in keep their login.
// The storage is kept as it is (its files stay, also with backend
// "memory"): changed [storage] keys, like every key but users and
// server.banner, need a restart. Until commit runs, nothing the server shows changes
// (new, still empty homes aside).
func (s *Server) PrepareReload(cfg config.Config) (commit func(), err error) {
	st := s.driver.live.Load().storage
	if err := makeHomes(st, cfg.Users); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	live := &liveConfig{users: newUserBase(cfg.Users, cfg.Defaults), storage: st, banner: cfg.Server.Banner}
	return func() { s.driver.commitLive(live) }, nil
}

// commitLive makes live the configuration in force, sets the accounts'
// bandwidth limits (transfers under way follow a changed rate, see
// ratelimit.go) and closes the sessions whose account it changed.
// Replacing live and choosing the sessions happen under admitMu, the
// lock under which a login is admitted (see admit): a login admitted
// before is among the sessions chosen, one admitted after is checked
// against live. The 421s are sent after the lock is released, so that a
// slow client holds up no login.
func (d *Driver) commitLive(live *liveConfig) {
	d.admitMu.Lock()
	d.live.Store(live)
	d.accounts.Forget() // accounts or passwords may have changed
	d.rates.apply(live.users)
	changed := d.changedSessions(live.users)
	d.admitMu.Unlock()
	for _, c := range changed {
		c.ss.log().Warn("session closed by reload", zap.String("reason", c.why),
			zap.Int("transfers_in_progress", c.ss.transfersInProgress()))
		c.ss.end("Account changed by the administrator ("+c.why+"); log in again.", d)
	}
}

// changedSession is a session whose account a reload changed, and how.
type changedSession struct {
	ss  *session
	why string
}

// changedSessions returns the sessions logged in with an account that
// users no longer has, or has with another password, home or read-only
// flag, or whose policy now refuses them (disabled, expired, the
// session's client outside allowed_networks): a reload that removes a
// user or takes away a right applies to the sessions already open too.
// Ending them aborts their transfers; an upload keeps no partial file.
// The sessions kept have their expiry timer set to the account's expires
// as reloaded.
func (d *Driver) changedSessions(users *userBase) []changedSession {
	var changed []changedSession
	at := time.Now()
	for _, ss := range d.sessionList() {
		was, ok := ss.loggedInAs()
		if !ok || ss.isEnding() {
			continue // an ending session stays listed until the lib lets go of it
		}
		why := ""
		if !ss.isExternal() { // an external account's session keeps its login (see accounts.go)
			now, kept := users.byName[was.Name]
			why = accountChange(was, now, kept)
		}
		if why == "" {
			policy, _ := ss.policyIn(users)
			if r := policyRefuses(policy, ss.client(), at); r != nil {
				why = r.reason
			} else {
				d.armExpiry(ss, policy.Expires)
			}
		}
		if why != "" {
			changed = append(changed, changedSession{ss, why})
		}
	}
	return changed
}

// Reasons for which a reload closes a session or refuses a login.
const (
	changeRemoved  = "account removed"
	changePassword = "password changed"
	changeHome     = "home changed"
	changeReadOnly = "read_only changed"
)

// accountChange says how the account was differs from now (kept is false
// when the account is gone), or "" when it does not in what a session
// depends on.
func accountChange(was, now config.User, kept bool) string {
	switch {
	case !kept:
		return changeRemoved
	case now.PasswordHash != was.PasswordHash:
		return changePassword
	case now.Home != was.Home:
		return changeHome
	case now.ReadOnly != was.ReadOnly:
		return changeReadOnly
	}
	return ""
}

// Shutdown stops the server gracefully: it stops accepting clients, then,
// until every session has ended, closes each session that has no transfer
// in progress (telling it 421) and lets running transfers finish. When ctx
// ends first, the sessions left are cut: each is logged, and their number
// is returned with ctx's error. Either way it returns only once every
// transfer has ended (or, after a cut, a grace period has passed), so that
// a process exiting next does not leave a partial upload behind. The
// sessions are those of the Registry's open connections (each hangs off
// its conn); the transfers are counted by the driver, because the lib ends
// a session before its transfer goroutine has finished. Shutdown is safe
// to call once Serve runs; like net/http's Server.Shutdown it does not
// wait for Serve to return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Close()
	ticker := time.NewTicker(shutdownPoll)
	defer ticker.Stop()
	for {
		for _, ss := range s.driver.sessionList() {
			if ss.idle() {
				ss.end("Server shutting down.", s.driver)
			}
		}
		if s.driver.drained() {
			return nil
		}
		select {
		case <-ctx.Done():
			n := s.cut()
			return fmt.Errorf("shutdown: %d session(s) cut: %w", n, ctx.Err())
		case <-ticker.C:
		}
	}
}

// drained reports whether no control connection is open and no transfer
// is running.
func (d *Driver) drained() bool { return d.registry.Len() == 0 && d.transfers.Load() == 0 }

// How often Shutdown looks at the sessions, and cut at the connections
// still closing.
const (
	shutdownPoll = 50 * time.Millisecond
	cutPoll      = 10 * time.Millisecond
)

// cutGrace bounds the wait, after a cut, for the connections to close and
// the aborted transfers to clean up.
const cutGrace = 2 * time.Second

// cut ends every session left and logs it, then waits up to cutGrace for
// their connections to close and for every transfer to end (an aborted
// upload removes its partial file as it ends).
func (s *Server) cut() int {
	sessions := s.driver.sessionList()
	for _, ss := range sessions {
		ss.log().Warn("session cut at shutdown", zap.Int("transfers_in_progress", ss.transfersInProgress()))
		ss.end("Server shutting down; transfer aborted.", s.driver)
	}
	// The lib ends sessions asynchronously once their connections close,
	// and their transfer goroutines after that.
	deadline := time.Now().Add(cutGrace)
	for !s.driver.drained() && time.Now().Before(deadline) {
		time.Sleep(cutPoll)
	}
	left := s.driver.transfers.Load()
	for _, ss := range sessions {
		if n := ss.transfersInProgress(); n > 0 {
			ss.log().Warn("transfer still running at exit", zap.Int("transfers_in_progress", n))
			left -= int64(n)
		}
	}
	if left > 0 { // of sessions whose connection had closed before the cut
		s.logger.Warn("transfer still running at exit", zap.Int64("transfers_in_progress", left))
	}
	return len(sessions)
}
