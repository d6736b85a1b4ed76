package driver_test

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/testenv"
	"ftpsd/metrics"
	"ftpsd/tlsconf"
)

// The end-to-end tests run an ftpsd server in-process (startServer) and
// drive it with ftptest's raw client, the jlaffaye/ftp Go client and real
// FTPS clients (curl, lftp, Python's ftplib, rclone, wget, Apache Commons
// Net; see tools_test.go). The files hold one feature each: transfers,
// logins, CCC, data-connection session reuse and binding, the client
// matrix under that binding, passive and active ports, the TLS policy,
// the read-only user, broken uploads and bad input.

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
	Server   *driver.Server
	Metrics  *metrics.Metrics
	S3       *miniotest.Server // with backend "s3", the store
}

// AliceDir is alice's home on disk.
func (s *testServer) AliceDir() string { return filepath.Join(s.Root, aliceHomeDir) }

// ReaderDir is the read-only user's home on disk.
func (s *testServer) ReaderDir() string { return filepath.Join(s.Root, readerHome) }

// testConfig returns a valid configuration on loopback ports chosen by the
// kernel, with a free passive range.
func testConfig(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.ImplicitListen = "127.0.0.1:0"
	setPassivePorts(&cfg, ftptest.PortRange(t, 20))
	cfg.Storage.Root = t.TempDir()
	// Every test client comes from 127.0.0.1.
	cfg.Server.MaxConnectionsPerIP, cfg.Server.MaxUnauthenticatedPerIP = 0, 0
	cfg.Users = []config.User{
		{Name: userName, PasswordHash: ftptest.HashPassword(t, userPass), Home: aliceHomeDir},
		{Name: readerName, PasswordHash: ftptest.HashPassword(t, readerPass), Home: readerHome, ReadOnly: true},
	}
	return cfg
}

// startServer starts a server with testConfig changed by edit (may be nil)
// and stops it when the test ends. Its logs go to the test's output, to
// Logs and to the extra cores.
func startServer(t testing.TB, edit func(*config.Config), extra ...zapcore.Core) *testServer {
	t.Helper()
	return startServerWith(t, edit, nil, extra...)
}

// startServerWith is startServer with the options opts.
func startServerWith(t testing.TB, edit func(*config.Config), opts []driver.Option, extra ...zapcore.Core) *testServer {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	testOutput := &gatedCore{Core: zaptest.NewLogger(t).Core(), gate: &logGate{}}
	cores := append([]zapcore.Core{core, testOutput}, extra...)
	ts := startServerLogging(t, edit, zap.New(zapcore.NewTee(cores...)), testOutput.gate.close, opts...)
	ts.Logs = logs
	return ts
}

// startJSONServer is startServer that also writes its log as production
// does (JSON, see cmd/ftpsd) from debug level to the returned buffer, one
// line per entry.
func startJSONServer(t testing.TB, edit func(*config.Config)) (*testServer, *testenv.SyncBuffer) {
	t.Helper()
	buf := &testenv.SyncBuffer{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return startServer(t, edit, zapcore.NewCore(enc, zapcore.AddSync(buf), zapcore.DebugLevel)), buf
}

// mustHaveNoDuplicateKeys fails for every line of a JSON log that names
// a key twice in one object.
func mustHaveNoDuplicateKeys(t testing.TB, log string) {
	t.Helper()
	for line := range strings.Lines(log) {
		dups, err := ftptest.DuplicateKeys([]byte(line))
		switch {
		case err != nil:
			t.Error(err)
		case len(dups) > 0:
			t.Errorf("log line names %q twice: %s", dups, line)
		}
	}
}

// startQuietServer is startServer that logs as in production (JSON, from
// level info) to nowhere and keeps no logs, for benchmarks of what the
// server holds.
func startQuietServer(t testing.TB, edit func(*config.Config)) *testServer {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	return startServerLogging(t, edit, logger, func() {})
}

// startServerLogging is startServer with logger and the options opts;
// closeLogs runs once the server stopped.
func startServerLogging(t testing.TB, edit func(*config.Config), logger *zap.Logger, closeLogs func(), opts ...driver.Option) *testServer {
	t.Helper()
	cfg := testConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true, MinVersion: cfg.TLS.MinVersion.ID()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	srv, err := driver.NewServer(cfg, store.Config(), logger, append([]driver.Option{driver.WithMetrics(m)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		defer closeLogs() // the lib may still log after its sessions ended
		srv.Close()
		if err, ok := ftptest.Receive(done, 5*time.Second); !ok {
			t.Error("Serve did not return after Close")
		} else if err != nil {
			t.Errorf("Serve: %v", err)
		}
		// The test's clients are closed by now (cleanups run last first):
		// every session must end by itself.
		if !ftptest.Eventually(10*time.Second, func() bool { return srv.Sessions() == 0 }) {
			t.Errorf("%d sessions still open 10s after the test's clients closed", srv.Sessions())
		}
	})
	ts := &testServer{Addr: srv.Addr().String(), Root: cfg.Storage.Root, Cfg: cfg, TLS: store, Server: srv, Metrics: m}
	if a := srv.ImplicitAddr(); a != nil {
		ts.Implicit = a.String()
	}
	return ts
}

// gatedCore passes log entries to the test output only while its gate is
// open, since a line logged through zaptest after the test ended panics the
// test binary (and races with the test's end). A write holds the gate's
// read lock while it logs, so once close returns no write is under way
// and none will reach the test.
type gatedCore struct {
	zapcore.Core
	gate *logGate
}

type logGate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *logGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

func (g *gatedCore) With(fields []zapcore.Field) zapcore.Core {
	return &gatedCore{Core: g.Core.With(fields), gate: g.gate}
}

func (g *gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if g.Enabled(e.Level) {
		return ce.AddCore(e, g)
	}
	return ce
}

func (g *gatedCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	g.gate.mu.RLock()
	defer g.gate.mu.RUnlock()
	if g.gate.closed {
		return nil
	}
	return g.Core.Write(e, fields)
}

// Config fields whose types are about to change (strings today) are
// written here only.

// setPassivePorts sets passive.ports, and lets one address hold them all
// (every test client comes from 127.0.0.1; the tests of
// passive.max_ports_per_ip set it again).
func setPassivePorts(cfg *config.Config, r ftptest.Range) {
	cfg.Passive.Ports = config.PortsOf(r.Start, r.End)
	cfg.Passive.MaxPortsPerIP = r.Len()
}

// setInternalNetworks sets passive.internal_networks.
func setInternalNetworks(cfg *config.Config, cidrs ...string) {
	cfg.Passive.InternalNetworks = nil
	for _, c := range cidrs {
		cfg.Passive.InternalNetworks = append(cfg.Passive.InternalNetworks, netip.MustParsePrefix(c))
	}
}

// logsWith returns the entries with message msg whose context has every
// key=value of fields.
func logsWith(logs *observer.ObservedLogs, msg string, fields map[string]any) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.FilterMessage(msg).All() {
		ctx := e.ContextMap()
		ok := true
		for k, v := range fields {
			if fmt.Sprint(ctx[k]) != fmt.Sprint(v) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// countLogs is len(logsWith) for the server's log.
func (s *testServer) countLogs(msg string, fields map[string]any) int {
	return len(logsWith(s.Logs, msg, fields))
}

// waitLogs fails unless the server logs exactly want lines with message
// msg and fields within 10s.
func waitLogs(t *testing.T, ts *testServer, msg string, fields map[string]any, want int) {
	t.Helper()
	if !ftptest.Eventually(10*time.Second, func() bool { return ts.countLogs(msg, fields) >= want }) {
		t.Fatalf("the server logged %d %q lines %v, want %d", ts.countLogs(msg, fields), msg, fields, want)
	}
	if got := ts.countLogs(msg, fields); got != want {
		t.Fatalf("the server logged %d %q lines %v, want exactly %d", got, msg, fields, want)
	}
}

// serveFile starts a server (testConfig changed by edit, which may be nil)
// whose user alice has a file name of n random bytes, and returns them.
func serveFile(t *testing.T, edit func(*config.Config), name string, n int) (*testServer, []byte) {
	t.Helper()
	return serveFileOn(t, config.BackendOS, edit, name, n)
}

// Storage backends the end-to-end tests of every backend run on.
var testBackends = []config.Backend{config.BackendOS, config.BackendS3}

// startServerOn is startServer on backend "os" or, in a MinIO of its own,
// "s3", with the options opts.
func startServerOn(t *testing.T, backend config.Backend, edit func(*config.Config), opts ...driver.Option) *testServer {
	t.Helper()
	if backend != config.BackendS3 {
		return startServerWith(t, edit, opts)
	}
	m := miniotest.New(t)
	ts := startS3Server(t, m, edit, opts...)
	ts.S3 = m
	return ts
}

// serveFileOn is serveFile on backend.
func serveFileOn(t *testing.T, backend config.Backend, edit func(*config.Config), name string, n int) (*testServer, []byte) {
	t.Helper()
	ts := startServerOn(t, backend, edit)
	data := ftptest.RandomData(t, n)
	ts.PutFile(t, name, data)
	return ts, data
}

// PutFile stores data as alice's file name, on disk or in the bucket.
func (s *testServer) PutFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if s.S3 != nil {
		putObject(t, s.S3, aliceKey(name), data)
		return
	}
	ftptest.WriteFile(t, s.AliceDir(), name, data)
}

// MustHaveFile fails unless alice's file name holds want (by SHA-256).
func (s *testServer) MustHaveFile(t testing.TB, name string, want []byte) {
	t.Helper()
	if s.S3 == nil {
		ftptest.MustSameFile(t, filepath.Join(s.AliceDir(), name), want)
		return
	}
	if got := objectSHA(t, s.S3, aliceKey(name)); got != ftptest.SHA256Hex(want) {
		t.Fatalf("%s in the bucket: sha256 %q, want %s", name, got, ftptest.SHA256Hex(want))
	}
}

// MustNoPartialUploads fails if an upload left a file behind: a hidden
// partial upload on disk (an object store keeps none: an upload's parts
// are not objects).
func (s *testServer) MustNoPartialUploads(t testing.TB) {
	t.Helper()
	if s.S3 == nil {
		ftptest.MustNoPartialUploads(t, s.AliceDir())
	}
}

// refusals returns how many data connections the server refused so far.
func refusals(ts *testServer) int { return ts.countLogs("data connection refused", nil) }

// assertNoRefusals fails if the server refused a data connection.
func assertNoRefusals(t *testing.T, ts *testServer) {
	t.Helper()
	if n := refusals(ts); n != 0 {
		t.Fatalf("%d data connections refused", n)
	}
}
