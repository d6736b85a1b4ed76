package ticketbind

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/ipaddr"
)

// screenFixture is a data listener behind DataTLS.Screen whose every
// connection is owned by owner; the server side (a bindServer) wraps
// accepted conns with DataTLS.Config like ftpserverlib does.
type screenFixture struct {
	*bindServer
	mu      sync.Mutex
	refused []error
	byAddr  int
	foreign int
}

func startScreen(t *testing.T, f *bindFixture, owner Owner, peers map[uint64]Peer) *screenFixture {
	t.Helper()
	s := &screenFixture{}
	d := NewDataTLS(f.base, DataBinding{
		Resolve: func(c net.Conn) (Owner, bool) {
			o := owner
			o.Client = ipaddr.Of(c.RemoteAddr())
			if owner.Client.IsValid() {
				o.Client = owner.Client
			}
			return o, true
		},
		Peer: func(id uint64) (Peer, bool) {
			p, ok := peers[id]
			return p, ok
		},
		Required: true,
		Refused: func(_ net.Conn, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refused = append(s.refused, err)
		},
		AcceptedByAddress: func(net.Conn, Owner) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.byAddr++
		},
		Foreign: func(net.Conn, Owner) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.foreign++
		},
	})
	s.bindServer = serveBind(t, d.Screen(listen(t)), false, func(net.Conn) *tls.Config { return d.Config() })
	return s
}

func (s *screenFixture) refusals() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.refused...)
}

// dialData is a data client: it completes its handshake and reads what the
// server sends until the server closes. It returns the client's state, the
// bytes read and the error that ended the read (io.EOF for close_notify).
func (f *bindFixture) dialData(t *testing.T, addr string, cache tls.ClientSessionCache) (tls.ConnectionState, []byte, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, bindTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(bindTimeout))
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: f.roots, ClientSessionCache: cache, MinVersion: f.vers, MaxVersion: f.vers})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("data client handshake: %v (a refusal must complete the handshake)", err)
	}
	var got []byte
	buf := make([]byte, 16)
	for {
		n, err := tc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return tc.ConnectionState(), got, err
		}
		if len(got) > 0 {
			return tc.ConnectionState(), got, nil
		}
	}
}

// wantCleanRefusal checks the client side of a refusal: a complete
// handshake, nothing received, and a clean close_notify (never an alert).
func wantCleanRefusal(t *testing.T, s *screenFixture, got []byte, err error, sentinel error) {
	t.Helper()
	if len(got) != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("refused client read %q, %v; want nothing and a clean close_notify (io.EOF)", got, err)
	}
	r := s.next(t)
	if !errors.Is(r.err, sentinel) {
		t.Fatalf("server handshake error %v, want %v", r.err, sentinel)
	}
	refusals := s.refusals()
	if len(refusals) != 1 || !errors.Is(refusals[0], sentinel) {
		t.Fatalf("Refused calls %v, want one %v", refusals, sentinel)
	}
	var re *RefusalError
	if !errors.As(refusals[0], &re) {
		t.Fatalf("refusal %T is not a *RefusalError", refusals[0])
	}
}

func TestScreenResumedPasses(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		s := startScreen(t, f, Owner{ID: 7, User: "alice", RequireReuse: true, DataProtected: true}, nil)
		cache := tls.NewLRUClientSessionCache(4)
		f.handshakeControl(t, 7, cache)
		cs, got, err := f.dialData(t, s.addr, cache)
		if err != nil || string(got) != "!" || !cs.DidResume {
			t.Fatalf("resumed client: read %q, %v, resumed %v", got, err, cs.DidResume)
		}
		if r := s.next(t); r.err != nil || !r.state.DidResume {
			t.Fatalf("server: %v resumed %v", r.err, r.state.DidResume)
		}
		if n := len(s.refusals()); n != 0 {
			t.Fatalf("%d refusals", n)
		}
	})
}

func TestScreenRefusesCleanly(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		s := startScreen(t, f, Owner{ID: 7, User: "alice", RequireReuse: true, DataProtected: true}, nil)
		cache := tls.NewLRUClientSessionCache(4)
		_, got, err := f.dialData(t, s.addr, cache)
		wantCleanRefusal(t, s, got, err, ErrSessionNotReused)
		if err != nil && strings.Contains(err.Error(), "certificate") {
			t.Fatalf("client error %v looks like a certificate problem", err)
		}
		if _, ok := cache.Get("localhost"); ok {
			t.Fatal("a refused data connection gave the client a session ticket")
		}
	})
}

func TestScreenSameUserOtherControlConnection(t *testing.T) {
	client := netip.MustParseAddr("127.0.0.1")
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		for _, tc := range []struct {
			name   string
			peer   Peer
			accept bool
		}{
			{"same user and address", Peer{User: "alice", Client: client}, true},
			{"other user", Peer{User: "bob", Client: client}, false},
			{"other address", Peer{User: "alice", Client: netip.MustParseAddr("127.0.0.2")}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				owner := Owner{ID: 8, User: "alice", RequireReuse: true, DataProtected: true}
				s := startScreen(t, f, owner, map[uint64]Peer{7: tc.peer})
				cache := tls.NewLRUClientSessionCache(4)
				f.handshakeControl(t, 7, cache) // another control connection than the owner 8
				cs, got, err := f.dialData(t, s.addr, cache)
				if !tc.accept {
					wantCleanRefusal(t, s, got, err, ErrSessionNotReused)
					return
				}
				if err != nil || string(got) != "!" || !cs.DidResume {
					t.Fatalf("client: read %q, %v, resumed %v", got, err, cs.DidResume)
				}
				if r := s.next(t); r.err != nil {
					t.Fatalf("server: %v", r.err)
				}
			})
		}
	})
}

func TestScreenAfterCCCAcceptsByAddress(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		for _, strict := range []bool{false, true} {
			owner := Owner{ID: 7, User: "alice", RequireReuse: true, Cleared: true, RequireReuseAfterCCC: strict, DataProtected: true}
			s := startScreen(t, f, owner, nil)
			cs, got, err := f.dialData(t, s.addr, tls.NewLRUClientSessionCache(4))
			if strict {
				wantCleanRefusal(t, s, got, err, ErrSessionNotReused)
				continue
			}
			if err != nil || string(got) != "!" || cs.DidResume {
				t.Fatalf("after CCC: read %q, %v, resumed %v; want accepted without resumption", got, err, cs.DidResume)
			}
			if r := s.next(t); r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
			s.mu.Lock()
			byAddr := s.byAddr
			s.mu.Unlock()
			if byAddr != 1 {
				t.Fatalf("AcceptedByAddress called %d times, want 1", byAddr)
			}
		}
	})
}

func TestScreenOtherAddressClosed(t *testing.T) {
	f := newBindFixture(t, tls.VersionTLS13)
	owner := Owner{ID: 7, User: "alice", Client: netip.MustParseAddr("192.0.2.9"), RequireReuse: false, DataProtected: true}
	s := startScreen(t, f, owner, nil)
	c, err := net.DialTimeout("tcp", s.addr, bindTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(bindTimeout))
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: f.roots})
	if err := tc.Handshake(); err == nil {
		t.Fatal("a data connection from another address completed a handshake")
	}
	s.mu.Lock()
	foreign := s.foreign
	s.mu.Unlock()
	if foreign != 1 {
		t.Fatalf("Foreign called %d times, want 1", foreign)
	}
	select {
	case r := <-s.results:
		t.Fatalf("the listener handed a connection from another address to the server (%v)", r.err)
	default:
	}
}

// TestScreenPredictsVersion checks the screen's prediction against real
// tickets of each version: a session resumes only under the version it
// was made with (read from the ticket's mark), and the screen lets a
// connection through only when crypto/tls will resume.
func TestScreenPredictsVersion(t *testing.T) {
	f := newBindFixture(t, tls.VersionTLS12)
	tickets := map[uint16][]byte{}
	for _, v := range bindVersions {
		cache := &recordingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		(&bindFixture{base: f.base, roots: f.roots, vers: v.vers}).handshakeControl(t, 7, cache)
		puts := cache.stored()
		identity, _, err := puts[len(puts)-1].ResumptionState()
		if err != nil || len(identity) == 0 {
			t.Fatalf("%s: no ticket (%v)", v.name, err)
		}
		tickets[v.vers] = identity
	}
	t12, t13 := tickets[tls.VersionTLS12], tickets[tls.VersionTLS13]
	upTo12 := f.base.Clone()
	upTo12.MaxVersion = tls.VersionTLS12
	both := helloTickets{tls13: true, ticket12: t12, psk: [][]byte{t13}}
	for _, tc := range []struct {
		name  string
		base  *tls.Config
		owner uint64
		hello helloTickets
		want  bool
	}{
		{"TLS 1.3 ticket as a TLS 1.3 PSK", f.base, 7, helloTickets{tls13: true, psk: [][]byte{t13}}, true},
		{"TLS 1.2 ticket as a TLS 1.3 PSK", f.base, 7, helloTickets{tls13: true, psk: [][]byte{t12}}, false},
		{"TLS 1.2 ticket in a TLS 1.2 hello", f.base, 7, helloTickets{ticket12: t12}, true},
		{"TLS 1.3 ticket in a TLS 1.2 hello", f.base, 7, helloTickets{ticket12: t13}, false},
		{"both tickets, TLS 1.3 negotiated", f.base, 7, both, true},
		{"both tickets, server up to TLS 1.2", upTo12, 7, both, true},
		{"TLS 1.3 ticket, server up to TLS 1.2", upTo12, 7, helloTickets{tls13: true, ticket12: t13, psk: [][]byte{t13}}, false},
		{"another owner's ticket", f.base, 8, helloTickets{tls13: true, psk: [][]byte{t13}}, false},
	} {
		d := NewDataTLS(tc.base, DataBinding{})
		if got := d.resumes(Owner{ID: tc.owner}, tc.hello); got != tc.want {
			t.Errorf("%s: resumes = %v, want %v", tc.name, got, tc.want)
		}
	}
}
