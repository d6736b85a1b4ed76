package control

import (
	"crypto/tls"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultHandshakeTimeout bounds a control-channel TLS handshake when
// Options.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 15 * time.Second

// Options configures a Listener.
type Options struct {
	// TLSConfig is used for AUTH TLS and implicit TLS. Required.
	TLSConfig *tls.Config
	// TLSConfigFor, if set, returns the TLS config of the connection with
	// the given id instead of TLSConfig (to mark its session tickets).
	TLSConfigFor func(id uint64) *tls.Config
	// Implicit starts every connection in TLS (implicit FTPS, port 990).
	Implicit bool
	// HandshakeTimeout bounds each TLS handshake.
	HandshakeTimeout time.Duration
	// RequireDataTLS refuses, with 521, a transfer command of a logged-in
	// session that did not ask for PROT P.
	RequireDataTLS bool
	// AllowCCC lets a logged-in client clear the control channel (CCC).
	AllowCCC bool
	// CCCWait bounds the wait for the client's close_notify after CCC;
	// zero means DefaultCCCWait.
	CCCWait time.Duration
	// Registry receives every accepted connection until it closes. Required.
	Registry *Registry
	// Logger receives the conn's log lines. Required.
	Logger *zap.Logger
}

func (o *Options) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (o *Options) cccWait() time.Duration {
	if o.CCCWait > 0 {
		return o.CCCWait
	}
	return DefaultCCCWait
}

// Listener wraps each accepted TCP connection in a Conn. Accept never
// blocks on a handshake. It is safe for concurrent use.
type Listener struct {
	net.Listener
	opts Options
}

// NewListener wraps inner.
func NewListener(inner net.Listener, opts Options) *Listener {
	return &Listener{Listener: inner, opts: opts}
}

// Accept waits for the next connection and returns it as a *Conn. Errors
// of the inner listener are returned unchanged.
func (l *Listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(raw, &l.opts), nil
}

// Registry finds the Conn behind a session from its addresses. It is safe
// for concurrent use.
type Registry struct {
	mu     sync.Mutex
	conns  map[string]*Conn
	data   map[string]*Conn // data endpoints (see DataOwner)
	nextID uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{conns: make(map[string]*Conn), data: make(map[string]*Conn)}
}

// Lookup returns the open connection with these addresses, or nil.
func (r *Registry) Lookup(local, remote net.Addr) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[connKey(local, remote)]
}

// Len returns the number of open connections.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// add registers c and gives it its id.
func (r *Registry) add(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	c.id = r.nextID
	r.conns[c.key] = c
}

func (r *Registry) remove(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[c.key] == c {
		delete(r.conns, c.key)
	}
	for _, k := range c.dataKeys {
		if r.data[k] == c {
			delete(r.data, k)
		}
	}
	c.dataKeys = nil
}

func connKey(local, remote net.Addr) string {
	return local.String() + "|" + remote.String()
}
