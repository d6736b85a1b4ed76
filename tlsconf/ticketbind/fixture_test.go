package ticketbind

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/ipaddr"
	"ftpsd/tlsconf"
)

// Fixtures shared by the tests of this package: TLS servers and clients
// of the control and data bindings.

var bindVersions = []struct {
	name string
	vers uint16
}{
	{"TLS1.2", tls.VersionTLS12},
	{"TLS1.3", tls.VersionTLS13},
}

const bindTimeout = 10 * time.Second

// bindFixture is a self-signed tlsconf.Store's config (the real server base)
// and a client root pool that trusts it.
type bindFixture struct {
	base  *tls.Config
	roots *x509.CertPool
	vers  uint16
}

func newBindFixture(t testing.TB, vers uint16) *bindFixture {
	t.Helper()
	return newBindFixtureWith(t, vers, tlsconf.Options{SelfSigned: true})
}

// newBindFixtureWith is newBindFixture for a store made with opts.
func newBindFixtureWith(t testing.TB, vers uint16, opts tlsconf.Options) *bindFixture {
	t.Helper()
	s, err := tlsconf.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.Leaf())
	return &bindFixture{base: s.Config(), roots: roots, vers: vers}
}

// eachVersion runs test as a subtest for each of bindVersions, with a new
// fixture of that version.
func eachVersion(t *testing.T, test func(t *testing.T, f *bindFixture)) {
	for _, v := range bindVersions {
		t.Run(v.name, func(t *testing.T) { test(t, newBindFixture(t, v.vers)) })
	}
}

// bindResult is the server side of one handshake.
type bindResult struct {
	conn  net.Conn // as given to tls.Server
	state tls.ConnectionState
	err   error
}

// idConn is a server-side connection whose client announced its control id
// in an 8-byte cleartext prefix, standing in for an FTP server's mapping of
// passive ports to sessions.
type idConn struct {
	net.Conn
	id uint64
}

// bindServer accepts connections, handshakes each with cfgFor(conn),
// writes one byte on success (so that a TLS 1.3 client receives its
// ticket) and reports every handshake on results.
type bindServer struct {
	addr    string
	results chan bindResult
}

// startBindServer starts a bindServer on 127.0.0.1 (see serveBind).
func startBindServer(t *testing.T, prefixed bool, cfgFor func(net.Conn) *tls.Config) *bindServer {
	t.Helper()
	return serveBind(t, listen(t), prefixed, cfgFor)
}

// listen listens on a free port of 127.0.0.1.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serveBind serves ln as a bindServer until the test ends; with prefixed,
// each connection first reads an 8-byte big-endian id and is wrapped in an
// idConn.
func serveBind(t *testing.T, ln net.Listener, prefixed bool, cfgFor func(net.Conn) *tls.Config) *bindServer {
	s := &bindServer{addr: ln.Addr().String(), results: make(chan bindResult, 1024)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.handle(c, prefixed, cfgFor) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *bindServer) handle(c net.Conn, prefixed bool, cfgFor func(net.Conn) *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(bindTimeout))
	if prefixed {
		var b [8]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			s.results <- bindResult{conn: c, err: fmt.Errorf("read id prefix: %w", err)}
			return
		}
		c = &idConn{Conn: c, id: binary.BigEndian.Uint64(b[:])}
	}
	tc := tls.Server(c, cfgFor(c))
	err := tc.Handshake()
	s.results <- bindResult{conn: c, state: tc.ConnectionState(), err: err}
	if err != nil {
		return
	}
	if _, err := tc.Write([]byte{'!'}); err != nil {
		return
	}
	io.Copy(io.Discard, tc) // until the client closes
}

// next returns the next handshake result.
func (s *bindServer) next(t *testing.T) bindResult {
	t.Helper()
	r, ok := ftptest.Receive(s.results, bindTimeout)
	if !ok {
		t.Fatal("timed out waiting for a server handshake")
	}
	return r
}

// dial connects to addr as a client of f's versions, resuming from (and
// storing into) cache, optionally sending an id prefix. It reads the
// server's byte, so a TLS 1.3 ticket is stored and a TLS 1.3 refusal (sent
// after the client's side of the handshake is complete) is seen. The error
// is that of the handshake or of the read.
func (f *bindFixture) dial(addr string, cache tls.ClientSessionCache, prefix *uint64) (tls.ConnectionState, error) {
	c, err := net.DialTimeout("tcp", addr, bindTimeout)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bindTimeout))
	if prefix != nil {
		if _, err := c.Write(binary.BigEndian.AppendUint64(nil, *prefix)); err != nil {
			return tls.ConnectionState{}, err
		}
	}
	tc := tls.Client(c, &tls.Config{
		ServerName:         "localhost",
		RootCAs:            f.roots,
		ClientSessionCache: cache,
		MinVersion:         f.vers,
		MaxVersion:         f.vers,
	})
	if err := tc.Handshake(); err != nil {
		return tc.ConnectionState(), fmt.Errorf("handshake: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(tc, b[:]); err != nil {
		return tc.ConnectionState(), fmt.Errorf("read: %w", err)
	}
	return tc.ConnectionState(), nil
}

// refusals records DataBinding.Refused calls.
type refusals struct {
	mu    sync.Mutex
	conns []net.Conn
	errs  []error
}

func (r *refusals) record(conn net.Conn, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, conn)
	r.errs = append(r.errs, err)
}

// check asserts n calls, each with a conn and an error wrapping ErrSessionNotReused.
func (r *refusals) check(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) != n {
		t.Fatalf("Refused called %d times (%v), want %d", len(r.errs), r.errs, n)
	}
	for i, err := range r.errs {
		if r.conns[i] == nil {
			t.Errorf("Refused call %d: nil conn", i)
		}
		if !errors.Is(err, ErrSessionNotReused) {
			t.Errorf("Refused call %d: %v does not wrap ErrSessionNotReused", i, err)
		}
	}
}

// data starts a data server whose binding resolves every connection to id
// (or to none when id is nil).
func (f *bindFixture) data(t *testing.T, id *uint64, required bool) (*bindServer, *refusals) {
	t.Helper()
	r := &refusals{}
	cfg := DataConfig(f.base, DataBinding{
		Resolve: func(c net.Conn) (Owner, bool) {
			if id == nil {
				return Owner{}, false
			}
			return Owner{ID: *id, Client: ipaddr.Of(c.RemoteAddr()), RequireReuse: required}, true
		},
		Required: required,
		Refused:  r.record,
	})
	return startBindServer(t, false, func(net.Conn) *tls.Config { return cfg }), r
}

func ptr(id uint64) *uint64 { return &id }

// handshakeControl starts a control server for id, does a handshake with
// cache through it and checks that the client stored a ticket.
func (f *bindFixture) handshakeControl(t *testing.T, id uint64, cache tls.ClientSessionCache) {
	t.Helper()
	ctl := startBindServer(t, false, func(net.Conn) *tls.Config { return ControlConfig(f.base, id) })
	if _, err := f.dial(ctl.addr, cache, nil); err != nil {
		t.Fatalf("control client: %v", err)
	}
	if r := ctl.next(t); r.err != nil {
		t.Fatalf("control server: %v", r.err)
	}
	if _, ok := cache.Get("localhost"); !ok {
		t.Fatal("client stored no ticket from the control connection")
	}
}

// dialAfterControl dials srv with a new cache holding the ticket of a
// control handshake for session 7.
func (f *bindFixture) dialAfterControl(t *testing.T, srv *bindServer) (tls.ConnectionState, error) {
	t.Helper()
	cache := tls.NewLRUClientSessionCache(4)
	f.handshakeControl(t, 7, cache)
	return f.dial(srv.addr, cache, nil)
}

// wantAccepted checks a data handshake that must succeed, and resume on
// both sides or on neither as resumed says.
func wantAccepted(t *testing.T, srv *bindServer, cs tls.ConnectionState, err error, resumed bool) {
	t.Helper()
	if err != nil {
		t.Fatalf("data client: %v", err)
	}
	r := srv.next(t)
	if r.err != nil {
		t.Fatalf("data server: %v", r.err)
	}
	if cs.DidResume != resumed || r.state.DidResume != resumed {
		t.Fatalf("DidResume client=%v server=%v, want %v", cs.DidResume, r.state.DidResume, resumed)
	}
}

// wantRefused checks a data handshake that the server must refuse.
func wantRefused(t *testing.T, srv *bindServer, clientErr error) bindResult {
	t.Helper()
	r := srv.next(t)
	if !errors.Is(r.err, ErrSessionNotReused) {
		t.Fatalf("data server error %v, want ErrSessionNotReused", r.err)
	}
	if clientErr == nil {
		t.Fatal("data client saw no error on a refused connection")
	}
	return r
}
