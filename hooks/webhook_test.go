package hooks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// TestWebhookSignedOncePerEvent POSTs three uploads to a receiver that
// checks each signature: each event arrives once, whole.
func TestWebhookSignedOncePerEvent(t *testing.T) {
	r := newReceiver(t, "s3cret", http.StatusNoContent)
	h := start(t, testEvents(t.TempDir()), []config.Hook{{
		Events: []string{Upload, Delete}, Users: []string{"acme-bank"}, URL: r.srv.URL, SecretFile: secretFile(t, "s3cret"),
	}})
	for i := range 3 {
		h.d.Emit(uploadEvent(fmt.Sprintf("/in/%d.csv", i)))
	}
	h.d.Emit(Event{Kind: Upload, User: "someone-else", Path: "/in/x.csv"}) // not wanted
	ftptest.MustEventually(t, 10*time.Second, "3 deliveries", func() bool { return h.counts.get(ResultDelivered) == 3 })
	h.close()
	if events, most := r.delivered(); events != 3 || most != 1 {
		t.Errorf("%d events delivered, one up to %d times; want 3, once each", events, most)
	}
	if n := r.totalTries(); n != 3 {
		t.Errorf("%d POSTs, want 3", n)
	}
	r.mu.Lock()
	for id, b := range r.bodies {
		if b["event"] != "upload" || b["user"] != "acme-bank" || b["sha256"] != uploadEvent("").SHA256 || b["size"] != 1234.0 {
			t.Errorf("event %s: body %v", id, b)
		}
	}
	r.mu.Unlock()
	if c := h.counts; c.depth != 0 {
		t.Errorf("spool depth %d after delivery, want 0", c.depth)
	}
}

// TestWebhookRefusalNotRetried checks that a 4xx other than 408 and 429
// is not tried again, while a 429 is.
func TestWebhookRefusalNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{http.StatusBadRequest, true}, {http.StatusGone, true}, {http.StatusTooManyRequests, false}, {http.StatusRequestTimeout, false}, {http.StatusBadGateway, false}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			r := newReceiver(t, "k", tc.status)
			h := start(t, testEvents(t.TempDir()), []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")}})
			h.d.Emit(uploadEvent("/in/a.csv"))
			if tc.permanent {
				ftptest.MustEventually(t, 5*time.Second, "the refusal", func() bool { return h.counts.get(ResultRejected) == 1 })
				h.close()
				if n := r.totalTries(); n != 1 {
					t.Errorf("%d POSTs after a %d, want 1", n, tc.status)
				}
				if n := h.counts.get(ResultRetry); n != 0 {
					t.Errorf("%d retries after a %d, want 0", n, tc.status)
				}
				if n := len(spooled(t, h.d.spool.dir)); n != 0 {
					t.Errorf("%d events left in the spool after a refusal", n)
				}
				return
			}
			ftptest.MustEventually(t, 5*time.Second, "3 tries", func() bool { return r.totalTries() >= 3 })
			r.setStatus(http.StatusOK)
			ftptest.MustEventually(t, 5*time.Second, "the delivery", func() bool { return h.counts.get(ResultDelivered) == 1 })
			if n := h.counts.get(ResultRejected); n != 0 {
				t.Errorf("%d refusals after a %d, want 0", n, tc.status)
			}
		})
	}
}

// TestWebhookRetryAfter checks that a 429's Retry-After delays the next
// try (within events.retry_max_delay), and the parsing of the header.
func TestWebhookRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var tries []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tries = append(tries, time.Now())
		if len(tries) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	ev := testEvents(t.TempDir())
	ev.RetryMaxDelay = config.Duration(5 * time.Second)
	h := start(t, ev, []config.Hook{{Events: []string{Upload}, URL: srv.URL, SecretFile: secretFile(t, "k")}})
	h.d.Emit(uploadEvent("/in/a.csv"))
	ftptest.MustEventually(t, 10*time.Second, "the delivery", func() bool { return h.counts.get(ResultDelivered) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(tries) != 2 {
		t.Fatalf("%d tries, want 2", len(tries))
	}
	if gap := tries[1].Sub(tries[0]); gap < 900*time.Millisecond {
		t.Errorf("tried again after %v, want the 1s of Retry-After (the backoff alone waits about 20ms)", gap)
	}

	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{{"120", 2 * time.Minute, true}, {"Mon, 07 Dec 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Mon, 07 Dec 2026 09:00:00 GMT", 0, true}, {"soon", 0, false}, {"", 0, false}, {"-5", 0, false}} {
		if got, ok := retryAfter(tc.v, now); got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDownHookHeldBack keeps a receiver down with 20 events waiting: a
// failed try holds the hook's other events back until its next try, so
// the receiver gets about events.max_running tries per wait instead of
// one per event; once it is up, each event arrives once.
func TestDownHookHeldBack(t *testing.T) {
	r := newReceiver(t, "k", http.StatusServiceUnavailable)
	h := start(t, testEvents(t.TempDir()), []config.Hook{{Events: []string{Upload}, URL: r.srv.URL, SecretFile: secretFile(t, "k")}})
	began := time.Now()
	for i := range 20 {
		h.d.Emit(uploadEvent(fmt.Sprintf("/in/%d.csv", i)))
	}
	ftptest.MustEventually(t, 20*time.Second, "100 tries", func() bool { return r.totalTries() >= 100 })
	// Held back: at most 4 tries (events.max_running) per wait of at
	// least 10ms, 20ms, 40ms, then 50ms: 100 tries take at least
	// 10+20+40+21*50 ms = 1.12s. Each event on its own backoff: 5 tries
	// each, 0.7s under the race detector.
	took := time.Since(began)
	t.Logf("100 tries of 20 events took %v", took)
	if took < time.Second {
		t.Errorf("100 tries took %v: the down hook was not held back", took)
	}
	r.setStatus(http.StatusOK)
	ftptest.MustEventually(t, 10*time.Second, "20 deliveries", func() bool { return h.counts.get(ResultDelivered) == 20 })
	h.close()
	if events, most := r.delivered(); events != 20 || most != 1 {
		t.Errorf("%d events delivered, up to %d times; want 20, once each", events, most)
	}
}
