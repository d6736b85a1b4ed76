package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// maxIdle is how long a connection may wait in the pool: an older one is
// closed rather than reused, since servers and firewalls drop idle
// connections (Active Directory after 15 minutes by default), often
// without a word.
const maxIdle = time.Minute

// conn is one connection to the directory.
type conn struct {
	*ldap.Conn
	// service: bound as the service account, good for searches; false:
	// last bound as a user (or failed to), good only for a user's bind.
	service bool
	// idleSince is when the connection went back to the pool.
	idleSince time.Time
}

// pool holds the connections to the directory: at most size open at once,
// each in use by one operation or idle. Searches take a connection bound
// as the service account; a user's password is checked by a bind on an
// idle connection of either kind (which then stays a user's connection
// until a search rebinds it), so that a login costs no connection set-up
// or TLS handshake once the pool is warm.
type pool struct {
	// dial opens a connection (TCP, TLS or StartTLS), unbound.
	dial func(ctx context.Context) (*ldap.Conn, error)
	// bindService binds a connection as the service account.
	bindService func(c *ldap.Conn) error
	// slots holds one token per connection in use.
	slots chan struct{}

	mu   sync.Mutex
	idle []*conn
	// opened counts the connections open or being opened, in use or
	// idle: at most size.
	opened int
	closed bool
}

func newPool(size int, dial func(context.Context) (*ldap.Conn, error), bindService func(*ldap.Conn) error) *pool {
	return &pool{dial: dial, bindService: bindService, slots: make(chan struct{}, size)}
}

// errPoolClosed is returned after Close.
var errPoolClosed = errors.New("the LDAP source is closed")

// get returns a connection for a search (service) or a user's bind,
// waiting for one while size are in use, until ctx is done. fresh reports
// a connection dialled for this call (not reused from the pool).
func (p *pool) get(ctx context.Context, service bool) (c *conn, fresh bool, err error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("waiting for one of the %d connections (pool_size): %w", cap(p.slots), context.Cause(ctx))
	}
	c, err = p.takeIdle(service)
	if err == nil && c == nil {
		c, err = p.open(ctx, service)
		fresh = true
	}
	if err != nil {
		<-p.slots
		return nil, false, err
	}
	return c, fresh, nil
}

// takeIdle returns an idle connection of the wanted kind, or nil when
// there is none and one more may be opened (it is then counted open), or
// else an idle one of the other kind (a user's connection is rebound as
// the service for a search).
func (p *pool) takeIdle(service bool) (*conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		c := p.popLocked(service)
		if c == nil {
			// Every open connection is in use or of the other kind.
			if p.opened < cap(p.slots) {
				p.opened++
				p.mu.Unlock()
				return nil, nil
			}
			c = p.popLocked(!service)
		}
		p.mu.Unlock()
		if c == nil {
			// Cannot happen: a slot is held, so fewer than size are in use.
			return nil, errors.New("LDAP connection pool: no connection idle or to open")
		}
		if c.IsClosing() || time.Since(c.idleSince) > maxIdle {
			p.discard(c)
			continue
		}
		if service && !c.service {
			if err := p.bindService(c.Conn); err != nil {
				p.discard(c)
				if isTransport(err) {
					continue
				}
				return nil, err
			}
			c.service = true
		}
		return c, nil
	}
}

// popLocked removes the most recently used idle connection of the kind,
// nil if none.
func (p *pool) popLocked(service bool) *conn {
	for i := len(p.idle) - 1; i >= 0; i-- {
		if c := p.idle[i]; c.service == service {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return c
		}
	}
	return nil
}

// open dials a new connection (counted open by takeIdle) and, for a
// search, binds it as the service.
func (p *pool) open(ctx context.Context, service bool) (*conn, error) {
	l, err := p.dial(ctx)
	if err == nil && service {
		if err = p.bindService(l); err != nil {
			l.Close()
		}
	}
	if err != nil {
		p.mu.Lock()
		p.opened--
		p.mu.Unlock()
		return nil, err
	}
	return &conn{Conn: l, service: service}, nil
}

// discard closes c, which is no longer counted open.
func (p *pool) discard(c *conn) {
	c.Close()
	p.mu.Lock()
	p.opened--
	p.mu.Unlock()
}

// put gives c back: kept for reuse when keep and it is still open, closed
// otherwise.
func (p *pool) put(c *conn, keep bool) {
	p.mu.Lock()
	keep = keep && !p.closed && !c.IsClosing()
	if keep {
		c.idleSince = time.Now()
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		p.discard(c)
	}
	<-p.slots
}

// close closes the idle connections; those in use are closed when given
// back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

// isTransport reports an error of the connection itself (refused, reset,
// timed out, closed, TLS) rather than an answer of the server: the
// connection cannot be used again.
func isTransport(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode >= ldap.ErrorNetwork
	}
	return true
}

// dialer returns the dial function of a pool: TCP to addr, then TLS for
// ldaps:// or StartTLS for ldap:// with startTLS, every step bounded by
// ctx and timeout.
func dialer(addr string, ldaps, startTLS bool, tlsConfig *tls.Config, timeout time.Duration) func(context.Context) (*ldap.Conn, error) {
	return func(ctx context.Context) (*ldap.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		// The set-up (TLS handshake, StartTLS) ends by ctx's deadline.
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(timeout)
		}
		if err := raw.SetDeadline(deadline); err != nil {
			raw.Close()
			return nil, err
		}
		var nc net.Conn = raw
		if ldaps {
			tc := tls.Client(raw, tlsConfig.Clone())
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			nc = tc
		}
		l := ldap.NewConn(nc, ldaps)
		l.Start()
		l.SetTimeout(timeout)
		if startTLS {
			if err := l.StartTLS(tlsConfig.Clone()); err != nil {
				l.Close()
				return nil, fmt.Errorf("StartTLS: %w", err)
			}
		}
		if err := raw.SetDeadline(time.Time{}); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
}
