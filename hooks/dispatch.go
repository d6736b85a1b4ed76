package hooks

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
)

// Results of a delivery, the label values of the deliveries metric.
const (
	ResultDelivered = "delivered" // the hook has the event
	ResultRetry     = "retry"     // a try failed; the event is tried again later
	ResultGivenUp   = "given_up"  // events.max_attempts tries failed
	ResultRejected  = "rejected"  // the receiver refused it for good (a 4xx)
	// ResultDroppedSpoolFull and ResultSpoolFailed count events, not
	// deliveries: the oldest event dropped from a full spool, and an event
	// that could not be written to the spool.
	ResultDroppedSpoolFull = "dropped_spool_full"
	ResultSpoolFailed      = "spool_failed"
)

// Results returns every result, for metrics to show them from the start.
func Results() []string {
	return []string{ResultDelivered, ResultRetry, ResultGivenUp, ResultRejected, ResultDroppedSpoolFull, ResultSpoolFailed}
}

// Metrics receives the dispatcher's figures; *metrics.Metrics is one.
type Metrics interface {
	HookDelivery(result string)
	HookSpoolDepth(n int)
}

// Options configure a Dispatcher.
type Options struct {
	Events config.Events
	Hooks  []config.Hook
	// Logger may be nil (no logs).
	Logger *zap.Logger
	// Metrics may be nil.
	Metrics Metrics
	// Env is the environment of commands besides the FTPSD_* variables,
	// e.g. "PATH=/usr/bin:/bin": the server's own environment, which may
	// hold the store's credentials, is not passed on.
	Env []string
}

// Dispatcher delivers the server's events to the [[hooks]] that want
// them, at least once: Emit writes an event to the spool and returns;
// deliveries run on their own goroutines, at most events.max_running at
// once, and are tried again with backoff until the hook has the event.
// It implements Sink.
type Dispatcher struct {
	logger  *zap.Logger
	metrics Metrics
	opts    config.Events
	spool   *spool // nil when events.spool_dir is empty: no hooks then
	ae      actionEnv

	wake chan struct{} // pokes the scheduler; buffered, one pending poke
	// cancelLoop stops scheduling; cancelRuns kills the deliveries
	// running (Close).
	cancelLoop, cancelRuns context.CancelFunc
	loopDone               chan struct{}
	runs                   sync.WaitGroup
	closeOnce              sync.Once

	mu      sync.Mutex
	hooks   []*hook
	byID    map[string]*hook
	nextSeq uint64
	entries map[uint64]*entry
	count   int // entries plus events being written
	queue   pairQueue
	running int
	started bool
	runCtx  context.Context // the deliveries' context, once started
}

// entry is an event in the spool and the hooks still to have it.
type entry struct {
	seq  uint64
	msg  *message // what the actions get
	rec  record   // guarded by Dispatcher.mu
	hook map[string]*pair
	// dropped is set (under Dispatcher.mu) when the spool's bound dropped
	// the entry: its deliveries are forgotten.
	dropped bool
	// file serialises the writes and the removal of the entry's file;
	// taken before Dispatcher.mu, never while holding it.
	file sync.Mutex
}

// pairState is where one (event, hook) delivery stands.
type pairState int

const (
	waiting pairState = iota // in the queue, until due
	running                  // an action has it now
	orphan                   // its hook is no longer configured
)

// pair is the delivery of one event to one hook.
type pair struct {
	e        *entry
	hookID   string
	attempts int
	due      time.Time
	state    pairState
	index    int // in the queue, while waiting
}

// New opens the spool (events.spool_dir) and reads the events left there
// by an earlier run; they are delivered once Start is called. Emit may be
// called before Start: events wait in the spool.
func New(o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	d := &Dispatcher{
		logger:  o.Logger,
		metrics: o.Metrics,
		opts:    o.Events,
		wake:    make(chan struct{}, 1),
		byID:    map[string]*hook{},
		entries: map[uint64]*entry{},
		ae:      actionEnv{env: o.Env, client: newClient(), logger: o.Logger},
	}
	if d.metrics == nil {
		d.metrics = noMetrics{}
	}
	hooks, err := buildHooks(o.Hooks, d.ae)
	if err != nil {
		return nil, err
	}
	d.setHooks(hooks)
	if o.Events.SpoolDir == "" {
		if len(hooks) > 0 {
			return nil, errors.New("events.spool_dir: required when [[hooks]] are configured")
		}
		return d, nil
	}
	if d.spool, err = openSpool(o.Events.SpoolDir); err != nil {
		return nil, err
	}
	if err := d.load(); err != nil {
		_ = d.spool.close()
		return nil, err
	}
	return d, nil
}

// load takes in the events an earlier run left in the spool.
func (d *Dispatcher) load() error {
	events, bad, err := d.spool.load()
	if err != nil {
		return err
	}
	for _, b := range bad {
		d.logger.Error("spooled event unreadable; set aside", zap.Error(b))
	}
	for _, s := range events {
		msg, err := newMessage(s.rec)
		if err != nil {
			return fmt.Errorf("spooled event %d: %w", s.seq, err)
		}
		e := &entry{seq: s.seq, msg: msg, rec: s.rec, hook: map[string]*pair{}}
		for _, id := range s.rec.Hooks {
			if !slices.Contains(s.rec.Done, id) {
				e.hook[id] = &pair{e: e, hookID: id, index: -1}
			}
		}
		d.nextSeq = max(d.nextSeq, s.seq+1)
		if len(e.hook) == 0 { // all done; the removal was cut short
			_ = d.spool.remove(s.seq)
			continue
		}
		d.entries[s.seq] = e
		d.count++
	}
	for d.count > d.opts.SpoolMaxEvents {
		d.removeFile(d.dropOldest())
	}
	orphans := 0
	for _, e := range d.entries {
		orphans += d.schedule(e, time.Now())
	}
	d.metrics.HookSpoolDepth(len(d.entries))
	if len(d.entries) > 0 {
		d.logger.Info("events left in the spool will be delivered", zap.Int("events", len(d.entries)), zap.String("spool_dir", d.spool.dir))
	}
	d.warnOrphans(orphans)
	return nil
}

// setHooks installs a hook list. Callers hold mu, or own d alone.
func (d *Dispatcher) setHooks(hooks []*hook) {
	d.hooks = hooks
	d.byID = map[string]*hook{}
	for _, h := range hooks {
		if _, dup := d.byID[h.id]; !dup { // the same action twice gets an event once
			d.byID[h.id] = h
		}
	}
}

// schedule queues e's deliveries that wait for nothing, due at due; it
// returns how many are orphans (their hook is not configured). Callers
// hold mu.
func (d *Dispatcher) schedule(e *entry, due time.Time) (orphans int) {
	for id, p := range e.hook {
		if p.state == running || p.index >= 0 {
			continue
		}
		if d.byID[id] == nil {
			p.state = orphan
			orphans++
			continue
		}
		p.state, p.due = waiting, due
		heap.Push(&d.queue, p)
	}
	return orphans
}

// warnOrphans says that events wait for hooks no longer configured.
func (d *Dispatcher) warnOrphans(n int) {
	if n > 0 {
		d.logger.Warn("spooled events wait for hooks no longer configured", zap.Int("deliveries", n),
			zap.String("hint", "they are delivered if the hook is configured again, else dropped when the spool is full"))
	}
}

// Wants reports whether a hook wants e, as hooks are now (see Filter).
func (d *Dispatcher) Wants(e Event) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.spool == nil {
		return false
	}
	return slices.ContainsFunc(d.hooks, func(h *hook) bool { return h.wants(e) })
}

// Emit writes e to the spool for the hooks that want it and returns
// without waiting for delivery: once Emit returned, the event is on disk.
func (d *Dispatcher) Emit(e Event) {
	d.mu.Lock()
	var ids []string
	for _, h := range d.hooks {
		if h.wants(e) && !slices.Contains(ids, h.id) {
			ids = append(ids, h.id)
		}
	}
	if len(ids) == 0 || d.spool == nil {
		d.mu.Unlock()
		return
	}
	seq := d.nextSeq
	d.nextSeq++
	d.count++
	var victim *entry
	if d.count > d.opts.SpoolMaxEvents {
		victim = d.dropOldest()
	}
	d.mu.Unlock()
	if victim != nil {
		d.removeDropped(victim)
	}

	rec := record{ID: newEventID(), Event: e, Hooks: ids}
	msg, err := newMessage(rec)
	if err == nil {
		err = d.spool.write(seq, &rec)
	}
	if err != nil {
		d.mu.Lock()
		d.count--
		d.mu.Unlock()
		d.metrics.HookDelivery(ResultSpoolFailed)
		d.logger.Error("event not spooled; its hooks will not have it", zap.String("event", e.Kind), zap.String("user", e.User),
			zap.String("path", e.Path), zap.Error(err))
		return
	}
	ent := &entry{seq: seq, msg: msg, rec: rec, hook: map[string]*pair{}}
	for _, id := range ids {
		ent.hook[id] = &pair{e: ent, hookID: id, index: -1}
	}
	d.mu.Lock()
	d.entries[seq] = ent
	orphans := d.schedule(ent, time.Now()) // a reload may have come in between
	depth := len(d.entries)
	d.mu.Unlock()
	d.metrics.HookSpoolDepth(depth)
	d.warnOrphans(orphans)
	d.poke()
}

// dropOldest drops the oldest entry of the spool from memory and returns
// it (nil when every event is still being written); the caller removes
// its file with removeDropped. Callers hold mu, or own d alone.
func (d *Dispatcher) dropOldest() *entry {
	var oldest *entry
	for _, e := range d.entries {
		if oldest == nil || e.seq < oldest.seq {
			oldest = e
		}
	}
	if oldest == nil {
		return nil
	}
	oldest.dropped = true
	for _, p := range oldest.hook {
		if p.index >= 0 {
			heap.Remove(&d.queue, p.index)
		}
	}
	delete(d.entries, oldest.seq)
	d.count--
	return oldest
}

// removeDropped removes the file of an entry the spool's bound dropped.
func (d *Dispatcher) removeDropped(e *entry) {
	e.file.Lock()
	d.removeFile(e)
	e.file.Unlock()
}

func (d *Dispatcher) removeFile(e *entry) {
	if err := d.spool.remove(e.seq); err != nil {
		d.logger.Error("spool file not removed", zap.Error(err))
	}
	d.metrics.HookDelivery(ResultDroppedSpoolFull)
	d.logger.Warn("spool full: oldest event dropped", zap.String("event_id", e.rec.ID), zap.String("event", e.rec.Event.Kind),
		zap.String("user", e.rec.Event.User), zap.String("path", e.rec.Event.Path), zap.Int("spool_max_events", d.opts.SpoolMaxEvents))
}

// Enabled reports whether d has a spool (events.spool_dir). Without one
// no hook can be configured, not even by a reload, and Emit drops every
// event: the server need not emit (nor hash what it transfers).
func (d *Dispatcher) Enabled() bool { return d.spool != nil }

// Depth returns the number of events in the spool.
func (d *Dispatcher) Depth() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// poke wakes the scheduler.
func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start delivers the events of the spool, and those emitted from now on,
// until ctx ends or Close is called.
func (d *Dispatcher) Start(ctx context.Context) {
	runCtx, cancelRuns := context.WithCancel(ctx)
	loopCtx, cancelLoop := context.WithCancel(runCtx)
	d.mu.Lock()
	d.started, d.runCtx = true, runCtx
	d.mu.Unlock()
	d.cancelLoop, d.cancelRuns = cancelLoop, cancelRuns
	d.loopDone = make(chan struct{})
	go func() {
		defer close(d.loopDone)
		d.loop(loopCtx)
	}()
}

// Close stops delivering: no delivery starts any more, the running ones
// may finish until ctx ends, then they are cut (a command is killed).
// What was not delivered stays in the spool for the next start, which
// Close lets another Dispatcher open. An event emitted after Close is
// still written to the spool.
func (d *Dispatcher) Close(ctx context.Context) {
	d.closeOnce.Do(func() {
		d.drain(ctx)
		if d.spool != nil {
			_ = d.spool.close()
		}
	})
}

// drain stops the scheduler and waits for the deliveries running.
func (d *Dispatcher) drain(ctx context.Context) {
	if d.cancelLoop == nil {
		return // never started
	}
	d.cancelLoop()
	<-d.loopDone
	done := make(chan struct{})
	go func() {
		d.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	d.cancelRuns()
	<-done
}

// loop starts the deliveries that are due, at most events.max_running at
// once, until ctx ends.
func (d *Dispatcher) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		for d.running < d.opts.MaxRunning && d.queue.Len() > 0 && !d.queue[0].due.After(now) {
			p := heap.Pop(&d.queue).(*pair)
			h := d.byID[p.hookID]
			if h == nil {
				p.state = orphan
				continue
			}
			if h.heldUntil.After(now) { // the hook failed lately: its events wait for its next try
				p.due = h.heldUntil
				heap.Push(&d.queue, p)
				continue
			}
			p.state = running
			d.running++
			d.runs.Add(1)
			go d.run(p, h)
		}
		wait := time.Hour
		if d.running < d.opts.MaxRunning && d.queue.Len() > 0 {
			wait = d.queue[0].due.Sub(now)
		}
		d.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// run makes one try of delivering p with h's action, and records its
// result.
func (d *Dispatcher) run(p *pair, h *hook) {
	defer d.runs.Done()
	d.mu.Lock()
	runCtx := d.runCtx
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(runCtx, h.timeout)
	start := time.Now()
	err := h.act.deliver(ctx, p.e.msg)
	cancel()
	d.finish(runCtx, p, h, err, time.Since(start))
}

// finish records the result of a try. The entry's file lock is held
// across it, so that the file's writes and its removal keep their order.
func (d *Dispatcher) finish(runCtx context.Context, p *pair, h *hook, err error, took time.Duration) {
	e := p.e
	e.file.Lock()
	defer e.file.Unlock()
	d.mu.Lock()
	d.running--
	d.poke()
	if e.dropped {
		d.mu.Unlock()
		return
	}
	if err != nil && runCtx.Err() != nil { // Close cut it: the next start tries again
		p.state = waiting
		d.mu.Unlock()
		return
	}
	p.attempts++
	attempt := p.attempts
	result := ResultDelivered
	switch {
	case err == nil:
	case errors.Is(err, errPermanent):
		result = ResultRejected
	case d.opts.MaxAttempts > 0 && p.attempts >= d.opts.MaxAttempts:
		result = ResultGivenUp
	default:
		result = ResultRetry
	}
	now := time.Now()
	switch {
	case err == nil || result == ResultRejected: // the hook answers
		h.failures, h.heldUntil = 0, time.Time{}
	case !h.heldUntil.After(now): // its first failure since it was last free
		h.failures++
		h.heldUntil = now.Add(d.retryDelay(h.failures, err))
	}
	var retryIn time.Duration
	var snapshot *record
	finished := false
	if result == ResultRetry {
		retryIn = max(d.retryDelay(p.attempts, err), h.heldUntil.Sub(now))
		p.state, p.due = waiting, now.Add(retryIn)
		heap.Push(&d.queue, p)
	} else {
		delete(e.hook, p.hookID)
		e.rec.Done = append(e.rec.Done, p.hookID)
		if finished = len(e.hook) == 0; finished {
			delete(d.entries, e.seq)
			d.count--
		} else {
			r := e.rec
			r.Done = slices.Clone(e.rec.Done)
			snapshot = &r
		}
	}
	depth := len(d.entries)
	d.mu.Unlock()

	d.metrics.HookDelivery(result)
	d.metrics.HookSpoolDepth(depth)
	d.logResult(result, e, attempt, h, err, took, retryIn)
	var ferr error
	switch {
	case finished:
		ferr = d.spool.remove(e.seq)
	case snapshot != nil:
		ferr = d.spool.write(e.seq, snapshot)
	}
	if ferr != nil { // the event may be delivered again after a restart
		d.logger.Error("spool not updated after a delivery", zap.String("event_id", e.rec.ID), zap.Error(ferr))
	}
}

// logResult writes the one line of a try.
func (d *Dispatcher) logResult(result string, e *entry, attempt int, h *hook, err error, took, retryIn time.Duration) {
	fields := []zap.Field{zap.String("hook", h.id), zap.String("action", h.name), zap.String("event_id", e.msg.ID),
		zap.String("event", e.msg.Kind), zap.String("user", e.msg.User), zap.Int("attempt", attempt),
		zap.Duration("took", took)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	switch result {
	case ResultDelivered:
		d.logger.Info("hook delivered", fields...)
	case ResultRetry:
		d.logger.Warn("hook delivery failed; trying again", append(fields, zap.Duration("retry_in", retryIn))...)
	case ResultGivenUp:
		d.logger.Error("hook delivery given up", append(fields, zap.Int("max_attempts", d.opts.MaxAttempts))...)
	case ResultRejected:
		d.logger.Error("hook delivery refused; not tried again", fields...)
	}
}

// retryDelay returns the wait after the n-th failed try that ended with
// err: the backoff, or the receiver's Retry-After within the bounds.
func (d *Dispatcher) retryDelay(n int, err error) time.Duration {
	w := d.backoff(n)
	if later := (*laterError)(nil); errors.As(err, &later) {
		w = min(max(w, later.after), d.opts.RetryMaxDelay.Std())
	}
	return w
}

// backoff returns the wait after the n-th failed try: retry_min_delay
// doubled n-1 times, at most retry_max_delay, drawn between its half and
// itself.
func (d *Dispatcher) backoff(n int) time.Duration {
	lo, hi := d.opts.RetryMinDelay.Std(), d.opts.RetryMaxDelay.Std()
	w := lo
	for i := 1; i < n && w < hi; i++ {
		w *= 2
	}
	w = min(w, hi)
	return w/2 + mrand.N(w/2+1)
}

// PrepareReload builds the hooks of a new configuration, reading the
// webhooks' secret files again, without changing what d does; commit
// installs them and cannot fail. The [events] keys need a restart.
func (d *Dispatcher) PrepareReload(hooks []config.Hook) (commit func(), err error) {
	if len(hooks) > 0 && d.spool == nil {
		return nil, errors.New("events.spool_dir: the server started without a spool; [[hooks]] need a restart")
	}
	built, err := buildHooks(hooks, d.ae)
	if err != nil {
		return nil, err
	}
	return func() {
		d.mu.Lock()
		d.setHooks(built)
		orphans := 0
		for _, e := range d.entries {
			for id, p := range e.hook {
				if p.index >= 0 && d.byID[id] == nil {
					heap.Remove(&d.queue, p.index)
				}
			}
			orphans += d.schedule(e, time.Now())
		}
		d.mu.Unlock()
		d.warnOrphans(orphans)
		d.poke()
	}, nil
}

// message is what an action gets: the event and its id, and the JSON of
// both.
type message struct {
	ID string `json:"id"`
	Event
	body []byte
}

// newMessage makes the message of a spooled event.
func newMessage(r record) (*message, error) {
	m := &message{ID: r.ID, Event: r.Event}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	m.body = body
	return m, nil
}

// newEventID returns a random id of 128 bits in hex.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pairQueue is a heap of waiting deliveries, the earliest due first, then
// the oldest event.
type pairQueue []*pair

func (q pairQueue) Len() int { return len(q) }
func (q pairQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].e.seq < q[j].e.seq
}
func (q pairQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *pairQueue) Push(x any) {
	p := x.(*pair)
	p.index = len(*q)
	*q = append(*q, p)
}
func (q *pairQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.index = -1
	*q = old[:len(old)-1]
	return p
}

// noMetrics discards the figures when no Metrics is given.
type noMetrics struct{}

func (noMetrics) HookDelivery(string) {}
func (noMetrics) HookSpoolDepth(int)  {}

// newClient returns the webhooks' HTTP client: no redirect followed (a
// 3xx is a failure to try again), no proxy from the environment.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 0, // the hook's timeout bounds the whole request
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
