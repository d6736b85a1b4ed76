package control

import (
	"container/list"
	"context"
	"net"
	"net/netip"
	"sync"

	"ftpsd/ipaddr"
	"ftpsd/refusal"
)

// Locks of the control layer, and the order they are taken in.
//
// There are three mutexes here and one beside:
//
//   - Conn.out.mu orders the replies on one control connection (the
//     lib's and the conn's own) and the switches between clear text and
//     TLS (AUTH, CCC), and guards the conn's reply filter (see
//     replyFilter).
//   - Conn.stateMu guards the conn's State.
//   - Registry.mu guards everything in the Registry (the open
//     connections, their data endpoints, the pending set, the peers) and
//     the fields of each Conn that the Registry keeps for it (Conn.reg).
//   - Beside them, the PassiveLeases (pasv.Allocator) has a mutex of its
//     own, which control never sees.
//
// The order is: Conn.out.mu first, then any one of Conn.stateMu,
// Registry.mu or the PassiveLeases' lock; those three are leaves, never
// held together and never held while another lock is taken:
//
//   - out.mu → Registry.mu: a 227/229 reply binds its port
//     (watchReply → Registry.bind), and a handshake run by a write
//     (implicit FTPS: the greeting) calls the TLS config's callbacks,
//     whose ticket notice looks the conn up (Registry.ConnByID).
//   - out.mu → PassiveLeases: a 227/229 reply claims its port, a
//     200 PORT/EPRT releases the idle listener (watchReply).
//   - out.mu → stateMu: a handshake run by a write records the
//     protection (recordProtection), and CCC clears it (clearTLS).
//
// Registry.mu is held only inside Registry's methods, which call nothing
// that locks (Options.Network is a pure function). Conn.Close removes the
// conn from the Registry and then releases its passive listeners, one
// after the other. Callers outside control (the driver, ticketbind) look
// a conn up in the Registry and call it after the lookup returned
// (Registry.DataOwner then Conn.NoteDataRefused), never under its lock.
// A handshake may run with out.mu held: the TLS config's callbacks must
// never write to the connection.

// Registry finds the Conn behind a session from its addresses. It is safe
// for concurrent use.
type Registry struct {
	mu      sync.Mutex         // guards every field below, and each Conn.reg
	conns   map[string]*Conn   // open connections by connKey
	data    map[endpoint]*Conn // data endpoints (see DataOwner)
	perIP   map[string]int     // open connections by Options.networkOf
	pending pendingSet         // open connections not logged in
	nextID  uint64             // the last id given (see add)
	// peers holds who each logged-in connection was, also for a while
	// after it closed (see Peer); retired lists the closed ones, oldest
	// first.
	peers   map[uint64]Peer
	retired []uint64
	byID    map[uint64]*Conn // open connections by id
}

// Peer is who a control connection belonged to.
type Peer struct {
	User   string
	Client netip.Addr
}

// RetainedPeers is how many closed connections Peer still knows: a session
// ticket issued on a closed connection is still honoured for a new
// connection of the same user and client (see ticketbind.DataBinding.Peer).
const RetainedPeers = 4096

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		conns: make(map[string]*Conn), data: make(map[endpoint]*Conn),
		perIP: make(map[string]int), peers: make(map[uint64]Peer), byID: make(map[uint64]*Conn),
		pending: newPendingSet(),
	}
}

// Peer returns who the connection with id was once it logged in, while it
// is open and for the RetainedPeers connections closed last.
func (r *Registry) Peer(id uint64) (Peer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.peers[id]
	return p, ok
}

// setPeer records who c is at its login; from then on it no longer
// counts as unauthenticated.
func (r *Registry) setPeer(c *Conn, p Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peers[c.id] = p
	r.pending.remove(c)
}

// Unauthenticated returns the number of open connections that have not
// logged in.
func (r *Registry) Unauthenticated() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending.total
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

// add registers c and gives it its id, unless a cap of opts (0: none) is
// reached; it then returns the name of the cap. When MaxUnauthenticated is
// reached, c may take the place of a pending connection of a busier
// address (see pendingSet.victimFor): add returns that victim, no longer
// counted, for the caller to evict.
func (r *Registry) add(c *Conn, opts *Options) (victim *Conn, refused string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if opts.MaxConns > 0 && len(r.conns) >= opts.MaxConns {
		return nil, refusal.MaxConnections
	}
	if _, proxied := c.raw.(*proxiedConn); proxied && r.conns[c.key] != nil {
		// A PROXY header may name a client address and port that an open
		// connection to the same local address has (two balancers, clients
		// behind one NAT); the registry needs them distinct.
		return nil, refusal.ProxyHeader
	}
	ip := opts.networkOf(c.raw.RemoteAddr())
	if opts.MaxPerIP > 0 && r.perIP[ip] >= opts.MaxPerIP {
		return nil, refusal.MaxPerIP
	}
	if opts.MaxUnauthenticatedPerIP > 0 && r.pending.count(ip) >= opts.MaxUnauthenticatedPerIP {
		return nil, refusal.MaxUnauthenticatedPerIP
	}
	if opts.MaxUnauthenticated > 0 && r.pending.total >= opts.MaxUnauthenticated {
		if victim = r.pending.victimFor(ip); victim == nil {
			return nil, refusal.MaxUnauthenticated
		}
		r.pending.remove(victim)
		victim.evicted.Store(true)
	}
	r.nextID++
	c.id = r.nextID
	r.conns[c.key] = c
	r.byID[c.id] = c
	r.perIP[ip]++
	r.pending.add(c, ip)
	return victim, ""
}

// networkOf returns the key of a client address for the per-address caps
// and the eviction: its network under o.Network, else the address.
func (o *Options) networkOf(a net.Addr) string {
	ap, ok := ipaddr.PortOf(a)
	if !ok {
		return a.String()
	}
	ip := ap.Addr()
	if o.Network != nil {
		return o.Network(ip).String()
	}
	return ip.String()
}

// Conns returns the open connections.
func (r *Registry) Conns() []*Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	conns := make([]*Conn, 0, len(r.conns))
	for _, c := range r.conns {
		conns = append(conns, c)
	}
	return conns
}

func (r *Registry) remove(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[c.id] == c {
		delete(r.byID, c.id)
	}
	if r.conns[c.key] == c {
		delete(r.conns, c.key)
		ip := c.opts.networkOf(c.raw.RemoteAddr())
		if r.perIP[ip]--; r.perIP[ip] <= 0 {
			delete(r.perIP, ip)
		}
		r.pending.remove(c)
	}
	for _, k := range c.reg.dataKeys {
		if r.data[k] == c {
			delete(r.data, k)
		}
	}
	c.reg.dataKeys = nil
	if _, ok := r.peers[c.id]; ok {
		r.retired = append(r.retired, c.id)
		if len(r.retired) > RetainedPeers {
			delete(r.peers, r.retired[0])
			r.retired = r.retired[1:]
		}
	}
}

func connKey(local, remote net.Addr) string {
	return local.String() + "|" + remote.String()
}

// PeerWait returns who the connection with id was once it logged in (see
// Registry.Peer); while that connection is open and its first login is
// still under way, it waits for the login to end or ctx to be done.
// Clients that share one session cache between parallel connections
// (rclone, curl -Z) offer the newest ticket, often of a connection that is
// still checking its password.
func (r *Registry) PeerWait(ctx context.Context, id uint64) (Peer, bool) {
	r.mu.Lock()
	p, ok := r.peers[id]
	c := r.byID[id]
	r.mu.Unlock()
	if ok || c == nil {
		return p, ok
	}
	select {
	case <-c.login.done:
	case <-ctx.Done():
	}
	return r.Peer(id)
}

// ConnByID returns the open connection with id, or nil.
func (r *Registry) ConnByID(id uint64) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// DataOwner returns the control connection that owns a data connection,
// given the server side of that data connection, or nil.
func (r *Registry) DataOwner(data net.Conn) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := data.LocalAddr().(*net.TCPAddr); ok {
		if c := r.data[passiveEndpoint(a.Port)]; c != nil {
			return c
		}
	}
	if ap, ok := ipaddr.PortOf(data.RemoteAddr()); ok {
		return r.data[activeEndpoint(ap)]
	}
	return nil
}

// bind makes c the owner of the data endpoint key, replacing c's previous
// endpoint of the same kind (passive or active).
func (r *Registry) bind(c *Conn, key endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, old := range c.reg.dataKeys {
		if old.passive == key.passive {
			if r.data[old] == c {
				delete(r.data, old)
			}
			c.reg.dataKeys = append(c.reg.dataKeys[:i], c.reg.dataKeys[i+1:]...)
			break
		}
	}
	r.data[key] = c
	c.reg.dataKeys = append(c.reg.dataKeys, key)
}

// PassiveOwner returns the control connection whose 227/229 announced
// port, or nil.
func (r *Registry) PassiveOwner(port int) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data[passiveEndpoint(port)]
}

// registryPlace is what the Registry keeps in each Conn, guarded by
// Registry.mu.
type registryPlace struct {
	dataKeys []endpoint // data endpoints bound to the conn
	// pendingElem and pendingAt place the conn among the pending
	// connections while it has not logged in (see pendingSet).
	pendingElem *list.Element
	pendingAt   *pendingAddr
}
