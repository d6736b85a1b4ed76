package ticketbind

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"ftpsd/ipaddr"
	"ftpsd/tlsconf"
)

func TestDataResumesControlSession(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		dat, refused := f.data(t, ptr(7), true)
		cs, err := f.dialAfterControl(t, dat)
		wantAccepted(t, dat, cs, err, true)
		if cs.Version != f.vers {
			t.Fatalf("version %x, want %x", cs.Version, f.vers)
		}
		refused.check(t, 0)
	})
}

func TestDataRefusesOtherControlSession(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		dat, refused := f.data(t, ptr(8), true)
		_, err := f.dialAfterControl(t, dat)
		r := wantRefused(t, dat, err)
		refused.check(t, 1)
		if refused.conns[0] != r.conn {
			t.Error("Refused got another conn than the one given to tls.Server")
		}
		if f.vers == tls.VersionTLS12 {
			// TLS 1.2 runs VerifyConnection before issuing a ticket.
			wantBadCertificateAlert(t, err)
		}
	})
}

func TestDataRefusesFreshClient(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		dat, refused := f.data(t, ptr(7), true)
		cache := tls.NewLRUClientSessionCache(4)

		_, err := f.dial(dat.addr, cache, nil)
		wantRefused(t, dat, err)
		refused.check(t, 1)
		// A refused handshake must not hand out a ticket of the owner (in
		// TLS 1.3 tickets are sent before VerifyConnection runs): the
		// client could resume it on its next data connection.
		if _, ok := cache.Get("localhost"); ok {
			t.Fatal("a refused data connection gave the client a session ticket")
		}
		_, err = f.dial(dat.addr, cache, nil)
		wantRefused(t, dat, err)
		refused.check(t, 2)
	})
}

// wantBadCertificateAlert checks that the refusal came from
// VerifyConnection (which sends a bad_certificate alert) rather than from
// the data WrapSession (which ends the handshake without an alert).
func wantBadCertificateAlert(t *testing.T, clientErr error) {
	t.Helper()
	if clientErr == nil || !strings.Contains(clientErr.Error(), "bad certificate") {
		t.Errorf("client error %v, want a bad_certificate alert from VerifyConnection", clientErr)
	}
}

// With ClientAuth requested, TLS 1.3 sends tickets after the client's
// second flight, so the refusal comes from VerifyConnection rather than
// WrapSession (as it always does in TLS 1.2); resumption still works (no
// client certificate given).
func TestDataBindingWithClientAuthRequested(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		f.base = f.base.Clone()
		f.base.ClientAuth = tls.RequestClientCert
		good, goodRefused := f.data(t, ptr(7), true)
		bad, badRefused := f.data(t, ptr(8), true)

		cs, err := f.dialAfterControl(t, good)
		wantAccepted(t, good, cs, err, true)
		goodRefused.check(t, 0)

		_, err = f.dial(bad.addr, tls.NewLRUClientSessionCache(4), nil)
		r := wantRefused(t, bad, err)
		badRefused.check(t, 1)
		wantBadCertificateAlert(t, err)
		if !strings.Contains(r.err.Error(), "session 8,") {
			t.Errorf("error %q does not name the owner", r.err)
		}
	})
}

func TestDataNoOwner(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		t.Run("Required", func(t *testing.T) {
			dat, refused := f.data(t, nil, true)
			_, err := f.dialAfterControl(t, dat)
			r := wantRefused(t, dat, err)
			if !strings.Contains(r.err.Error(), "no control session for this data connection") {
				t.Errorf("error %q does not say there is no control session", r.err)
			}
			refused.check(t, 1)
		})
		t.Run("NotRequired", func(t *testing.T) {
			dat, refused := f.data(t, nil, false)
			cs, err := f.dial(dat.addr, tls.NewLRUClientSessionCache(4), nil)
			wantAccepted(t, dat, cs, err, false) // a fresh client
			refused.check(t, 0)
		})
	})
}

func TestDataNotRequiredOtherSession(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		dat, refused := f.data(t, ptr(8), false)
		cs, err := f.dialAfterControl(t, dat)
		wantAccepted(t, dat, cs, err, false) // not with another session's ticket
		refused.check(t, 0)
	})
}

// recordingCache remembers every session stored into it.
type recordingCache struct {
	tls.ClientSessionCache
	mu   sync.Mutex
	puts []*tls.ClientSessionState
}

func (c *recordingCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	c.puts = append(c.puts, cs)
	c.mu.Unlock()
	c.ClientSessionCache.Put(key, cs)
}

func (c *recordingCache) stored() []*tls.ClientSessionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tls.ClientSessionState(nil), c.puts...)
}

// only returns a new cache holding just cs.
func only(cs *tls.ClientSessionState) tls.ClientSessionCache {
	c := tls.NewLRUClientSessionCache(1)
	c.Put("localhost", cs)
	return c
}

func TestDataTicketResumedByNextDataConnection(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		dat, refused := f.data(t, ptr(7), true)
		other, otherRefused := f.data(t, ptr(8), true)
		cache := &recordingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}

		f.handshakeControl(t, 7, cache)
		before := len(cache.stored())
		cs, err := f.dial(dat.addr, cache, nil)
		wantAccepted(t, dat, cs, err, true)
		puts := cache.stored()
		if len(puts) <= before || puts[len(puts)-1] == nil {
			t.Fatalf("the data connection issued no ticket (puts %d -> %d)", before, len(puts))
		}
		dataTicket := puts[len(puts)-1]

		// Only the data connection's ticket: resumed by the owner's next
		// data connection...
		cs, err = f.dial(dat.addr, only(dataTicket), nil)
		wantAccepted(t, dat, cs, err, true)
		refused.check(t, 0)

		// ...and marked with the owner's id, so refused by another session.
		_, err = f.dial(other.addr, only(dataTicket), nil)
		wantRefused(t, other, err)
		otherRefused.check(t, 1)
	})
}

func TestDataBindingConcurrent(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		idOf := func(c net.Conn) (uint64, bool) {
			ic, ok := c.(*idConn)
			if !ok {
				return 0, false
			}
			return ic.id, true
		}
		ctl := startBindServer(t, true, func(c net.Conn) *tls.Config {
			id, _ := idOf(c)
			return ControlConfig(f.base, id)
		})
		refused := &refusals{}
		resolve := func(c net.Conn) (Owner, bool) {
			id, ok := idOf(c)
			return Owner{ID: id, Client: ipaddr.Of(c.RemoteAddr()), RequireReuse: true}, ok
		}
		dataCfg := DataConfig(f.base, DataBinding{Resolve: resolve, Required: true, Refused: refused.record})
		dat := startBindServer(t, true, func(net.Conn) *tls.Config { return dataCfg })

		const workers, pairs = 20, 3
		var wg sync.WaitGroup
		errs := make(chan error, workers*(pairs+1))
		for w := range workers {
			wg.Go(func() {
				// One client per worker: each new control connection
				// resumes the previous one's ticket and re-marks it.
				cache := tls.NewLRUClientSessionCache(4)
				for p := range pairs {
					id := uint64(1000*w + p)
					if _, err := f.dial(ctl.addr, cache, &id); err != nil {
						errs <- fmt.Errorf("worker %d control %d: %w", w, id, err)
						return
					}
					cs, err := f.dial(dat.addr, cache, &id)
					if err != nil {
						errs <- fmt.Errorf("worker %d data %d: %w", w, id, err)
						return
					}
					if !cs.DidResume {
						errs <- fmt.Errorf("worker %d data %d: not resumed", w, id)
					}
				}
				// A data connection claiming to belong to another
				// worker's session is refused (last: a failed TLS 1.2
				// resumption drops the client's ticket).
				wrong := uint64(1000*((w+1)%workers) + pairs - 1)
				if _, err := f.dial(dat.addr, cache, &wrong); err == nil {
					errs <- fmt.Errorf("worker %d: data connection for session %d was not refused", w, wrong)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		for range workers * pairs {
			if r := ctl.next(t); r.err != nil {
				t.Errorf("control server: %v", r.err)
			}
		}
		ok, bad := 0, 0
		for range workers * (pairs + 1) {
			r := dat.next(t)
			switch {
			case r.err == nil && r.state.DidResume:
				ok++
			case errors.Is(r.err, ErrSessionNotReused):
				bad++
			default:
				t.Errorf("data server: err=%v resumed=%v", r.err, r.state.DidResume)
			}
		}
		if ok != workers*pairs || bad != workers {
			t.Errorf("data handshakes: %d resumed, %d refused; want %d and %d", ok, bad, workers*pairs, workers)
		}
		refused.check(t, workers)
	})
}

func TestSessionMark(t *testing.T) {
	ss := &tls.SessionState{Extra: [][]byte{[]byte("other")}}
	if _, ok := markOf(ss); ok {
		t.Fatal("unmarked session has an owner")
	}
	setMark(ss, mark{owner: 7, version: tls.VersionTLS12})
	want := mark{owner: 1<<63 + 5, version: tls.VersionTLS13}
	setMark(ss, want) // replaces, never duplicates
	if len(ss.Extra) != 2 || string(ss.Extra[0]) != "other" {
		t.Fatalf("Extra = %q", ss.Extra)
	}
	if m, ok := markOf(ss); !ok || m != want {
		t.Fatalf("markOf = %+v, %v; want %+v", m, ok, want)
	}
	// Ambiguous or malformed records name no owner.
	ss.Extra = append(ss.Extra, mark{owner: 9}.record())
	if _, ok := markOf(ss); ok {
		t.Fatal("two marks name an owner")
	}
	ss.Extra = [][]byte{append(want.record(), 0)}
	if _, ok := markOf(ss); ok {
		t.Fatal("an overlong record names an owner")
	}
	ss.Extra = [][]byte{want.record()[:markLen-1]}
	if _, ok := markOf(ss); ok {
		t.Fatal("a short record names an owner")
	}
	// A record of the first format (an id and no version) is no mark.
	ss.Extra = [][]byte{binary.BigEndian.AppendUint64([]byte("ftpsd-ctl-v1:"), 7)}
	if _, ok := markOf(ss); ok {
		t.Fatal("a v1 record names an owner")
	}
}

// The data config keeps base's settings: a TLS 1.3-only base refuses a
// TLS 1.2 client on the data channel too.
func TestDataConfigKeepsBase(t *testing.T) {
	s, err := tlsconf.New(tlsconf.Options{SelfSigned: true, MinVersion: tls.VersionTLS13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.Leaf())
	f := &bindFixture{base: s.Config(), roots: roots, vers: tls.VersionTLS12}
	dat, _ := f.data(t, ptr(7), false)
	if _, err := f.dial(dat.addr, nil, nil); err == nil {
		t.Fatal("TLS 1.2 client accepted by a 1.3-only data config")
	}
	if r := dat.next(t); r.err == nil {
		t.Fatal("server accepted TLS 1.2")
	}
}

// base's own GetConfigForClient and VerifyConnection keep working: the
// configs they return get the marking hooks, and base's VerifyConnection
// still runs (first) on data handshakes.
func TestBindingChainsBaseHooks(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		plain := f.base
		var veto atomic.Bool
		vetoErr := errors.New("vetoed by base")
		inner := plain.Clone()
		inner.VerifyConnection = func(tls.ConnectionState) error {
			if veto.Load() {
				return vetoErr
			}
			return nil
		}
		var hooked atomic.Int32
		base := plain.Clone()
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			hooked.Add(1)
			return inner, nil
		}
		f.base = base
		dat, refused := f.data(t, ptr(7), true)

		cache := &recordingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		f.handshakeControl(t, 7, cache)
		ticket := cache.stored()[len(cache.stored())-1]
		cs, err := f.dial(dat.addr, only(ticket), nil)
		wantAccepted(t, dat, cs, err, true)
		if hooked.Load() != 2 {
			t.Fatalf("base GetConfigForClient called %d times, want 2", hooked.Load())
		}

		veto.Store(true)
		_, err = f.dial(dat.addr, only(ticket), nil)
		if err == nil {
			t.Fatal("client saw no error")
		}
		if r := dat.next(t); !errors.Is(r.err, vetoErr) {
			t.Fatalf("data server error %v, want base's veto", r.err)
		}
		refused.check(t, 0)
	})
}

// TestDataHandshakenOnResumption: crypto/tls runs the server's
// VerifyConnection on resumed handshakes too, so DataBinding.Handshaken
// (which ends the driver's connect deadline) is called for a data
// connection that resumed, whether an owner was found (the binding's
// VerifyConnection) or not (any ticket of base's keys resumes).
func TestDataHandshakenOnResumption(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		var handshaken atomic.Int32
		for _, owned := range []bool{true, false} {
			handshaken.Store(0)
			cfg := DataConfig(f.base, DataBinding{
				Resolve: func(c net.Conn) (Owner, bool) {
					return Owner{ID: 7, Client: ipaddr.Of(c.RemoteAddr()), RequireReuse: true}, owned
				},
				Handshaken: func(net.Conn) { handshaken.Add(1) },
			})
			srv := startBindServer(t, false, func(net.Conn) *tls.Config { return cfg })
			cs, err := f.dialAfterControl(t, srv)
			wantAccepted(t, srv, cs, err, true)
			if n := handshaken.Load(); n != 1 {
				t.Fatalf("owned=%v: Handshaken called %d times on a resumed handshake, want 1", owned, n)
			}
		}
	})
}
