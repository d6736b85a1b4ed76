package hooks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// runs reads the records the "record" helper wrote in dir.
func runs(t *testing.T, dir string) map[string][]run {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]run{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var r run
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id, _, _ := strings.Cut(filepath.Base(name), ".")
		out[id] = append(out[id], r)
	}
	return out
}

// TestCommandGetsEvent runs a command hook for an upload: it gets the
// event as JSON on its standard input, as FTPSD_* variables and in its
// arguments, only the environment it was given besides, and runs once.
func TestCommandGetsEvent(t *testing.T) {
	out := t.TempDir()
	h := start(t, testEvents(t.TempDir()), []config.Hook{{
		Events:  []string{Upload},
		Command: []string{selfExe(t), "--file={path}", "{store_path}", "{sha256}", "{size}", "{user}"},
	}}, envMode+"=record", envOut+"="+out, "PATH=/usr/bin:/bin")
	ev := uploadEvent("/in/a b;$(reboot).csv")
	h.d.Emit(ev)
	h.d.Emit(Event{Kind: Delete, User: "acme-bank", Path: "/in/old.csv"}) // not wanted
	ftptest.MustEventually(t, 10*time.Second, "the command's run", func() bool { return h.counts.get(ResultDelivered) == 1 })
	h.close()

	got := runs(t, out)
	if len(got) != 1 {
		t.Fatalf("runs for %d events, want 1 (the upload): %v", len(got), got)
	}
	for id, rs := range got {
		if len(rs) != 1 {
			t.Fatalf("event %s: %d runs, want 1", id, len(rs))
		}
		r := rs[0]
		wantArgs := []string{"--file=" + ev.Path, ev.StorePath, ev.SHA256, "1234", "acme-bank"}
		if !slices.Equal(r.Args, wantArgs) {
			t.Errorf("arguments %q, want %q", r.Args, wantArgs)
		}
		var stdin map[string]any
		if err := json.Unmarshal([]byte(r.Stdin), &stdin); err != nil {
			t.Fatalf("standard input %q is not JSON: %v", r.Stdin, err)
		}
		for k, want := range map[string]any{"id": id, "event": "upload", "user": "acme-bank", "client": ev.Client,
			"session": 42.0, "path": ev.Path, "store_path": ev.StorePath, "size": 1234.0, "sha256": ev.SHA256,
			"start": "2026-12-07T10:00:00Z", "end": "2026-12-07T10:00:02Z"} {
			if stdin[k] != want {
				t.Errorf("stdin %s = %v, want %v", k, stdin[k], want)
			}
		}
		for k, want := range map[string]string{"FTPSD_EVENT_ID": id, "FTPSD_EVENT": "upload", "FTPSD_USER": "acme-bank",
			"FTPSD_CLIENT": ev.Client, "FTPSD_SESSION": "42", "FTPSD_PATH": ev.Path, "FTPSD_STORE_PATH": ev.StorePath,
			"FTPSD_SIZE": "1234", "FTPSD_SHA256": ev.SHA256, "FTPSD_START": "2026-12-07T10:00:00Z",
			"FTPSD_END": "2026-12-07T10:00:02Z", "PATH": "/usr/bin:/bin"} {
			if r.Env[k] != want {
				t.Errorf("%s = %q, want %q", k, r.Env[k], want)
			}
		}
		if _, ok := r.Env["HOME"]; ok {
			t.Errorf("the command got the server's HOME: its environment is not limited to Options.Env")
		}
	}
	if n := h.logs.FilterMessage("hook command output").FilterField(zapString("stdout", "recorded "+ev.Path+"\n")).Len(); n != 1 {
		t.Errorf("%d lines logged the command's output, want 1", n)
	}
	if n := len(spooled(t, h.d.spool.dir)); n != 0 {
		t.Errorf("%d events left in the spool after delivery", n)
	}
}

// TestFailingCommandRetried checks that an exit status other than 0 is
// tried again, then given up after events.max_attempts, its standard
// error logged.
func TestFailingCommandRetried(t *testing.T) {
	ev := testEvents(t.TempDir())
	ev.MaxAttempts = 3
	h := start(t, ev, []config.Hook{{Events: []string{Upload}, Command: []string{selfExe(t)}}}, envMode+"=fail")
	h.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the delivery given up", func() bool { return h.counts.get(ResultGivenUp) == 1 })
	if r, d := h.counts.get(ResultRetry), h.counts.get(ResultDelivered); r != 2 || d != 0 {
		t.Errorf("retry %d, delivered %d; want 2 retries (3 attempts) and none delivered", r, d)
	}
	if n := h.logs.FilterMessage("hook delivery failed; trying again").FilterFieldKey("retry_in").Len(); n != 2 {
		t.Errorf("%d retry lines, want 2", n)
	}
	if n := h.logs.FilterMessage("hook command output").FilterField(zapString("stderr", "ingest: cannot parse the file\n")).Len(); n != 3 {
		t.Errorf("%d lines with the command's stderr, want 3", n)
	}
	if n := len(spooled(t, h.d.spool.dir)); n != 0 {
		t.Errorf("%d events left in the spool after giving up", n)
	}
}

// pidsIn returns the pids of the files dir/prefix.<pid>.
func pidsIn(t *testing.T, dir, prefix string) []int {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, prefix+".*"))
	var pids []int
	for _, n := range names {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Ext(n), "."))
		if err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestHangingCommandKilled runs commands that hang (each with a child in
// its process group): while one hangs, other events are delivered; one
// with a 1s timeout is killed with its child at its timeout; Close kills
// the one still running.
func TestHangingCommandKilled(t *testing.T) {
	out := t.TempDir()
	ev := testEvents(t.TempDir())
	ev.MaxRunning, ev.MaxAttempts = 3, 1
	exe := selfExe(t)
	h := start(t, ev, []config.Hook{
		{Events: []string{Upload}, Path: "/stuck/*", Command: []string{exe, "hang", "stuck"}, Timeout: config.Duration(time.Minute)},
		{Events: []string{Upload}, Path: "/hang/*", Command: []string{exe, "hang", "hang"}, Timeout: config.Duration(time.Second)},
		{Events: []string{Upload}, Path: "/in/*", Command: []string{exe, "record"}},
	}, envMode+"=argv", envOut+"="+out)
	h.d.Emit(uploadEvent("/stuck/big.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the stuck command and its child", func() bool {
		return len(pidsIn(t, out, "stuck")) == 1 && len(pidsIn(t, out, "stuck-child")) == 1
	})
	stuck := append(pidsIn(t, out, "stuck"), pidsIn(t, out, "stuck-child")...)
	for i := range 3 {
		h.d.Emit(uploadEvent("/in/" + strconv.Itoa(i) + ".csv"))
	}
	ftptest.MustEventually(t, 10*time.Second, "3 events delivered", func() bool { return len(runs(t, out)) == 3 })
	for _, pid := range stuck {
		if !testenv.Alive(pid) {
			t.Errorf("process %d gone before its timeout; the other events were not delivered meanwhile", pid)
		}
	}

	began := time.Now()
	h.d.Emit(uploadEvent("/hang/big.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the hanging command and its child", func() bool {
		return len(pidsIn(t, out, "hang")) == 1 && len(pidsIn(t, out, "hang-child")) == 1
	})
	hang := append(pidsIn(t, out, "hang"), pidsIn(t, out, "hang-child")...)
	ftptest.MustEventually(t, 10*time.Second, "the hanging command and its child killed", func() bool {
		return !testenv.Alive(hang[0]) && !testenv.Alive(hang[1])
	})
	if took := time.Since(began); took < time.Second || took > 8*time.Second {
		t.Errorf("the hanging command was killed after %v, want its 1s timeout", took)
	}
	ftptest.MustEventually(t, 5*time.Second, "the hang given up", func() bool { return h.counts.get(ResultGivenUp) == 1 })
	if e := h.logs.FilterMessage("hook delivery given up").All()[0].ContextMap()["error"]; !strings.Contains(e.(string), "killed at its timeout") {
		t.Errorf("given up with %q, want it to say the timeout killed it", e)
	}

	t.Logf("killed after %v", time.Since(began))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.d.Close(ctx)
	t.Logf("closed after %v", time.Since(began))
	ftptest.MustEventually(t, 5*time.Second, "the stuck command killed by Close", func() bool {
		return !testenv.Alive(stuck[0]) && !testenv.Alive(stuck[1])
	})
	if n := len(spooled(t, h.d.spool.dir)); n != 1 {
		t.Errorf("%d events in the spool after Close, want 1 (the stuck one, for the next start)", n)
	}
}
