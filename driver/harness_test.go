package driver_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/internal/testenv"
	"ftpsd/tlsconf"
)

// Test accounts of every test server.
const (
	userName     = "alice"
	userPass     = "alice-secret"
	readerName   = "reader"
	readerPass   = "reader-secret"
	readerHome   = "shared"
	aliceHomeDir = "alice"
)

// testServer is an ftpsd server running in-process on 127.0.0.1 with a
// temporary storage root.
type testServer struct {
	Addr     string // explicit FTPS host:port
	Implicit string // implicit FTPS host:port
	Root     string // storage root
	Cfg      config.Config
	Logs     *observer.ObservedLogs
	TLS      *tlsconf.Store
}

// AliceDir is alice's home on disk.
func (s *testServer) AliceDir() string { return filepath.Join(s.Root, aliceHomeDir) }

// ReaderDir is the read-only user's home on disk.
func (s *testServer) ReaderDir() string { return filepath.Join(s.Root, readerHome) }

func mustHash(t testing.TB, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// testConfig returns a valid configuration on loopback ports chosen by the
// kernel, with a free passive range.
func testConfig(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.ImplicitListen = "127.0.0.1:0"
	cfg.Passive.Ports = freePortRange(t, 20)
	cfg.Storage.Root = t.TempDir()
	cfg.Server.MaxConnectionsPerIP = 0 // every test client comes from 127.0.0.1
	cfg.Users = []config.User{
		{Name: userName, PasswordHash: mustHash(t, userPass), Home: aliceHomeDir},
		{Name: readerName, PasswordHash: mustHash(t, readerPass), Home: readerHome, ReadOnly: true},
	}
	return cfg
}

// startServer starts a server with testConfig changed by edit (may be nil)
// and stops it when the test ends.
func startServer(t testing.TB, edit func(*config.Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	testOutput := &gatedCore{Core: zaptest.NewLogger(t).Core(), on: new(atomic.Bool)}
	testOutput.on.Store(true)
	logger := zap.New(zapcore.NewTee(core, testOutput))
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true, MinVersion: cfg.TLS.MinVersion.ID()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := driver.NewServer(cfg, store.Config(), logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		defer testOutput.on.Store(false) // the lib may still log after its sessions ended
		srv.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
		// The test's clients are closed by now (cleanups run last first):
		// every session must end by itself.
		deadline := time.Now().Add(10 * time.Second)
		for srv.Sessions() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := srv.Sessions(); n > 0 {
			t.Errorf("%d sessions still open 10s after the test's clients closed", n)
		}
	})
	ts := &testServer{Addr: srv.Addr().String(), Root: cfg.Storage.Root, Cfg: cfg, Logs: logs, TLS: store}
	if a := srv.ImplicitAddr(); a != nil {
		ts.Implicit = a.String()
	}
	return ts
}

// freePortRange finds n consecutive ports that are free on 127.0.0.1 now.
func freePortRange(t testing.TB, n int) config.PortRange {
	t.Helper()
	// Below the kernel's ephemeral range (32768-60999), where the tests'
	// own client sockets could take passive ports.
	const low, high = 20000, 32768
	slots := (high - low) / n
	first := os.Getpid() + int(time.Now().UnixNano()/1e6)
	for i := range slots {
		start := low + ((first+i)%slots)*n
		if rangeFree(start, n) {
			return config.PortsOf(start, start+n-1)
		}
	}
	t.Fatal("no free passive port range")
	return config.PortRange{}
}

func rangeFree(start, n int) bool {
	for p := start; p < start+n; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// clientTLS is the TLS config of one test client (self-signed server). A
// client uses the same config for its control and data connections: the
// fixed ServerName makes them share a session-cache entry, so that data
// connections resume the control connection's session.
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
		ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// gatedCore passes log entries to the test output only while on, since a
// line logged through zaptest after the test ended panics the test binary.
type gatedCore struct {
	zapcore.Core
	on *atomic.Bool
}

func (g *gatedCore) With(fields []zapcore.Field) zapcore.Core {
	return &gatedCore{Core: g.Core.With(fields), on: g.on}
}

func (g *gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !g.on.Load() {
		return ce
	}
	return g.Core.Check(e, ce)
}

// needTool is testenv.NeedTool.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	return testenv.NeedTool(t, name, pkg)
}
