package hooks

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// TestEventsSurviveRestart emits events while the receiver answers 503,
// closes the dispatcher, and starts a new one on the same spool with the
// receiver back: each event is delivered, once.
func TestEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, "k", http.StatusServiceUnavailable)
	hooks := []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")}}
	first := start(t, testEvents(dir), hooks)
	for i := range 3 {
		first.d.Emit(uploadEvent(fmt.Sprintf("/in/%d.csv", i)))
	}
	ftptest.MustEventually(t, 10*time.Second, "each event tried twice", func() bool { return first.counts.get(ResultRetry) >= 6 })
	first.close()
	if n := len(spooled(t, dir)); n != 3 {
		t.Fatalf("%d events in the spool after close, want 3", n)
	}

	r.setStatus(http.StatusOK)
	second := start(t, testEvents(dir), hooks)
	ftptest.MustEventually(t, 10*time.Second, "3 deliveries after the restart", func() bool { return second.counts.get(ResultDelivered) == 3 })
	second.close()
	if events, most := r.delivered(); events != 3 || most != 1 {
		t.Errorf("%d events delivered, one up to %d times; want 3, once each", events, most)
	}
	if n := len(spooled(t, dir)); n != 0 {
		t.Errorf("%d events left in the spool", n)
	}
	if n := second.logs.FilterMessage("events left in the spool will be delivered").Len(); n != 1 {
		t.Errorf("%d lines announced the spooled events at start, want 1", n)
	}
}

// TestEventsSurviveKill kills (SIGKILL) a process right after its Emit
// calls returned: the events are on disk, and a dispatcher started on its
// spool delivers them.
func TestEventsSurviveKill(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, "k", http.StatusOK)
	secret := secretFile(t, "k")
	const n = 20
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), envMode+"=emit", envOut+"="+dir, "HOOKSTEST_URL="+r.srv.URL, "HOOKSTEST_SECRET="+secret,
		fmt.Sprintf("HOOKSTEST_N=%d", n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	if s, ok := ftptest.Receive(line, 20*time.Second); !ok || s != "emitted\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the emitting process said %q", s)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	h := start(t, testEvents(dir), []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secret}})
	ftptest.MustEventually(t, 10*time.Second, "the killed process's events delivered", func() bool { return h.counts.get(ResultDelivered) == n })
	h.close()
	if events, most := r.delivered(); events != n || most != 1 {
		t.Errorf("%d events delivered, one up to %d times; want %d, once each", events, most, n)
	}
}

// TestSpoolBoundDropsOldest fills a spool of 3 with 5 events while nothing
// is delivered: the 2 oldest are dropped, counted and logged, and the 3
// newest are delivered.
func TestSpoolBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	ev := testEvents(dir)
	ev.SpoolMaxEvents = 3
	r := newReceiver(t, "k", http.StatusOK)
	hooks := []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")}}
	h := open(t, ev, hooks) // not started: events wait
	for i := range 5 {
		h.d.Emit(uploadEvent(fmt.Sprintf("/in/%d.csv", i)))
	}
	if n := len(spooled(t, dir)); n != 3 {
		t.Errorf("%d events in the spool, want 3", n)
	}
	if n := h.counts.get(ResultDroppedSpoolFull); n != 2 {
		t.Errorf("dropped_spool_full = %d, want 2", n)
	}
	var dropped []string
	for _, e := range h.logs.FilterMessage("spool full: oldest event dropped").All() {
		dropped = append(dropped, e.ContextMap()["path"].(string))
	}
	if !slices.Equal(dropped, []string{"/in/0.csv", "/in/1.csv"}) {
		t.Errorf("dropped %v, want the 2 oldest", dropped)
	}
	h.d.Start(t.Context())
	ftptest.MustEventually(t, 10*time.Second, "3 deliveries", func() bool { return h.counts.get(ResultDelivered) == 3 })
	h.close()
	r.mu.Lock()
	var paths []string
	for _, b := range r.bodies {
		paths = append(paths, b["path"].(string))
	}
	r.mu.Unlock()
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/in/2.csv", "/in/3.csv", "/in/4.csv"}) {
		t.Errorf("delivered %v, want the 3 newest", paths)
	}
}

// TestDeliveredHookNotRunAgain sends an event to a command, which takes
// it, and a webhook, which is down; after a restart the webhook gets it
// and the command does not run again.
func TestDeliveredHookNotRunAgain(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	r := newReceiver(t, "k", http.StatusServiceUnavailable)
	hooks := []config.Hook{
		{Events: []string{Upload}, Command: []string{selfExe(t), "record"}},
		{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")},
	}
	env := []string{envMode + "=argv", envOut + "=" + out}
	first := start(t, testEvents(dir), hooks, env...)
	first.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the command run and the webhook tried", func() bool {
		return first.counts.get(ResultDelivered) == 1 && first.counts.get(ResultRetry) >= 1
	})
	first.close()

	r.setStatus(http.StatusOK)
	second := start(t, testEvents(dir), hooks, env...)
	ftptest.MustEventually(t, 10*time.Second, "the webhook's delivery", func() bool { return second.counts.get(ResultDelivered) == 1 })
	second.close()
	got := runs(t, out)
	if len(got) != 1 {
		t.Fatalf("command runs for %d events, want 1", len(got))
	}
	for id, rs := range got {
		if len(rs) != 1 {
			t.Errorf("the command ran %d times for event %s, want once", len(rs), id)
		}
		if events, most := r.delivered(); events != 1 || most != 1 || r.ok[id] != 1 {
			t.Errorf("webhook: %d events, up to %d times, want event %s once", events, most, id)
		}
	}
	if n := len(spooled(t, dir)); n != 0 {
		t.Errorf("%d events left in the spool", n)
	}
}

// TestEmitDoesNotWaitForHooks keeps the only delivery slot busy with a
// command that hangs: Emit still returns at once, every time.
func TestEmitDoesNotWaitForHooks(t *testing.T) {
	out := t.TempDir()
	ev := testEvents(t.TempDir())
	ev.MaxRunning = 1
	h := start(t, ev, []config.Hook{{Events: []string{Upload}, Command: []string{selfExe(t), "hang", "stuck"}, Timeout: config.Duration(time.Minute)}},
		envMode+"=argv", envOut+"="+out)
	h.d.Emit(uploadEvent("/in/first.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the hanging command", func() bool { return len(pidsIn(t, out, "stuck")) == 1 })
	began := time.Now()
	for i := range 50 {
		h.d.Emit(uploadEvent(fmt.Sprintf("/in/%d.csv", i)))
	}
	took := time.Since(began)
	t.Logf("50 Emit calls took %v (%v each) with the delivery slot held", took, took/50)
	if took > 5*time.Second {
		t.Errorf("50 Emit calls took %v while a hook hangs", took)
	}
	if d := h.d.Depth(); d != 51 {
		t.Errorf("spool depth %d, want 51", d)
	}
	pid := pidsIn(t, out, "stuck")[0]
	if !testenv.Alive(pid) {
		t.Errorf("the hanging command ended: the test proves nothing")
	}
	ctx, cancel := contextTimeout(100 * time.Millisecond)
	defer cancel()
	h.d.Close(ctx)
}

// TestReloadReadsSecretAgain changes a webhook's secret file and reloads:
// the next POST is signed with the new key. A reload whose secret file is
// missing fails and changes nothing.
func TestReloadReadsSecretAgain(t *testing.T) {
	r := newReceiver(t, "old", http.StatusOK)
	secret := secretFile(t, "old")
	hooks := []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secret}}
	h := start(t, testEvents(t.TempDir()), hooks)
	h.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the first delivery", func() bool { return h.counts.get(ResultDelivered) == 1 })

	if _, err := h.d.PrepareReload([]config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secret + ".missing"}}); err == nil ||
		!strings.Contains(err.Error(), "hooks[0].secret_file") {
		t.Errorf("reload with a missing secret file: %v, want an error naming hooks[0].secret_file", err)
	}
	if err := os.WriteFile(secret, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commit, err := h.d.PrepareReload(hooks)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.secret = []byte("new")
	r.mu.Unlock()
	commit()
	h.d.Emit(uploadEvent("/in/b.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the second delivery", func() bool { return h.counts.get(ResultDelivered) == 2 })
}

// TestOrphansWaitForTheirHook removes a hook whose event waits in the
// spool, then configures it again: the event waits, then is delivered.
func TestOrphansWaitForTheirHook(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t, "k", http.StatusServiceUnavailable)
	hooks := []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")}}
	h := start(t, testEvents(dir), hooks)
	h.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "a failed try", func() bool { return h.counts.get(ResultRetry) >= 1 })
	commit, err := h.d.PrepareReload(nil)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	r.setStatus(http.StatusOK)
	tries := r.totalTries()
	if ftptest.Eventually(300*time.Millisecond, func() bool { return r.totalTries() > tries+1 }) {
		t.Errorf("the removed hook is still tried")
	}
	if n := len(spooled(t, dir)); n != 1 {
		t.Errorf("%d events in the spool, want 1 waiting for its hook", n)
	}
	commit, err = h.d.PrepareReload(hooks)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	ftptest.MustEventually(t, 10*time.Second, "the delivery", func() bool { return h.counts.get(ResultDelivered) == 1 })
	if n := h.logs.FilterMessage("spooled events wait for hooks no longer configured").Len(); n != 1 {
		t.Errorf("%d warnings about waiting events, want 1", n)
	}
}

// TestSpoolSetsAsideBadFiles checks that a file that does not decode is
// set aside at start, and temporary files removed.
func TestSpoolSetsAsideBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, fmt.Sprintf("%020d%s", 7, eventSuffix))
	tmp := filepath.Join(dir, fmt.Sprintf("%020d%s%s", 8, eventSuffix, tmpSuffix))
	for _, f := range []string{bad, tmp} {
		if err := os.WriteFile(f, []byte("{half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := open(t, testEvents(dir), nil)
	if _, err := os.Stat(bad + badSuffix); err != nil {
		t.Errorf("the bad file was not set aside: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the temporary file is still there: %v", err)
	}
	if n := h.logs.FilterMessage("spooled event unreadable; set aside").Len(); n != 1 {
		t.Errorf("%d lines about the bad file, want 1", n)
	}
}

// TestSpoolLocked checks that a second dispatcher cannot open a spool in
// use, and can once the first closed it.
func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	first := open(t, testEvents(dir), nil)
	_, err := New(Options{Events: testEvents(dir), Logger: first.d.logger})
	if err == nil || !strings.Contains(err.Error(), "events.spool_dir") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second dispatcher on the spool: %v, want an error naming events.spool_dir", err)
	}
	first.close()
	second, err := New(Options{Events: testEvents(dir), Logger: first.d.logger})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	second.Close(t.Context())
}

// TestReceiverDownThenUp delivers to a URL where nothing listens (a
// network error, tried again), then starts the receiver there: the event
// arrives once.
func TestReceiverDownThenUp(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ftptest.FreePort(t)))
	r := &receiver{t: t, secret: []byte("k"), status: http.StatusOK,
		tries: map[string]int{}, ok: map[string]int{}, bodies: map[string]map[string]any{}}
	h := start(t, testEvents(t.TempDir()), []config.Hook{{Events: []string{Upload}, URL: "http://" + addr + "/hook", SecretFile: secretFile(t, "k")}})
	h.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "2 failed tries", func() bool { return h.counts.get(ResultRetry) >= 2 })
	if e := h.logs.FilterMessage("hook delivery failed; trying again").All()[0].ContextMap()["error"]; !strings.Contains(e.(string), "connection refused") {
		t.Errorf("the failed try says %q, want the network error", e)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	ftptest.MustEventually(t, 10*time.Second, "the delivery", func() bool { return h.counts.get(ResultDelivered) == 1 })
	h.close()
	if events, most := r.delivered(); events != 1 || most != 1 {
		t.Errorf("%d events delivered, up to %d times; want 1, once", events, most)
	}
}

// TestSpoolWriteFails removes the spool's directory under a dispatcher:
// Emit reports the event it could not write, counted, and returns.
func TestSpoolWriteFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	h := open(t, testEvents(dir), []config.Hook{{Events: []string{Upload}, Command: []string{"/bin/true"}}})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	h.d.Emit(uploadEvent("/in/a.csv"))
	if n := h.counts.get(ResultSpoolFailed); n != 1 {
		t.Errorf("spool_failed = %d, want 1", n)
	}
	if n := h.logs.FilterMessage("event not spooled; its hooks will not have it").Len(); n != 1 {
		t.Errorf("%d lines about the event not spooled, want 1", n)
	}
	if d := h.d.Depth(); d != 0 {
		t.Errorf("spool depth %d, want 0", d)
	}
}
