package driver

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestHomesShareAndClose: sessions of one home get one root, sessions of
// another home another one (each sees only its own files), and a root
// is closed with its last release, also when holders come and go
// concurrently; releasing twice counts once.
func TestHomesShareAndClose(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, dir := range []string{a, b} {
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(dir)+".txt"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var h homes
	fa, releaseA, err := h.acquire(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, releaseB, err := h.acquire(b)
	if err != nil {
		t.Fatal(err)
	}
	if fa == fb {
		t.Fatal("two homes share one root")
	}
	if _, err := fb.Stat("/a.txt"); err == nil {
		t.Error("home b sees a.txt of home a")
	}
	if _, err := fb.Stat("/../a/a.txt"); err == nil {
		t.Error("home b reaches home a through ..")
	}

	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs, release, err := h.acquire(a)
			if err != nil {
				t.Error(err)
				return
			}
			if fs != fa {
				t.Error("a second session of home a got another root")
			}
			if _, err := fs.Stat("/a.txt"); err != nil {
				t.Error(err)
			}
			_ = release()
			_ = release() // counts once
		}()
	}
	wg.Wait()
	if _, err := fa.Stat("/"); err != nil {
		t.Fatalf("root of a closed while a session holds it: %v", err)
	}
	for _, release := range []func() error{releaseA, releaseB} {
		if err := release(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fa.Stat("/"); err == nil {
		t.Error("root of a still open after its last release")
	}
	if len(h.open) != 0 {
		t.Errorf("%d roots still listed after every release", len(h.open))
	}
}
