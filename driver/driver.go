package driver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/auth"
	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/guard"
	"ftpsd/hooks"
	"ftpsd/ipaddr"
	"ftpsd/metrics"
	"ftpsd/pasv"
	"ftpsd/quota"
	"ftpsd/tlsconf/closenotify"
	"ftpsd/tlsconf/recordbatch"
	"ftpsd/tlsconf/ticketbind"
	"ftpsd/xferlog"
)

// Errors returned to the lib, which turns them into reply texts.
var (
	ErrTLSRequired    = errors.New("TLS is required: send AUTH TLS before USER")
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrNoUser         = errors.New("send USER before PASS")
	ErrBanned         = errors.New("too many failed logins from your address; try again later")
	ErrBusy           = errors.New("too many logins under way; try again later")
)

// Driver implements ftpserver.MainDriver for every listener of one server.
// It is safe for concurrent use.
type Driver struct {
	metrics   *metrics.Metrics
	events    hooks.Sink // nil: no events
	xferlog   *xferlog.File
	ports     passivePorts
	announcer *pasv.Announcer
	cfg       config.Config // as started; reloadable parts live in live
	live      atomic.Pointer[liveConfig]
	data      *ticketbind.DataTLS // data connections, bound to their control session
	dataTLS   *tls.Config         // the config the lib wraps data connections with
	registry  *control.Registry
	guard     *guard.Guard
	checks    *guard.Slots // password checks under way (see checkPassword)
	lists     *listings    // listings in progress (server.max_concurrent_listings)
	quotas    *quota.Table // the usage of the homes (quota_bytes, quota_files)
	rates     *rateLimits  // the accounts' bandwidth limits, kept across reloads
	logger    *zap.Logger
	accounts  *auth.Chain // the account sources, [auth] sources (see accounts.go)

	// transfers counts the file transfers in progress of every session,
	// also of sessions whose control connection has closed already (the
	// lib ends a session before its transfer goroutine): Shutdown waits
	// for it to reach 0.
	transfers atomic.Int64

	// admitMu orders logins and reloads: a login is admitted, and a
	// reload's commit replaces live and chooses the sessions it closes,
	// under it (see admit and commitLive).
	admitMu sync.Mutex
}

// passivePorts hands out the passive ports: a pasv.Allocator, or a
// pasv.Mux with passive.multiplex.
type passivePorts interface {
	ftpserver.PasvPortGetter
	control.PassiveLeases
	Stats() pasv.Stats
	WrapPassiveListener(l net.Listener) (net.Listener, error)
}

// liveConfig is the part of the configuration that SIGHUP can change
// without a restart: accounts, their homes, and the banner. A reload
// replaces it whole: a login compares the one it was checked against with
// the one in force when it is admitted. Sessions logged in before a reload
// keep their login unless the reload changed their account.
type liveConfig struct {
	users   *userBase
	storage backend
	banner  string
}

func (d *Driver) settings(listener *control.Listener) *ftpserver.Settings {
	return &ftpserver.Settings{
		Listener:                 listener,
		Banner:                   d.cfg.Server.Banner,
		IdleTimeout:              int(d.cfg.Server.IdleTimeout.Std().Seconds()),
		ConnectionTimeout:        d.connectSeconds(),
		PassiveTransferPortRange: d.ports,
		PublicIPResolver:         d.passiveAddress,
		DisableActiveMode:        !d.cfg.Active.Enabled,
		ActiveTransferPortNon20:  true,
		TLSRequired:              ftpserver.ClearOrEncrypted, // the driver enforces the policy
		PasvConnectionsCheck:     ftpserver.IPMatchRequired,  // data from the control connection's client only
		ActiveConnectionsCheck:   ftpserver.IPMatchRequired,  // PORT/EPRT to the client's own address only
		DisableSite:              false,                      // SITE QUOTA only (clientFs.Site): no CHMOD/CHOWN/SYMLINK
		DefaultTransferType:      ftpserver.TransferTypeBinary,
		EnableHASH:               d.cfg.Server.HashCommand, // see ComputeHash
	}
}

// passiveAddress chooses the address of a 227 reply for the client: it
// depends on whether the control channel was cleared (CCC), when the
// firewalls on the path read the reply.
func (d *Driver) passiveAddress(cc ftpserver.ClientContext) (string, error) {
	cleared := d.sessionOf(cc).controlState().Cleared
	ip, err := d.announcer.Address(ipaddr.Of(cc.RemoteAddr()), ipaddr.Of(cc.LocalAddr()), cleared)
	if err != nil {
		return "", err
	}
	return ip.String(), nil
}

// connectSeconds is how long the lib waits for a data connection to be
// made once a transfer command came (the client's passive connect, or ours
// in active mode): passive.connect_timeout in whole seconds, rounded up.
func (d *Driver) connectSeconds() int {
	return int(math.Ceil(d.cfg.Passive.ConnectTimeout.Std().Seconds()))
}

// WrapPassiveListener lets the allocator lease the port the lib bound,
// with passive.proxy_protocol takes each data connection's client from
// its balancer's PROXY header (see control.DataProxyListener), keeps data on the control connection's local address (sameLocalAddress),
// screens the data connections' TLS (see ticketbind.DataTLS), with
// tls.strict_upload_eof makes a protected data connection cut without
// close_notify fail its read (see closenotify), bounds the listener and
// its connections in time (see pasv.WithDeadlines), and gathers the TLS
// records written on them into fewer socket writes (see recordbatch).
func (d *Driver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	leased, err := d.ports.WrapPassiveListener(l)
	if err != nil {
		return nil, err
	}
	if d.cfg.Passive.ProxyProtocol {
		leased = control.DataProxyListener(leased, control.ProxyOptions{
			Trusted:       d.cfg.Server.TrustedProxies,
			HeaderTimeout: d.cfg.Passive.ConnectTimeout.Std(),
		}, d.guard, d.logger.Named("data"))
	}
	data := d.data.Screen(sameLocalAddress(leased, d.registry))
	if d.cfg.TLS.StrictUploadEOF {
		data = closenotify.Listener(data)
	}
	return recordbatch.Listener(pasv.WithDeadlines(data, d.dataDeadlines())), nil
}

// dataDeadlines are passive.connect_timeout and
// server.transfer_stall_timeout, reported to the session whose listener
// or connection they end.
func (d *Driver) dataDeadlines() pasv.Deadlines {
	connect, stall := d.cfg.Passive.ConnectTimeout.Std(), d.cfg.Server.TransferStallTimeout.Std()
	return pasv.Deadlines{
		Connect: connect,
		Stall:   stall,
		NeedsHandshake: func(conn net.Conn) bool {
			c := d.registry.DataOwner(conn)
			return c == nil || c.DataProtected()
		},
		Expired: func(port int, err error) {
			c := d.registry.PassiveOwner(port)
			if c == nil {
				return
			}
			text := fmt.Sprintf("no byte moved for %s (server.transfer_stall_timeout)", stall)
			if errors.Is(err, pasv.ErrConnectTimeout) {
				text = fmt.Sprintf("no data connection ready within %s of the passive reply (passive.connect_timeout); its port was released", connect)
			}
			c.NoteDataExpired(control.DataExpiry{Err: err, Text: text})
		},
	}
}

// ClientConnected opens a session and returns the banner.
func (d *Driver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	s := d.newSession(cc)
	cc.SetExtra(s)
	s.log().Debug("session opened")
	return d.live.Load().banner, nil
}

// ClientDisconnected closes the session's filesystem.
func (d *Driver) ClientDisconnected(cc ftpserver.ClientContext) {
	if s, ok := cc.Extra().(*session); ok {
		s.close()
	}
}

// PreAuthUser refuses USER on a clear control channel when the policy
// requires TLS.
func (d *Driver) PreAuthUser(cc ftpserver.ClientContext, user string) error {
	if d.tlsMissing(d.sessionOf(cc)) {
		return d.refuseLogin(d.sessionOf(cc), user, "USER before AUTH TLS", ErrTLSRequired)
	}
	return nil
}

// AuthUser checks the password (see login.go) and returns the user's
// filesystem.
func (d *Driver) AuthUser(cc ftpserver.ClientContext, name, pass string) (ftpserver.ClientDriver, error) {
	start := time.Now()
	s := d.sessionOf(cc)
	if err := d.loginPolicy(s, name); err != nil {
		return nil, err
	}
	live := d.live.Load()
	a, err := d.checkPassword(s, name, pass)
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		return nil, d.loginDeferred(s, name, a.Source, err)
	case err != nil:
		time.Sleep(a.Pad) // as long as asking every source (see auth.Chain)
		return nil, d.loginFailed(s, name, err)
	}
	if d.cfg.TLS.Require == config.RequireAll {
		if err := cc.SetTLSRequirement(ftpserver.MandatoryEncryption); err != nil {
			return nil, fmt.Errorf("set TLS requirement: %w", err)
		}
	}
	a, fs, err := d.admit(s, live, a)
	if r, ok := errPolicy(err); ok {
		return nil, d.refusedByPolicy(s, name, r)
	}
	d.guard.Succeeded(s.client())
	switch {
	case errors.Is(err, errRevoked):
		return nil, d.refuseLogin(s, name, err.Error(), err)
	case err != nil:
		s.log().Error("login failed", zap.String("user", name), zap.Error(err))
		s.emitLogin(name, "home not available: "+err.Error(), start)
		return nil, fmt.Errorf("home of %s is not available", name)
	}
	user := a.User
	st := s.controlState()
	if s.conn != nil {
		s.conn.SetLogger(s.log().Named("control"))
		s.conn.SetLoggedIn(user.Name)
	}
	d.metrics.Login(metrics.ResultOK)
	s.log().Info("login", zap.String("result", metrics.ResultOK), zap.Bool("read_only", user.ReadOnly),
		zap.String("tls_version", st.VersionName()), zap.Bool("implicit", st.Implicit), zap.String("source", a.Source))
	s.emitLogin(user.Name, "", start)
	q := newHomeQuota(d.quotas, user.Home, fs, func() quota.Limit {
		p, _ := s.policyIn(d.live.Load().users)
		return limitOf(p)
	})
	return newClientFs(fs, user.ReadOnly, s, d.cfg.Server.MaxListEntries, d.lists, q), nil
}

// GetTLSConfig returns the one stable TLS config of data channels.
func (d *Driver) GetTLSConfig() (*tls.Config, error) { return d.dataTLS, nil }

// QuitMessage is the text of the 221 reply.
func (d *Driver) QuitMessage() string { return "Goodbye." }

// GetSettings is never called on Driver itself: each lib server gets a
// listenerDriver that supplies its own listener.
func (d *Driver) GetSettings() (*ftpserver.Settings, error) {
	return nil, errors.New("driver: settings are per listener")
}

// listenerDriver is the Driver as seen by the lib server of one listener.
type listenerDriver struct {
	*Driver
	listener *control.Listener
}

func (l listenerDriver) GetSettings() (*ftpserver.Settings, error) {
	return l.settings(l.listener), nil
}

var (
	_ ftpserver.PasvPortGetter                    = (*pasv.Allocator)(nil)
	_ control.PassiveLeases                       = (*pasv.Allocator)(nil)
	_ passivePorts                                = (*pasv.Allocator)(nil)
	_ passivePorts                                = (*pasv.Mux)(nil)
	_ control.PassiveAssigner                     = (*pasv.Mux)(nil)
	_ control.Gate                                = (*guard.Guard)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper = listenerDriver{}
	_ ftpserver.MainDriver                        = listenerDriver{}
	_ ftpserver.MainDriverExtensionUserVerifier   = listenerDriver{}
	_ ftpserver.MainDriverExtensionQuitMessage    = listenerDriver{}
)
