package pasv

import (
	"testing"

	"go.uber.org/zap"
)

// TestAnnouncedPorts: with AnnounceStart, every candidate pairs the local
// port with its public twin (AnnounceStart + the local port's offset),
// LocalPort inverts it and leaves other ports alone, and a public range
// that would pass 65535 is refused.
func TestAnnouncedPorts(t *testing.T) {
	a, err := NewAllocator(Options{Start: 50000, End: 50009, AnnounceStart: 60000, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	n := a.NumberAttempts()
	seen := map[int]bool{}
	for range n {
		exposed, listened, ok := a.FetchNext()
		if !ok {
			break
		}
		if listened < 50000 || listened > 50009 || exposed != listened+10000 {
			t.Errorf("candidate announced %d for local %d, want local+10000 within 50000-50009", exposed, listened)
		}
		if got := a.LocalPort(exposed); got != listened {
			t.Errorf("LocalPort(%d) = %d, want %d", exposed, got, listened)
		}
		seen[listened] = true
	}
	if len(seen) != 10 {
		t.Errorf("a round proposed %d distinct ports, want 10", len(seen))
	}
	for _, p := range []int{59999, 60010, 50000, 21} {
		if got := a.LocalPort(p); got != p {
			t.Errorf("LocalPort(%d) outside the announced range = %d, want it unchanged", p, got)
		}
	}
	plain, err := NewAllocator(Options{Start: 50000, End: 50009, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.LocalPort(50003); got != 50003 {
		t.Errorf("without translation LocalPort(50003) = %d", got)
	}
	if _, err := NewAllocator(Options{Start: 50000, End: 50009, AnnounceStart: 65530, Logger: zap.NewNop()}); err == nil {
		t.Error("an announced range 65530-65539 was accepted")
	}
}
