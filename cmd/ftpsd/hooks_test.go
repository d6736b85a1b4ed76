package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// hookHelperArg makes the test binary a hook's command (see TestMain):
// "hook-helper record DIR" writes its standard input to
// DIR/<FTPSD_EVENT_ID>.<pid>.json; "hook-helper hang DIR" writes
// DIR/hang.<pid> and sleeps a minute.
const hookHelperArg = "hook-helper"

func hookHelper(args []string) int {
	if len(args) < 2 {
		return 2
	}
	dir := args[1]
	switch args[0] {
	case "record":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 2
		}
		name := filepath.Join(dir, fmt.Sprintf("%s.%d.json", os.Getenv("FTPSD_EVENT_ID"), os.Getpid()))
		if os.WriteFile(name+".tmp", in, 0o600) != nil || os.Rename(name+".tmp", name) != nil {
			return 2
		}
		return 0
	case "hang":
		_ = os.WriteFile(filepath.Join(dir, "hang."+strconv.Itoa(os.Getpid())), nil, 0o600)
		time.Sleep(time.Minute)
		return 0
	}
	return 2
}

// hookReceiver is a webhook endpoint that checks each POST's signature
// and counts the POSTs it answered 2xx per event id.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	status int
	ok     map[string]int
	bodies map[string]map[string]any
	bad    []string
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	r := &hookReceiver{secret: secret, status: http.StatusOK, ok: map[string]int{}, bodies: map[string]map[string]any{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts := req.Header.Get(hooks.HeaderTimestamp)
		r.mu.Lock()
		defer r.mu.Unlock()
		var fields map[string]any
		if !hmac.Equal([]byte(req.Header.Get(hooks.HeaderSignature)), []byte(hooks.Sign([]byte(r.secret), ts, body))) ||
			json.Unmarshal(body, &fields) != nil {
			r.bad = append(r.bad, string(body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(r.status)
		if r.status/100 == 2 {
			id, _ := fields["id"].(string)
			r.ok[id]++
			r.bodies[id] = fields
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) set(f func(r *hookReceiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// hookTable is a [[hooks]] webhook for uploads to r and the [events]
// table of spool, with short retry delays.
func hookTable(r *hookReceiver, secretFile, spool, extra string) string {
	return fmt.Sprintf("[[hooks]]\nevents = [\"upload\"]\nurl = %q\nsecret_file = %q\n%s[events]\nspool_dir = %q\nretry_min_delay = \"100ms\"\nretry_max_delay = \"200ms\"\n",
		r.srv.URL, secretFile, extra, spool)
}

// storFiles logs in as alice and uploads each name with its content.
func storFiles(t *testing.T, addr string, files map[string]string) {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(ftpTimeout), ftp.DialWithExplicitTLS(ftptest.NewTLS()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer func() { _ = c.Quit() }()
	if err := c.Login("alice", password("alice")); err != nil {
		t.Fatalf("login: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := c.Stor(name, strings.NewReader(files[name])); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
	}
}

// cutUploads logs in as alice and starts two uploads that it cuts: one
// with a bare FIN on the protected data connection (no close_notify), one
// with a TCP reset; the server answers each with a 4xx.
func cutUploads(t *testing.T, addr string) {
	t.Helper()
	data := ftptest.RandomData(t, 64*1024)
	c := ftptest.MustLogin(t, addr, "alice", password("alice"))
	storCut(t, c, "cut-fin.csv", data, "a bare FIN", (*ftptest.Transfer).EndBare)
	storCut(t, c, "cut-reset.csv", data, "a reset", func(x *ftptest.Transfer) error { return ftptest.Reset(x.Raw) })
	c.Quit()
}

// storCut starts STOR name on c, sends data and ends the data connection
// with cut (how, in a failure); the server must answer 4xx: the upload is
// incomplete, the stored copy kept.
func storCut(t *testing.T, c *ftptest.MustClient, name string, data []byte, how string, cut func(*ftptest.Transfer) error) {
	t.Helper()
	x := c.Open("STOR " + name)
	if _, err := x.Conn.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := cut(x); err != nil {
		t.Fatal(err)
	}
	if r := c.Reply(); r.Code/100 != 4 {
		t.Fatalf("reply to the upload cut by %s: %v, want 4xx", how, r)
	}
	_ = x.Raw.Close()
}

// hookCommand makes the directory where the hook helper records its runs
// and returns it with the test binary, the hook's command.
func hookCommand(t *testing.T, f *fixture) (out, exe string) {
	t.Helper()
	out = filepath.Join(f.dir, "runs")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return out, exe
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestServeHooksOnUploads uploads two files through ftpsd with a command
// hook and a webhook: each gets exactly one event per committed upload,
// with the path, the size and the SHA-256 of the bytes sent, the POST
// signed; the command and the POST get the same event id. Two uploads cut
// on the way (a bare FIN on the protected data connection, a TCP reset)
// get none: none is delivered, and none waits in the spool.
func TestServeHooksOnUploads(t *testing.T) {
	f := newFixture(t, 4)
	r := newHookReceiver(t, "k")
	out, exe := hookCommand(t, f)
	command := fmt.Sprintf("[[hooks]]\nevents = [\"upload\"]\ncommand = [%q, %q, \"record\", %q]\n", exe, hookHelperArg, out)
	f.write(f.config("", "", "alice") + command + hookTable(r, writeText(t, f.dir, "secret", "k\n"), filepath.Join(f.dir, "spool"), ""))
	s, addr := f.start()
	files := map[string]string{"a.csv": "first file\n", "b.csv": strings.Repeat("second file, longer\n", 5000)}
	cutUploads(t, addr)
	storFiles(t, addr, files)
	s.waitLog(t, "hook delivered", 4, startTimeout)
	s.terminate(t)
	if left, _ := filepath.Glob(filepath.Join(f.dir, "spool", "*.json")); len(left) != 0 {
		t.Errorf("events left in the spool after every hook had its events: %v", left)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) != 0 {
		t.Errorf("badly signed POSTs: %v", r.bad)
	}
	byPath := map[string]string{} // path -> event id
	for id, n := range r.ok {
		b := r.bodies[id]
		p, _ := b["path"].(string)
		byPath[p] = id
		content, known := files[strings.TrimPrefix(p, "/")]
		switch {
		case n != 1:
			t.Errorf("event %s POSTed %d times, want once", id, n)
		case !known || b["event"] != "upload" || b["user"] != "alice":
			t.Errorf("event %s: %v", id, b)
		case b["sha256"] != sha256Hex(content) || b["size"] != float64(len(content)):
			t.Errorf("event %s: sha256 %v size %v, want %s %d", id, b["sha256"], b["size"], sha256Hex(content), len(content))
		}
	}
	if len(byPath) != len(files) {
		t.Errorf("POSTs for %d uploads, want %d: %v", len(byPath), len(files), byPath)
	}
	runs, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(runs) != len(files) {
		t.Fatalf("%d command runs, want %d", len(runs), len(files))
	}
	for _, run := range runs {
		data, _ := os.ReadFile(run)
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		p, _ := ev["path"].(string)
		if id := byPath[p]; id == "" || ev["id"] != id || ev["sha256"] != sha256Hex(files[strings.TrimPrefix(p, "/")]) {
			t.Errorf("the command got %v; the POST of %s had id %s", ev, p, id)
		}
	}
}

// TestServeHookEventsSurviveRestart uploads while the receiver answers
// 503, stops ftpsd, brings the receiver back and starts ftpsd again: the
// event is delivered, once.
func TestServeHookEventsSurviveRestart(t *testing.T) {
	f := newFixture(t, 4)
	r := newHookReceiver(t, "k")
	r.set(func(r *hookReceiver) { r.status = http.StatusServiceUnavailable })
	f.write(f.config("", "", "alice") + hookTable(r, writeText(t, f.dir, "secret", "k\n"), filepath.Join(f.dir, "spool"), ""))
	s, addr := f.start()
	storFiles(t, addr, map[string]string{"a.csv": "while the receiver is down\n"})
	s.waitLog(t, "hook delivery failed; trying again", 1, startTimeout)
	s.terminate(t)

	r.set(func(r *hookReceiver) { r.status = http.StatusOK })
	s, _ = f.start()
	s.waitLog(t, "hook delivered", 1, startTimeout)
	s.terminate(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ok) != 1 {
		t.Fatalf("%d events delivered, want 1", len(r.ok))
	}
	for id, n := range r.ok {
		if n != 1 || r.bodies[id]["sha256"] != sha256Hex("while the receiver is down\n") {
			t.Errorf("event %s delivered %d times with %v, want once with the upload's SHA-256", id, n, r.bodies[id])
		}
	}
}

// TestServeHangingHookDoesNotBlockUploads runs a command hook that hangs
// (timeout 5s): uploads go on while it hangs, and it is killed at its
// timeout.
func TestServeHangingHookDoesNotBlockUploads(t *testing.T) {
	testenv.FullTier(t, "a hook hanging for its 5 s timeout")
	f := newFixture(t, 4)
	out, exe := hookCommand(t, f)
	f.write(f.config("", "", "alice") + fmt.Sprintf("[[hooks]]\nevents = [\"upload\"]\npath = \"/hang.csv\"\ncommand = [%q, %q, \"hang\", %q]\ntimeout = \"5s\"\n"+
		"[events]\nspool_dir = %q\nmax_attempts = 1\n", exe, hookHelperArg, out, filepath.Join(f.dir, "spool")))
	s, addr := f.start()
	storFiles(t, addr, map[string]string{"hang.csv": "x\n"})
	var pid int
	ftptest.MustEventually(t, 10*time.Second, "the hanging command", func() bool {
		names, _ := filepath.Glob(filepath.Join(out, "hang.*"))
		if len(names) == 1 {
			pid, _ = strconv.Atoi(strings.TrimPrefix(filepath.Ext(names[0]), "."))
		}
		return pid > 0
	})
	began := time.Now()
	storFiles(t, addr, map[string]string{"b.csv": strings.Repeat("b", 1<<20), "c.csv": "c\n"})
	t.Logf("2 uploads took %v while the hook hung", time.Since(began))
	if syscall.Kill(pid, 0) != nil {
		t.Errorf("the hook ended before the uploads did: they did not run while it hung")
	}
	given := s.waitLog(t, "hook delivery given up", 1, 20*time.Second)
	if !strings.Contains(given.str("error"), "killed at its timeout") {
		t.Errorf("given up with %q, want the timeout", given.str("error"))
	}
	s.terminate(t)
}

// TestServeDeliversSpooledEvents starts ftpsd on a spool that an earlier
// run left an event in (written here by hand, in the spool's on-disk
// format, which a newer ftpsd must still read): the event is POSTed,
// signed, once, and its file removed. A SIGHUP whose secret file is
// missing is rejected naming the key, one with it rotated is applied;
// SIGTERM stops the dispatcher with the server.
func TestServeDeliversSpooledEvents(t *testing.T) {
	f := newFixture(t, 4)
	spool := filepath.Join(f.dir, "spool")
	secretFile := writeText(t, f.dir, "hook-secret", "first\n")
	r := newHookReceiver(t, "first")
	table := hookTable(r, secretFile, spool, "")
	f.write(f.config("", "", "alice") + table)
	// The hook's id: the first 8 bytes of SHA-256("url", 0, URL), in hex.
	sum := sha256.Sum256([]byte("url\x00" + r.srv.URL))
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	writeText(t, spool, "00000000000000000007.json", fmt.Sprintf(`{"id":"left-by-an-earlier-run","event":{"event":"upload","user":"alice",`+
		`"client":"127.0.0.1:40000","session":3,"path":"/a.csv","store_path":%q,"size":3,"sha256":"ab",`+
		`"start":"2026-12-07T10:00:00Z","end":"2026-12-07T10:00:01Z"},"hooks":[%q]}`, filepath.Join(f.root, "alice/a.csv"), hex.EncodeToString(sum[:8])))

	s, _ := f.start()
	s.waitLog(t, "hook delivered", 1, startTimeout)
	ftptest.MustEventually(t, 5*time.Second, "the spool file removed", func() bool {
		names, _ := filepath.Glob(filepath.Join(spool, "*.json"))
		return len(names) == 0
	})
	r.mu.Lock()
	if r.ok["left-by-an-earlier-run"] != 1 || len(r.bad) != 0 {
		t.Errorf("POSTs %v, badly signed %v; want the spooled event once", r.ok, r.bad)
	}
	r.mu.Unlock()

	f.write(f.config("", "", "alice") + strings.Replace(table, secretFile, secretFile+".missing", 1))
	s.reload(t)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, stopTimeout)
	if !strings.Contains(rejected.str("error"), "hooks[0].secret_file") {
		t.Errorf("reload with a missing secret file rejected with %q, want it to name hooks[0].secret_file", rejected.str("error"))
	}

	writeText(t, f.dir, "hook-secret", "second\n")
	f.write(f.config("", "", "alice") + table)
	r.set(func(r *hookReceiver) { r.secret = "second" })
	s.reload(t)
	reloaded := s.waitLog(t, "configuration reloaded", 1, stopTimeout)
	if nr := reloaded.strs("need_restart"); slices.Contains(nr, "hooks") {
		t.Errorf("need_restart = %v: hooks reload", nr)
	}
	s.terminate(t)
}
