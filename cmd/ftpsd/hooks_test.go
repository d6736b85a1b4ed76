package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
)

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

	var mu sync.Mutex
	secret := "first"
	posts := map[string]int{}
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(hooks.HeaderTimestamp)
		mu.Lock()
		defer mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get(hooks.HeaderSignature)), []byte(hooks.Sign([]byte(secret), ts, body))) {
			bad = append(bad, string(body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		posts[r.Header.Get(hooks.HeaderEventID)]++
	}))
	t.Cleanup(srv.Close)

	hookTable := fmt.Sprintf("[[hooks]]\nevents = [\"upload\"]\nurl = %q\nsecret_file = %q\n[events]\nspool_dir = %q\n", srv.URL, secretFile, spool)
	f.write(f.config("", "", "alice") + hookTable)
	// The hook's id: the first 8 bytes of SHA-256("url", 0, URL), in hex.
	sum := sha256.Sum256([]byte("url\x00" + srv.URL))
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
	mu.Lock()
	if posts["left-by-an-earlier-run"] != 1 || len(bad) != 0 {
		t.Errorf("POSTs %v, badly signed %v; want the spooled event once", posts, bad)
	}
	mu.Unlock()

	f.write(f.config("", "", "alice") + strings.Replace(hookTable, secretFile, secretFile+".missing", 1))
	s.reload(t)
	rejected := s.waitLog(t, "reload rejected; the running configuration stays", 1, stopTimeout)
	if !strings.Contains(rejected.str("error"), "hooks[0].secret_file") {
		t.Errorf("reload with a missing secret file rejected with %q, want it to name hooks[0].secret_file", rejected.str("error"))
	}

	writeText(t, f.dir, "hook-secret", "second\n")
	f.write(f.config("", "", "alice") + hookTable)
	mu.Lock()
	secret = "second"
	mu.Unlock()
	s.reload(t)
	reloaded := s.waitLog(t, "configuration reloaded", 1, stopTimeout)
	if nr := reloaded.strs("need_restart"); slices.Contains(nr, "hooks") {
		t.Errorf("need_restart = %v: hooks reload", nr)
	}
	s.terminate(t)
}
