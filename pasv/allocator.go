package pasv

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// maxCandidates bounds one round of candidates: the lib asks at most
	// 1,000 times, and NumberAttempts must leave room for the closing call.
	maxCandidates = 999
	// roundTimeout frees a round the lib abandoned (it never should).
	roundTimeout = time.Second
	// bindSettle is how long a new round waits, while another round is
	// open, before it looks again.
	bindSettle = 10 * time.Millisecond
	// tentativeFor is how long the first candidate of a round is put last
	// in other rounds, while its session binds it.
	tentativeFor = 2 * time.Second
	// pendingFor is how long a round's candidates are kept to learn which
	// ports failed to bind.
	pendingFor = 5 * time.Second
)

// Options configures an Allocator.
type Options struct {
	// Start and End bound the inclusive port range.
	Start, End int
	// Wait is how long a PASV waits for a port when all are leased; zero
	// answers at once.
	Wait time.Duration
	// Logger receives the exhaustion warnings. Required.
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxPerIP caps the ports held at once by the sessions of one client
	// address (see Reserve); 0, or the whole range, means no cap.
	MaxPerIP int
	// AnnounceStart, when not zero, is the first port of the public range
	// the edge forwards to Start-End port for port: the lib announces
	// AnnounceStart+i for the local port Start+i (see FetchNext and
	// LocalPort). Zero announces the local ports.
	AnnounceStart int
}

// ErrAddressCap is returned by Reserve when the sessions of the client's
// address hold as many ports as Options.MaxPerIP allows.
var ErrAddressCap = errors.New("the sessions of this address hold the most passive ports one address may (passive.max_ports_per_ip)")

// Stats is the allocator's state, for logs and metrics.
type Stats struct {
	Capacity    int    // ports in the range
	InUse       int    // ports leased now
	Waiting     int    // PASV commands waiting for a port now
	Exhaustions uint64 // PASV commands that found no port, since start
}

// Allocator proposes passive ports and tracks their leases. It is safe for
// concurrent use.
//
// For each PASV the lib calls NumberAttempts once, then FetchNext until it
// returns false, then listens on the candidates in order; the listener that
// bound is shown to WrapPassiveListener, which takes the lease, and the
// lease ends when that listener closes. Rounds of candidates are served one
// at a time (they last microseconds), so every round lists every free port:
// the least recently released first, ports another round is about to bind
// and ports that recently failed to bind (held by a foreign process) last.
// Two sessions racing for one port are settled by the kernel's bind; a
// PASV allowed to wait does not enter a race it can only lose (every free
// port being bound by another round) but waits for the binds to settle.
type Allocator struct {
	start, end int
	announce   int // first announced port; equals start without translation
	wait       time.Duration
	logger     *zap.Logger
	now        func() time.Time

	mu          sync.Mutex
	ports       []portState
	changed     chan struct{} // closed and replaced on every release and round end
	round       []int         // candidates of the open round
	next        int           // next candidate of the open round
	roundOpen   bool
	roundStart  time.Time
	pending     []pastRound
	inUse       int
	waiting     int
	exhaustions uint64
	dry         bool
	maxPerIP    int
	reserved    map[uint64]reservation // by session, see Reserve
}

// reservation is a port counted for a session whose PASV the lib is
// handling.
type reservation struct {
	client netip.Addr
	at     time.Time
}

type portState struct {
	leases   int             // listeners holding the port (2 only briefly, see WrapPassiveListener)
	holder   *leasedListener // the listener of the latest lease; nil once it closed
	released time.Time       // zero: never used
	proposed time.Time       // first candidate of a recent round
	suspect  bool            // failed to bind while not leased: a foreign process may hold it
}

type pastRound struct {
	candidates []int
	at         time.Time
}

// NewAllocator returns an allocator for the range in opts.
func NewAllocator(opts Options) (*Allocator, error) {
	if opts.Start < 1 || opts.End > 65535 || opts.Start > opts.End {
		return nil, fmt.Errorf("passive port range %d-%d is invalid", opts.Start, opts.End)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	announce := opts.Start
	if opts.AnnounceStart != 0 {
		announce = opts.AnnounceStart
		if last := announce + opts.End - opts.Start; announce < 1 || last > 65535 {
			return nil, fmt.Errorf("announced port range %d-%d is invalid", announce, last)
		}
	}
	if opts.MaxPerIP >= opts.End-opts.Start+1 {
		opts.MaxPerIP = 0 // the range runs out first: a PASV waits for it as for any port
	}
	return &Allocator{
		start: opts.Start, end: opts.End, announce: announce, wait: opts.Wait,
		logger: opts.Logger, now: now,
		ports:    make([]portState, opts.End-opts.Start+1),
		changed:  make(chan struct{}),
		maxPerIP: opts.MaxPerIP, reserved: make(map[uint64]reservation),
	}, nil
}

// Stats returns the current state.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{Capacity: len(a.ports), InUse: a.inUse, Waiting: a.waiting, Exhaustions: a.exhaustions}
}

// NumberAttempts opens a round of candidates for one PASV, waiting up to
// the configured wait while every port is leased, and returns how many
// times the lib may call FetchNext (one more than the candidates, so that
// the round ends with FetchNext's false).
func (a *Allocator) NumberAttempts() int {
	deadline := a.now().Add(a.wait)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if a.roundOpen && a.now().Sub(a.roundStart) < roundTimeout {
			a.waitLocked(a.now().Add(bindSettle))
			continue
		}
		candidates := a.candidatesLocked()
		if until, busy := a.busyLocked(candidates, deadline); busy {
			a.waiting++
			a.waitLocked(until)
			a.waiting--
			continue
		}
		a.openRoundLocked(candidates)
		return len(candidates) + 1
	}
}

// busyLocked reports whether a PASV should go on waiting, and until when
// at most: before its deadline, while no port is plainly free. A port
// being bound by another round (the first candidate of a recent round)
// would only lose the race for it; a suspect (it failed to bind lately: a
// foreign process holds it) would most likely fail again, so while a lease
// may end, the PASV waits for that instead. Only when nothing is leased or
// being bound does it try the suspects at once.
func (a *Allocator) busyLocked(candidates []int, deadline time.Time) (time.Time, bool) {
	now := a.now()
	if !now.Before(deadline) {
		return time.Time{}, false
	}
	until, binding := deadline, false
	for _, p := range candidates {
		st := &a.ports[p-a.start]
		switch a.rank(st, now) {
		case 0:
			return time.Time{}, false
		case 1:
			binding = true
			if exp := st.proposed.Add(tentativeFor); exp.Before(until) {
				until = exp // the mark expires: look again
			}
		}
	}
	if len(candidates) > 0 && !binding && a.inUse == 0 {
		return time.Time{}, false // only suspects, and no lease to wait for
	}
	return until, true
}

// waitLocked releases the lock until the state changes or the deadline.
func (a *Allocator) waitLocked(deadline time.Time) {
	changed := a.changed
	a.mu.Unlock()
	timer := time.NewTimer(max(deadline.Sub(a.now()), 0))
	select {
	case <-changed:
	case <-timer.C:
	}
	timer.Stop()
	a.mu.Lock()
}

func (a *Allocator) openRoundLocked(candidates []int) {
	a.roundOpen, a.roundStart = true, a.now()
	a.round, a.next = candidates, 0
	if len(candidates) > 0 {
		return
	}
	a.exhaustions++
	if !a.dry {
		a.dry = true
		a.logger.Warn("passive port range exhausted: PASV/EPSV refused until a port is released",
			zap.Int("capacity", len(a.ports)), zap.Duration("wait", a.wait))
	}
}

// FetchNext returns the next candidate of the open round, the port to
// announce and the local port to listen on, or false when the round is
// over.
func (a *Allocator) FetchNext() (int, int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.roundOpen { // not preceded by NumberAttempts: one plain proposal
		if c := a.candidatesLocked(); len(c) > 0 {
			return a.announced(c[0]), c[0], true
		}
		return 0, 0, false
	}
	if a.next >= len(a.round) {
		a.closeRoundLocked()
		return 0, 0, false
	}
	port := a.round[a.next]
	if a.next == 0 {
		a.ports[port-a.start].proposed = a.now()
	}
	a.next++
	return a.announced(port), port, true
}

// announced returns the port announced for the local port.
func (a *Allocator) announced(local int) int { return local - a.start + a.announce }

// LocalPort returns the local port of a port announced in a 227/229
// reply: the port the listener, the data connections' local address and
// every lease are known by. A port outside the announced range is
// returned as it is.
func (a *Allocator) LocalPort(announced int) int {
	if announced < a.announce || announced > a.announce+a.end-a.start {
		return announced
	}
	return announced - a.announce + a.start
}

func (a *Allocator) closeRoundLocked() {
	if len(a.round) > 0 {
		a.pending = append(a.pending, pastRound{candidates: a.round, at: a.now()})
	}
	a.roundOpen, a.round, a.next = false, nil, 0
	a.signalLocked()
}

func (a *Allocator) signalLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// candidatesLocked lists the ports not leased, best first.
func (a *Allocator) candidatesLocked() []int {
	now := a.now()
	a.expirePendingLocked(now)
	var c []int
	for i := range a.ports {
		if a.ports[i].leases == 0 {
			c = append(c, a.start+i)
		}
	}
	slices.SortStableFunc(c, func(x, y int) int {
		px, py := &a.ports[x-a.start], &a.ports[y-a.start]
		if d := cmp.Compare(a.rank(px, now), a.rank(py, now)); d != 0 {
			return d
		}
		return px.released.Compare(py.released)
	})
	if len(c) > maxCandidates {
		c = c[:maxCandidates]
	}
	return c
}

// rank orders candidates: plain free ports, then ports another round is
// binding, then suspects.
func (a *Allocator) rank(p *portState, now time.Time) int {
	switch {
	case p.suspect:
		return 2
	case !p.proposed.IsZero() && now.Sub(p.proposed) < tentativeFor:
		return 1
	}
	return 0
}

// WrapPassiveListener takes the lease of the port the lib bound and
// returns a listener that releases it when closed. It has the signature of
// ftpserverlib's MainDriverExtensionPassiveWrapper.
func (a *Allocator) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok || addr.Port < a.start || addr.Port > a.end {
		return l, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &a.ports[addr.Port-a.start]
	if st.leases > 0 {
		// The previous holder closed its listener and has not released
		// the lease yet (see leasedListener.Close): both leases count.
		a.logger.Debug("passive port bound again before its previous listener released it", zap.Int("port", addr.Port))
	} else {
		a.inUse++
	}
	st.leases++
	st.suspect, st.proposed = false, time.Time{}
	a.learnLocked(addr.Port)
	a.signalLocked() // rounds waiting for this port's bind to settle
	ll := &leasedListener{Listener: l}
	ll.release = func() { a.release(addr.Port, ll) }
	st.holder = ll
	return ll, nil
}

// Claim records that the session owner (a control connection id, not 0)
// announced the local port in its 227/229 reply (the reply's port
// translated by LocalPort): the port's latest lease, taken just before the
// reply, is that session's passive listener.
func (a *Allocator) Claim(port int, owner uint64) {
	if port < a.start || port > a.end || owner == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.ports[port-a.start].holder; h != nil {
		h.owner = owner
		if r, ok := a.reserved[owner]; ok {
			h.client = r.client
		}
	}
	delete(a.reserved, owner)
}

// Reserve counts a port for the session owner of client before the lib
// handles its PASV/EPSV. While the other sessions of client hold or
// reserved Options.MaxPerIP ports, it waits for one of them to end, up to
// Options.Wait, then returns ErrAddressCap. The session's own listeners
// do not count: the lib closes them before it binds the new one (and the
// control connection closes an idle one first). The reservation ends at
// Claim, at ReleaseOwned, or when a PASV could have taken it (Options.Wait
// and a few seconds) without a Claim: that PASV failed.
func (a *Allocator) Reserve(owner uint64, client netip.Addr) error {
	if a.maxPerIP <= 0 || owner == 0 {
		return nil
	}
	deadline := a.now().Add(a.wait)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.reserved, owner)
	for a.heldByLocked(client, owner) >= a.maxPerIP {
		if !a.now().Before(deadline) {
			a.logger.Warn("passive port refused: address cap", zap.Stringer("client", client), zap.Int("max_ports_per_ip", a.maxPerIP))
			return ErrAddressCap
		}
		a.waiting++
		a.waitLocked(earliest(deadline, a.now().Add(time.Second))) // reservations also expire
		a.waiting--
	}
	a.reserved[owner] = reservation{client: client, at: a.now()}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// heldByLocked counts the sessions of client other than owner that hold
// or reserved a port, forgetting reservations too old to be claimed. A
// session counts once: the lib closes its listener before it binds the
// one of its next PASV.
func (a *Allocator) heldByLocked(client netip.Addr, owner uint64) int {
	now := a.now()
	sessions := make(map[uint64]bool)
	for i := range a.ports {
		if h := a.ports[i].holder; h != nil && h.owner != 0 && h.owner != owner && h.client == client {
			sessions[h.owner] = true
		}
	}
	for id, r := range a.reserved {
		switch {
		case now.Sub(r.at) >= a.wait+pendingFor:
			delete(a.reserved, id)
		case r.client == client && id != owner:
			sessions[id] = true
		}
	}
	return len(sessions)
}

// ReleaseOwned closes the passive listeners claimed by owner, which ends
// their leases, and returns how many it closed. The lib binds the port of
// a new PASV before it closes the session's previous listener, and never
// closes a passive listener that a PORT replaced: the control connection
// calls this when the session's listener is no longer of use.
func (a *Allocator) ReleaseOwned(owner uint64) int {
	if owner == 0 {
		return 0
	}
	a.mu.Lock()
	if _, ok := a.reserved[owner]; ok {
		delete(a.reserved, owner)
		a.signalLocked() // a session waiting in Reserve
	}
	var owned []*leasedListener
	for i := range a.ports {
		if h := a.ports[i].holder; h != nil && h.owner == owner {
			h.owner = 0
			owned = append(owned, h)
		}
	}
	a.mu.Unlock()
	for _, l := range owned {
		_ = l.Close() // the lib closes it again later: net.ErrClosed, which it ignores
	}
	return len(owned)
}

// learnLocked marks as suspect the candidates that the lib tried before
// the port that bound, unless a session leased them meanwhile. Several
// pending rounds may list the port (every round lists every free port)
// and their sessions may wrap in any order: the round it bound for is
// taken to be the one listing it earliest (the oldest on a tie), as each
// round puts first a port no other round is binding.
func (a *Allocator) learnLocked(bound int) {
	best, bestIdx := -1, 0
	for i, r := range a.pending {
		if idx := slices.Index(r.candidates, bound); idx >= 0 && (best < 0 || idx < bestIdx) {
			best, bestIdx = i, idx
		}
	}
	if best < 0 {
		return
	}
	a.markSuspectsLocked(a.pending[best].candidates[:bestIdx])
	a.pending = slices.Delete(a.pending, best, best+1)
}

// expirePendingLocked forgets old rounds; a round that never bound found
// none of its candidates free.
func (a *Allocator) expirePendingLocked(now time.Time) {
	kept := a.pending[:0]
	for _, r := range a.pending {
		if now.Sub(r.at) < pendingFor {
			kept = append(kept, r)
			continue
		}
		a.markSuspectsLocked(r.candidates)
	}
	a.pending = kept
}

func (a *Allocator) markSuspectsLocked(ports []int) {
	for _, p := range ports {
		if st := &a.ports[p-a.start]; st.leases == 0 {
			st.suspect = true
		}
	}
}

func (a *Allocator) release(port int, l *leasedListener) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &a.ports[port-a.start]
	if st.holder == l {
		st.holder = nil
	}
	if st.leases == 0 {
		return
	}
	if st.leases--; st.leases > 0 {
		return
	}
	st.released = a.now()
	a.inUse--
	a.dry = false
	a.signalLocked()
}

// leasedListener releases its port's lease once, when closed.
type leasedListener struct {
	net.Listener
	once    sync.Once
	release func()
	owner   uint64     // the session that announced it (see Claim); guarded by Allocator.mu
	client  netip.Addr // that session's client address, when reserved; guarded by Allocator.mu
}

func (l *leasedListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(l.release)
	return err
}
