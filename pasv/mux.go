package pasv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"ftpsd/ipaddr"
)

// ErrNoSharedPort is returned by Mux.Assign when every port of the range
// has a session of the client's address waiting that a data connection
// could not be told apart from (see Mux).
var ErrNoSharedPort = errors.New("every passive port has a session of this address waiting, and its data connections could not be told apart (no TLS session to resume)")

// helloWait bounds the wait for the ClientHello that says which of
// several sessions of one address a data connection belongs to.
const helloWait = 10 * time.Second

// MuxOptions configures a Mux.
type MuxOptions struct {
	// Start and End bound the inclusive port range.
	Start, End int
	// MaxPerIP caps the sessions of one client address waiting for a data
	// connection at once; 0 means no cap.
	MaxPerIP int
	// Logger receives the refusals. Required.
	Logger *zap.Logger
}

// Mux serves the passive data connections of many sessions on the ports
// of one range (passive.multiplex). It is safe for concurrent use.
//
// The lib binds a listener of its own for each PASV/EPSV; as the lib's
// PasvPortGetter, Mux makes that an ephemeral port, whose number (the
// token) names the session's listener everywhere the port of a plain
// listener would: in the lib's reply, the registry's data endpoints, the
// deadlines. WrapPassiveListener replaces that listener by one fed from a port of the
// range, and when the control connection writes the reply it asks Assign
// which port of the range to announce instead of the token. A connection
// to a port of the range goes to the waiting session of its client
// address; when several sessions of that address wait on the port, to the
// one whose control connection issued the TLS session its ClientHello
// offers (see SetIdentify). Sessions of one address share a port
// only when all of them could be told apart so (their control connection
// issued a session ticket, their data is protected); otherwise a second
// session of the address gets another port, or none.
type Mux struct {
	start, end int
	maxPerIP   int
	identify   func(net.Conn) ([]byte, []uint64, error)
	resumes    func(owner uint64) bool
	logger     *zap.Logger

	mu      sync.Mutex
	ports   map[int]*sharedPort  // the bound ports of the range, while sessions wait on them
	byToken map[int]*muxListener // the listeners of the sessions, by token
}

// NewMux returns a multiplexer for the range in opts.
func NewMux(opts MuxOptions) (*Mux, error) {
	if opts.Start < 1 || opts.End > 65535 || opts.Start > opts.End {
		return nil, fmt.Errorf("passive port range %d-%d is invalid", opts.Start, opts.End)
	}
	return &Mux{
		start: opts.Start, end: opts.End, maxPerIP: opts.MaxPerIP,
		logger: opts.Logger,
		ports:  make(map[int]*sharedPort), byToken: make(map[int]*muxListener),
	}, nil
}

// SetIdentify sets how the ClientHello of a data connection names the
// sessions it belongs to: identify reads it at the start of conn and
// returns the bytes it read (handed out again before the rest of the
// stream) and the control connections whose TLS sessions it offers to
// resume. resumes reports whether the data connections of a session are
// refused unless they resume its TLS session (tls.require_session_reuse):
// only such sessions of one address share a port, as a client that would
// not resume could not be told apart. Without them, sessions of one
// address never share a port. Call it before the first PASV.
func (m *Mux) SetIdentify(identify func(conn net.Conn) (replay []byte, owners []uint64, err error), resumes func(owner uint64) bool) {
	m.identify, m.resumes = identify, resumes
}

// NumberAttempts and FetchNext make the lib bind an ephemeral port for
// each PASV/EPSV (the token, see Mux); the lib asks for candidates until
// it has as many distinct ones as NumberAttempts or FetchNext's calls run
// out, and port 0 is one candidate.
func (m *Mux) NumberAttempts() int { return 1 }

// FetchNext always proposes port 0 (see NumberAttempts).
func (m *Mux) FetchNext() (int, int, bool) { return 0, 0, true }

// Stats returns the state: Capacity is the ports of the range, InUse the
// ports bound now (each serving one session or more), Waiting the
// sessions waiting for a data connection.
func (m *Mux) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	waiting := 0
	for _, sp := range m.ports {
		waiting += len(sp.waiters)
	}
	return Stats{Capacity: m.end - m.start + 1, InUse: len(m.ports), Waiting: waiting}
}

// WrapPassiveListener takes the listener the lib bound for a PASV/EPSV and returns the
// session's listener, named by the port of l. It has the signature of
// ftpserverlib's MainDriverExtensionPassiveWrapper. The listener l stays
// bound (the lib sets its accept deadline on it, and its port keeps the
// token unique) and is never accepted from; it closes with the session's.
func (m *Mux) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("passive listener on %s is not TCP", l.Addr())
	}
	ml := &muxListener{m: m, raw: l, token: a.Port, conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.byToken[a.Port]; old != nil {
		return nil, fmt.Errorf("passive token %d is in use", a.Port)
	}
	m.byToken[a.Port] = ml
	return ml, nil
}

// Assign chooses the port of the range to announce for the session owner
// of client, whose listener is named by token, and returns it. ticketed
// tells that the session's data connections can be told apart by the TLS
// session they resume. Assign returns 0 and no error for a token it does
// not know.
func (m *Mux) Assign(token int, owner uint64, client, local netip.Addr, ticketed bool) (int, error) {
	// Not under m.mu: resumes looks the session up.
	ticketed = ticketed && m.identify != nil && m.resumes != nil && m.resumes(owner)
	m.mu.Lock()
	ml := m.byToken[token]
	if ml == nil {
		m.mu.Unlock()
		return 0, nil
	}
	ml.local = local.Unmap()
	port, err := m.assignLocked(ml, owner, client.Unmap(), ticketed)
	m.mu.Unlock()
	if err != nil {
		_ = ml.Close()
		return 0, err
	}
	return port, nil
}

func (m *Mux) assignLocked(ml *muxListener, owner uint64, client netip.Addr, ticketed bool) (int, error) {
	if m.maxPerIP > 0 && m.heldByLocked(client, owner) >= m.maxPerIP {
		m.logger.Warn("passive port refused: address cap", zap.Stringer("client", client), zap.Int("max_ports_per_ip", m.maxPerIP))
		return 0, ErrAddressCap
	}
	ml.owner, ml.client, ml.ticketed = owner, client, ticketed
	for _, port := range m.candidatesLocked(client, ml.ticketed) {
		sp := m.ports[port]
		if sp == nil {
			var err error
			if sp, err = m.bindLocked(port); err != nil {
				m.logger.Warn("passive port could not be bound", zap.Int("port", port), zap.Error(err))
				continue
			}
		}
		sp.waiters = append(sp.waiters, ml)
		ml.port = sp
		for _, w := range sp.waitingFrom(client) {
			w.wakeLocked() // now one of several: see muxListener.Accept
		}
		return port, nil
	}
	return 0, ErrNoSharedPort
}

// candidatesLocked lists the ports a session of client may wait on, best
// first: ports where no session of client waits, the least busy first;
// then, for a ticketed session, ports where only ticketed sessions of
// client wait.
func (m *Mux) candidatesLocked(client netip.Addr, ticketed bool) []int {
	type cand struct{ port, same, load int }
	var cs []cand
	for port := m.start; port <= m.end; port++ {
		c := cand{port: port}
		if sp := m.ports[port]; sp != nil {
			c.load = len(sp.waiters)
			for _, w := range sp.waiters {
				if w.client != client {
					continue
				}
				if !ticketed || !w.ticketed {
					c.same = -1
					break
				}
				c.same++
			}
		}
		if c.same >= 0 {
			cs = append(cs, c)
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.same != b.same {
			return a.same - b.same
		}
		return a.load - b.load
	})
	ports := make([]int, len(cs))
	for i, c := range cs {
		ports[i] = c.port
	}
	return ports
}

// heldByLocked counts the sessions of client other than owner that wait
// for a data connection.
func (m *Mux) heldByLocked(client netip.Addr, owner uint64) int {
	sessions := make(map[uint64]bool)
	for _, sp := range m.ports {
		for _, w := range sp.waiters {
			if w.client == client && w.owner != owner {
				sessions[w.owner] = true
			}
		}
	}
	return len(sessions)
}

// Claim is part of control.PassiveLeases; Assign did its work.
func (m *Mux) Claim(int, uint64) {}

// LocalPort is part of control.PassiveLeases: a multiplexed range
// translates no port (passive.announce_ports is refused with
// passive.multiplex), and the port of the lib's reply is the token that
// names the session's listener.
func (m *Mux) LocalPort(port int) int { return port }

// Reserve refuses a PASV/EPSV of owner when the other sessions of client
// wait for as many data connections as MuxOptions.MaxPerIP allows.
func (m *Mux) Reserve(owner uint64, client netip.Addr) error {
	if m.maxPerIP <= 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heldByLocked(client.Unmap(), owner) >= m.maxPerIP {
		return ErrAddressCap
	}
	return nil
}

// ReleaseOwned closes the listeners of the session owner and returns how
// many it closed.
func (m *Mux) ReleaseOwned(owner uint64) int {
	if owner == 0 {
		return 0
	}
	m.mu.Lock()
	var owned []*muxListener
	for _, ml := range m.byToken {
		if ml.owner == owner {
			owned = append(owned, ml)
		}
	}
	m.mu.Unlock()
	for _, ml := range owned {
		_ = ml.Close()
	}
	return len(owned)
}

// sharedPort is a bound port of the range and the sessions waiting on it.
type sharedPort struct {
	port    int
	ln      net.Listener
	waiters []*muxListener // guarded by Mux.mu
	// identifying counts, by client address, the connections whose
	// ClientHello is being read; guarded by Mux.mu.
	identifying map[netip.Addr]int
}

func (m *Mux) bindLocked(port int) (*sharedPort, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on passive port %d: %w", port, err)
	}
	sp := &sharedPort{port: port, ln: ln, identifying: make(map[netip.Addr]int)}
	m.ports[port] = sp
	go m.serve(sp)
	return sp, nil
}

// serve hands out the connections to sp until it closes.
func (m *Mux) serve(sp *sharedPort) {
	for {
		c, err := sp.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		m.dispatch(sp, c)
	}
}

// dispatch gives c to the session of its client address waiting on sp;
// with several, the ClientHello says which (in a goroutine of its own).
func (m *Mux) dispatch(sp *sharedPort, c net.Conn) {
	from := ipaddr.Of(c.RemoteAddr())
	m.mu.Lock()
	waiting := sp.waitingFrom(from)
	switch {
	case len(waiting) == 1:
		err := m.deliverLocked(waiting[0], c, nil)
		m.mu.Unlock()
		if err != nil {
			m.refuse(sp, c, err.Error())
		}
		return
	case len(waiting) == 0:
		m.mu.Unlock()
		m.refuse(sp, c, "no session of its address waits on this port")
		return
	}
	sp.identifying[from]++
	for _, w := range waiting {
		w.wakeLocked() // its client sends the ClientHello after the 150 that follows Accept
	}
	m.mu.Unlock()
	go m.dispatchByHello(sp, c, from)
}

// dispatchByHello gives c to the session of from waiting on sp whose
// control connection issued a TLS session that c's ClientHello offers.
// The client sends it once its session's transfer command was answered
// 150, which the lib sends once it accepted a connection: the sessions of
// from waiting on sp accept a placeholder meanwhile (see lazyConn).
func (m *Mux) dispatchByHello(sp *sharedPort, c net.Conn, from netip.Addr) {
	var (
		replay []byte
		owners []uint64
		err    error
	)
	if m.identify != nil {
		_ = c.SetReadDeadline(time.Now().Add(helloWait))
		replay, owners, err = m.identify(c)
		_ = c.SetReadDeadline(time.Time{})
	}
	m.mu.Lock()
	if sp.identifying[from]--; sp.identifying[from] <= 0 {
		delete(sp.identifying, from)
	}
	if err != nil {
		m.mu.Unlock()
		m.refuse(sp, c, "no ClientHello: "+err.Error())
		return
	}
	for _, w := range sp.waitingFrom(from) {
		if slices.Contains(owners, w.owner) {
			err := m.deliverLocked(w, c, replay)
			m.mu.Unlock()
			if err != nil {
				m.refuse(sp, c, err.Error())
			}
			return
		}
	}
	m.mu.Unlock()
	m.refuse(sp, c, "several sessions of its address wait on this port and its TLS session names none of them")
}

func (m *Mux) refuse(sp *sharedPort, c net.Conn, why string) {
	_ = c.Close()
	m.logger.Warn("multiplexed data connection refused", zap.Int("port", sp.port),
		zap.String("remote", c.RemoteAddr().String()), zap.String("reason", why))
}

// waitingFrom returns the sessions of client waiting on sp. Called with
// Mux.mu held.
func (sp *sharedPort) waitingFrom(client netip.Addr) []*muxListener {
	var out []*muxListener
	for _, w := range sp.waiters {
		if w.client == client {
			out = append(out, w)
		}
	}
	return out
}

// deliverLocked hands c to ml, which then no longer waits: to the
// placeholder it accepted, or to its next Accept.
func (m *Mux) deliverLocked(ml *muxListener, c net.Conn, replay []byte) error {
	local := &net.TCPAddr{Port: ml.token}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		local.IP, local.Zone = a.IP, a.Zone
	}
	if got := ipaddr.Of(c.LocalAddr()); ml.local.IsValid() && got != ml.local {
		return fmt.Errorf("it reached %s, its control connection %s", got, ml.local)
	}
	m.unwaitLocked(ml)
	mc := &muxConn{Conn: c, local: local, replay: replay}
	if ml.lazy != nil {
		ml.lazy.attach(mc)
		return nil
	}
	ml.conns <- mc // buffered, and ml is given one at most
	return nil
}

// unwaitLocked takes ml off its port, and closes the port when no session
// waits on it any more.
func (m *Mux) unwaitLocked(ml *muxListener) {
	sp := ml.port
	if sp == nil {
		return
	}
	ml.port = nil
	sp.waiters = slices.DeleteFunc(sp.waiters, func(w *muxListener) bool { return w == ml })
	if len(sp.waiters) == 0 && m.ports[sp.port] == sp {
		delete(m.ports, sp.port)
		_ = sp.ln.Close()
	}
}

// muxListener is the listener of one session: it accepts the one data
// connection dispatched to it.
type muxListener struct {
	m      *Mux
	raw    net.Listener // the lib's listener, bound to the token
	token  int
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once

	// Guarded by Mux.mu.
	owner    uint64
	client   netip.Addr
	local    netip.Addr
	ticketed bool
	port     *sharedPort   // nil unless waiting
	lazy     *lazyConn     // the placeholder accepted, see Accept
	wake     chan struct{} // closed and replaced when another session of client waits on port
}

// wakeLocked tells an Accept under way to look again.
func (l *muxListener) wakeLocked() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// Accept returns the connection dispatched to the session; while other
// sessions of its address wait on its port, or a connection of its address
// is being identified, a placeholder at once, which
// its connection is attached to once its ClientHello names the session
// (the client sends it only after the 150 the lib sends once Accept
// returned).
func (l *muxListener) Accept() (net.Conn, error) {
	for {
		l.m.mu.Lock()
		if l.port != nil && l.lazy == nil && (len(l.port.waitingFrom(l.client)) > 1 || l.port.identifying[l.client] > 0) {
			l.lazy = newLazyConn(l)
			l.m.mu.Unlock()
			return l.lazy, nil
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake := l.wake
		l.m.mu.Unlock()
		select {
		case c := <-l.conns:
			return c, nil
		case <-l.closed:
			return nil, net.ErrClosed
		case <-wake:
		}
	}
}

// Close ends the session's wait, and closes the lib's listener and a
// connection not accepted yet.
func (l *muxListener) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		l.m.unwaitLocked(l)
		if l.m.byToken[l.token] == l {
			delete(l.m.byToken, l.token)
		}
		lazy := l.lazy
		l.m.mu.Unlock()
		close(l.closed)
		if lazy != nil {
			lazy.attach(nil) // a placeholder never attached fails
		}
		select {
		case c := <-l.conns:
			_ = c.Close()
		default:
		}
		_ = l.raw.Close()
	})
	return nil
}

// Addr is the lib's listener's address: its port is the token.
func (l *muxListener) Addr() net.Addr { return l.raw.Addr() }

// muxConn is a dispatched data connection: its local port is its
// session's token (the registry finds the session by it), and it hands out
// the bytes its dispatch read first.
type muxConn struct {
	net.Conn
	local  net.Addr
	replay []byte
}

func (c *muxConn) LocalAddr() net.Addr { return c.local }

// NetConn returns the connection below (as *tls.Conn does).
func (c *muxConn) NetConn() net.Conn { return c.Conn }

func (c *muxConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// lazyConn is the placeholder a session of several of one address waiting
// on one port accepts (see muxListener.Accept): it reads, writes and tells
// its remote address once its connection is attached; until then, reads
// and writes wait (within their deadlines).
type lazyConn struct {
	remote, local net.Addr // before attach: the client's address, the token
	ready         chan struct{}
	once          sync.Once

	mu       sync.Mutex
	conn     net.Conn // attached; nil when closed before
	closed   bool
	rd, wd   time.Time
	attached bool
}

func newLazyConn(l *muxListener) *lazyConn {
	return &lazyConn{
		remote: &net.TCPAddr{IP: l.client.AsSlice()},
		local:  &net.TCPAddr{IP: l.local.AsSlice(), Port: l.token},
		ready:  make(chan struct{}),
	}
}

// attach makes c (nil: none) the connection; a placeholder closed already
// closes c.
func (z *lazyConn) attach(c net.Conn) {
	z.once.Do(func() {
		z.mu.Lock()
		if z.closed && c != nil {
			_ = c.Close()
			c = nil
		}
		z.conn, z.attached = c, true
		if c != nil {
			_ = c.SetReadDeadline(z.rd)
			_ = c.SetWriteDeadline(z.wd)
		}
		z.mu.Unlock()
		close(z.ready)
	})
}

// wait returns the attached connection, or an error once the deadline
// passed or the placeholder closed unattached.
func (z *lazyConn) wait(read bool) (net.Conn, error) {
	z.mu.Lock()
	d := z.wd
	if read {
		d = z.rd
	}
	z.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-z.ready:
	case <-timeout:
		return nil, os.ErrDeadlineExceeded
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.conn == nil {
		return nil, net.ErrClosed
	}
	return z.conn, nil
}

func (z *lazyConn) Read(p []byte) (int, error) {
	c, err := z.wait(true)
	if err != nil {
		return 0, err
	}
	return c.Read(p)
}

func (z *lazyConn) Write(p []byte) (int, error) {
	c, err := z.wait(false)
	if err != nil {
		return 0, err
	}
	return c.Write(p)
}

// Close closes the attached connection, or makes the placeholder fail.
func (z *lazyConn) Close() error {
	z.mu.Lock()
	z.closed = true
	c := z.conn
	z.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	z.attach(nil)
	return nil
}

func (z *lazyConn) current() net.Conn {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.conn
}

func (z *lazyConn) LocalAddr() net.Addr {
	if c := z.current(); c != nil {
		return c.LocalAddr()
	}
	return z.local
}

func (z *lazyConn) RemoteAddr() net.Addr {
	if c := z.current(); c != nil {
		return c.RemoteAddr()
	}
	return z.remote
}

// NetConn returns the attached connection (nil before).
func (z *lazyConn) NetConn() net.Conn { return z.current() }

func (z *lazyConn) SetDeadline(t time.Time) error {
	_ = z.SetReadDeadline(t)
	return z.SetWriteDeadline(t)
}

func (z *lazyConn) SetReadDeadline(t time.Time) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rd = t
	if z.conn != nil {
		return z.conn.SetReadDeadline(t)
	}
	return nil
}

func (z *lazyConn) SetWriteDeadline(t time.Time) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.wd = t
	if z.conn != nil {
		return z.conn.SetWriteDeadline(t)
	}
	return nil
}
