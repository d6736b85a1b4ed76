package hooks

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/config"
)

// The test binary is also the command the hooks run (and the process
// the kill -9 test kills): with HOOKSTEST_MODE set it does what the mode
// says instead of running the tests, so that the fast tier needs no
// external program.
const (
	envMode = "HOOKSTEST_MODE"
	envOut  = "HOOKSTEST_OUT"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		if mode == "argv" && len(os.Args) > 1 { // the mode is the first argument
			mode = os.Args[1]
			os.Args = append(os.Args[:1:1], os.Args[2:]...)
		}
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// run is what the "record" helper writes for each run.
type run struct {
	Args  []string          `json:"args"`
	Env   map[string]string `json:"env"`
	Stdin string            `json:"stdin"`
}

// helper is the body of the test binary run as a hook's command.
func helper(mode string) int {
	out := os.Getenv(envOut)
	switch mode {
	case "record": // write what it got to OUT/<event id>.<pid>.json
		stdin, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 2
		}
		r := run{Args: os.Args[1:], Env: map[string]string{}, Stdin: string(stdin)}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "FTPSD_") || k == "PATH" || k == "HOME" {
				r.Env[k] = v
			}
		}
		data, _ := json.Marshal(r)
		name := filepath.Join(out, fmt.Sprintf("%s.%d.json", os.Getenv("FTPSD_EVENT_ID"), os.Getpid()))
		if os.WriteFile(name+".tmp", data, 0o600) != nil || os.Rename(name+".tmp", name) != nil {
			return 2
		}
		fmt.Println("recorded", os.Getenv("FTPSD_PATH"))
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "ingest: cannot parse the file")
		return 3
	case "hang": // NAME: a child in the same group, then both sleep
		name := os.Args[1]
		child := exec.Command(os.Args[0], "hang-child", name+"-child")
		if child.Start() != nil {
			return 2
		}
		_ = os.WriteFile(filepath.Join(out, name+"."+strconv.Itoa(os.Getpid())), nil, 0o600)
		time.Sleep(time.Minute)
		return 0
	case "hang-child":
		_ = os.WriteFile(filepath.Join(out, os.Args[1]+"."+strconv.Itoa(os.Getpid())), nil, 0o600)
		time.Sleep(time.Minute)
		return 0
	case "emit": // emit events into the spool, say so, and wait to be killed
		return emitAndWait(out)
	}
	return 2
}

// emitAndWait is the process of TestEventsSurviveKill: it makes a
// dispatcher on the spool OUT (not started: nothing is delivered), emits
// HOOKSTEST_N events, prints "emitted" and sleeps.
func emitAndWait(dir string) int {
	n, _ := strconv.Atoi(os.Getenv("HOOKSTEST_N"))
	d, err := New(Options{
		Events: testEvents(dir),
		Hooks:  []config.Hook{{Events: []string{Upload}, URL: os.Getenv("HOOKSTEST_URL"), SecretFile: os.Getenv("HOOKSTEST_SECRET")}},
		Logger: zap.NewNop(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for i := range n {
		d.Emit(uploadEvent(fmt.Sprintf("/in/killed-%d.csv", i)))
	}
	fmt.Println("emitted")
	time.Sleep(time.Minute)
	return 0
}

// testEvents is an [events] table with short delays.
func testEvents(dir string) config.Events {
	return config.Events{
		SpoolDir: dir, SpoolMaxEvents: 100, MaxRunning: 4, MaxAttempts: 0,
		RetryMinDelay: config.Duration(20 * time.Millisecond), RetryMaxDelay: config.Duration(100 * time.Millisecond),
	}
}

// uploadEvent is an upload of p by acme-bank.
func uploadEvent(p string) Event {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	return Event{
		Kind: Upload, User: "acme-bank", Client: "198.51.100.7:50312", Session: 42,
		Path: p, StorePath: "/srv/ftp/acme-bank" + p, Size: 1234,
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		Start:  start, End: start.Add(2 * time.Second),
	}
}

// counts records the dispatcher's figures.
type counts struct {
	mu     sync.Mutex
	result map[string]int
	depth  int
}

func newCounts() *counts { return &counts{result: map[string]int{}} }

func (c *counts) HookDelivery(r string) {
	c.mu.Lock()
	c.result[r]++
	c.mu.Unlock()
}

func (c *counts) HookSpoolDepth(n int) {
	c.mu.Lock()
	c.depth = n
	c.mu.Unlock()
}

func (c *counts) get(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result[r]
}

// harness is a dispatcher under test with its logs and figures.
type harness struct {
	d      *Dispatcher
	logs   *observer.ObservedLogs
	counts *counts
}

// start makes a dispatcher, starts it, and closes it when the test ends.
func start(t *testing.T, events config.Events, hooks []config.Hook, env ...string) *harness {
	t.Helper()
	h := open(t, events, hooks, env...)
	h.d.Start(context.Background())
	return h
}

// open makes a dispatcher without starting it; it is closed when the
// test ends.
func open(t *testing.T, events config.Events, hooks []config.Hook, env ...string) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	c := newCounts()
	d, err := New(Options{Events: events, Hooks: hooks, Logger: zap.New(core), Metrics: c, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, logs: logs, counts: c}
	t.Cleanup(h.close)
	return h
}

// close closes the dispatcher, letting running deliveries finish for 5s.
func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.d.Close(ctx)
}

// receiver is a webhook endpoint that checks each POST's signature.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu     sync.Mutex
	status int            // the reply to give
	tries  map[string]int // POSTs per event id
	ok     map[string]int // POSTs answered 2xx per event id
	bodies map[string]map[string]any
}

func newReceiver(t *testing.T, secret string, status int) *receiver {
	r := &receiver{t: t, secret: []byte(secret), status: status,
		tries: map[string]int{}, ok: map[string]int{}, bodies: map[string]map[string]any{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ts := req.Header.Get(HeaderTimestamp)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	var fields map[string]any
	switch {
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		r.t.Errorf("got %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	case time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
		r.t.Errorf("timestamp %q is not now", ts)
	case !hmac.Equal([]byte(req.Header.Get(HeaderSignature)), []byte(Sign(r.secret, ts, body))):
		r.t.Errorf("bad signature %q", req.Header.Get(HeaderSignature))
	case json.Unmarshal(body, &fields) != nil || fields["id"] != req.Header.Get(HeaderEventID):
		r.t.Errorf("body %s does not carry the id %q", body, req.Header.Get(HeaderEventID))
	}
	id, _ := fields["id"].(string)
	r.mu.Lock()
	status := r.status
	r.tries[id]++
	if status/100 == 2 {
		r.ok[id]++
		r.bodies[id] = fields
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// delivered returns how many events were answered 2xx, and the most POSTs
// answered 2xx for one of them.
func (r *receiver) delivered() (events, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.ok {
		most = max(most, n)
	}
	return len(r.ok), most
}

func (r *receiver) totalTries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.tries {
		n += c
	}
	return n
}

// secretFile writes a webhook key to a file, with a trailing newline.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// spooled lists the events' files in the spool.
func spooled(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+eventSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// selfExe is the test binary, run as a hook's command.
func selfExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// zapString is the field a log line must carry.
func zapString(k, v string) zap.Field { return zap.String(k, v) }

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
