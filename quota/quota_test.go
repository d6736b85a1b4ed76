package quota

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGetCountsOncePerHome: sessions of one home arriving together wait
// for one count; a count in progress does not hold up another home; a
// failed count is counted again at the next use.
func TestGetCountsOncePerHome(t *testing.T) {
	var tab Table
	var counts atomic.Int32
	release := make(chan struct{})
	slow := func() (Counts, error) {
		counts.Add(1)
		<-release
		return Counts{Bytes: 10, Files: 1}, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := tab.Get("/a", slow)
			if err != nil || u.Used() != (Counts{10, 1}) {
				t.Errorf("Get /a: %v, %v", u, err)
			}
		}()
	}
	// Another home is counted while /a's count hangs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := tab.Get("/b", func() (Counts, error) { return Counts{}, nil }); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the count of /b waited for the count of /a")
	}
	if _, ok := tab.Peek("/a"); ok {
		t.Fatal("Peek /a returned a usage whose count is not done")
	}
	close(release)
	wg.Wait()
	if n := counts.Load(); n != 1 {
		t.Fatalf("/a counted %d times, want 1", n)
	}

	boom := errors.New("store down")
	if _, err := tab.Get("/c", func() (Counts, error) { return Counts{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed count: %v, want %v", err, boom)
	}
	if tab.Known("/c") != nil {
		t.Fatal("a failed count is kept")
	}
	if u, err := tab.Get("/c", func() (Counts, error) { return Counts{Files: 3}, nil }); err != nil || u.Used().Files != 3 {
		t.Fatalf("count after a failed one: %v, %v", u, err)
	}
}

// TestUploadAccounting: what Begin refuses, what a replacing, a resumed
// and a discarded upload leave in the usage.
func TestUploadAccounting(t *testing.T) {
	u := &Usage{ready: make(chan struct{}), used: Counts{Bytes: 900, Files: 3}}
	l := Limit{Bytes: 1000, Files: 3}
	if _, err := u.Begin(l, Start{NewFile: true, Known: -1}); !errors.Is(err, ErrFiles) {
		t.Fatalf("4th file: %v, want ErrFiles", err)
	}
	if _, err := u.Begin(l, Start{Replaced: 100, Known: 201}); !errors.Is(err, ErrBytes) {
		t.Fatalf("ALLO 201 over 100 bytes with 100 free: %v, want ErrBytes", err)
	}
	up, err := u.Begin(l, Start{Replaced: 100, Known: 200})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := up.Write(50); err != nil {
			t.Fatal(err)
		}
	}
	if err := up.Write(1); !errors.Is(err, ErrBytes) {
		t.Fatalf("a byte beyond the limit: %v, want ErrBytes", err)
	}
	up.End(true)
	up.End(true) // once
	if got := u.Used(); got != (Counts{1000, 3}) {
		t.Fatalf("after replacing 100 bytes by 200: %+v, want 1000 bytes, 3 files", got)
	}
	if _, err := u.Begin(l, Start{Known: -1}); !errors.Is(err, ErrBytes) {
		t.Fatalf("upload of unknown size into a full home: %v, want ErrBytes", err)
	}
	// Resumed at 50 of a 100-byte file: 50 bytes overwrite, 30 more grow it.
	up, err = u.Begin(Limit{Bytes: 2000}, Start{Overwritten: 50, Known: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Write(80); err != nil {
		t.Fatal(err)
	}
	up.End(true)
	if got := u.Used().Bytes; got != 1030 {
		t.Fatalf("after a resumed upload: %d bytes, want 1030", got)
	}
	// Discarded: nothing changes, the reservation is released.
	up, _ = u.Begin(Limit{Bytes: 2000}, Start{NewFile: true, Known: -1})
	_ = up.Write(500)
	up.End(false)
	if got := u.Used(); got != (Counts{1030, 3}) || u.reserved != (Counts{}) {
		t.Fatalf("after a discarded upload: %+v, reserved %+v", got, u.reserved)
	}
	u.Add(Counts{Bytes: -5000, Files: -9})
	if got := u.Used(); got != (Counts{}) {
		t.Fatalf("usage below zero: %+v", got)
	}
}

// TestParallelUploadsStayWithinLimit: writers of one home at once never
// pass the limit together.
func TestParallelUploadsStayWithinLimit(t *testing.T) {
	u := &Usage{ready: make(chan struct{})}
	l := Limit{Bytes: 10_000}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := u.Begin(l, Start{NewFile: true, Known: -1})
			if err != nil {
				return
			}
			ok := true
			for range 10 {
				if up.Write(100) != nil {
					ok = false
					break
				}
			}
			up.End(ok)
		}()
	}
	wg.Wait()
	if got := u.Used().Bytes; got > l.Bytes || got%1000 != 0 {
		t.Fatalf("%d bytes stored by uploads of 1000, limit %d", got, l.Bytes)
	}
	if u.reserved != (Counts{}) {
		t.Fatalf("reservations left: %+v", u.reserved)
	}
}
