package driver

import (
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/internal/ftptest"
	"ftpsd/metrics"
)

// TestAdmitWhileReloadCommits: logins admitted at the moment reloads
// commit (go test -race) never leave a session open with an account other
// than the one in force: each login is refused, closed by the commit, or
// holds the account as the commit left it.
func TestAdmitWhileReloadCommits(t *testing.T) {
	const rounds, logins = 200, 4
	alice := config.User{Name: "alice", PasswordHash: ftptest.HashPassword(t, "a"), Home: "alice"}
	readOnly, moved, rehashed := alice, alice, alice
	readOnly.ReadOnly = true
	moved.Home = "elsewhere"
	rehashed.PasswordHash = ftptest.HashPassword(t, "b")
	tables := [][]config.User{{alice}, {readOnly}, {}, {moved}, {rehashed}}
	st, err := newStorage(config.Storage{Backend: config.BackendMemory}, []config.User{alice, moved}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{
		registry: control.NewRegistry(),
		logger:   zap.NewNop(),
		metrics:  metrics.New(),
	}
	d.live.Store(&liveConfig{users: newUserBase(tables[0], config.Defaults{}), storage: st})
	bases := make([]*userBase, len(tables))
	for i, users := range tables {
		bases[i] = newUserBase(users, config.Defaults{})
	}
	admitted, closed, refused := 0, 0, 0
	for round := range rounds {
		live := d.live.Load()
		account, ok := live.users.byName["alice"]
		if !ok { // no login passes a password check now
			d.commitLive(&liveConfig{users: bases[(round+1)%len(bases)], storage: st})
			continue
		}
		sessions := make([]*session, logins)
		errs := make([]error, logins)
		var wg sync.WaitGroup
		for i := range sessions {
			s := newSession(fakeClient{}, openConn(t, d.registry), d.logger, d.metrics)
			sessions[i] = s
			wg.Go(func() { _, _, errs[i] = d.admit(s, live, localAdmission(account)) })
		}
		next := &liveConfig{users: bases[(round+1)%len(bases)], storage: st}
		wg.Go(func() { d.commitLive(next) })
		wg.Wait()
		for i, s := range sessions {
			s.mu.Lock()
			was, ending := s.account, s.ending
			s.mu.Unlock()
			switch {
			case errs[i] != nil:
				refused++
			case ending: // closed by the commit
				closed++
			default:
				admitted++
				now, kept := next.users.byName[was.Name]
				if why := accountChange(was, now, kept); why != "" {
					t.Fatalf("round %d: a session admitted as %+v stays open after a reload that made it %+v (%s)", round, was, now, why)
				}
			}
			_ = s.conn.Close()
			s.close()
		}
	}
	t.Logf("%d logins admitted with the account in force, %d closed by the reload, %d refused", admitted, closed, refused)
}

// TestReloadClosesASessionOnce: a session a reload ended stays among the
// driver's sessions until its connection has closed; a second reload in
// that time must not log its closing again.
func TestReloadClosesASessionOnce(t *testing.T) {
	alice := config.User{Name: "alice", PasswordHash: ftptest.HashPassword(t, "a"), Home: "alice"}
	readOnly := alice
	readOnly.ReadOnly = true
	st, err := newStorage(config.Storage{Backend: config.BackendMemory}, []config.User{alice}, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	d := &Driver{
		registry: control.NewRegistry(),
		logger:   zap.New(core),
		metrics:  metrics.New(),
	}
	d.live.Store(&liveConfig{users: newUserBase([]config.User{alice}, config.Defaults{}), storage: st})
	s := newSession(fakeClient{}, openConn(t, d.registry), d.logger, d.metrics)
	s.login(localAdmission(alice), nil)
	d.commitLive(&liveConfig{users: newUserBase([]config.User{readOnly}, config.Defaults{}), storage: st})
	d.commitLive(&liveConfig{users: newUserBase(nil, config.Defaults{}), storage: st})
	if n := logs.FilterMessage("session closed by reload").Len(); n != 1 {
		t.Errorf("%d lines \"session closed by reload\" for one session, want 1", n)
	}
}

// openConn returns the server side of a new loopback control connection,
// registered in reg, as the lib would get it from the control listener;
// it is closed when the test ends.
func openConn(t testing.TB, reg *control.Registry) *control.Conn {
	t.Helper()
	ln := control.NewListener(ftptest.Listen(t), control.Options{TLSConfig: ftptest.NewTLS(), Registry: reg, Logger: zap.NewNop()})
	_, server := ftptest.Pair(t, ln)
	return server.(*control.Conn)
}
