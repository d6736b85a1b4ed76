package pasv

import (
	"errors"
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"ftpsd/internal/ftptest"
)

// TestReserveCapsAnAddress: the sessions of one address hold at most
// MaxPerIP ports (reserved, then claimed); another address is not
// counted, a session's own listener is not counted against itself, and a
// port given back makes room again.
func TestReserveCapsAnAddress(t *testing.T) {
	r := ftptest.PortRange(t, 4)
	a, err := NewAllocator(Options{Start: r.Start, End: r.End, MaxPerIP: 2, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	nat, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for owner := uint64(1); owner <= 2; owner++ {
		if err := a.Reserve(owner, nat); err != nil {
			t.Fatalf("session %d: %v", owner, err)
		}
		port, l, _, err := libPASV(a, a.WrapPassiveListener)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a.Claim(port, owner)
	}
	if err := a.Reserve(3, nat); !errors.Is(err, ErrAddressCap) {
		t.Fatalf("third session of %s: got %v, want ErrAddressCap", nat, err)
	}
	if err := a.Reserve(2, nat); err != nil { // its own port is about to be replaced
		t.Fatalf("session 2 again: %v", err)
	}
	if err := a.Reserve(4, other); err != nil {
		t.Fatalf("session of %s: %v", other, err)
	}
	if n := a.ReleaseOwned(1); n != 1 {
		t.Fatalf("ReleaseOwned(1) closed %d listeners, want 1", n)
	}
	if err := a.Reserve(3, nat); err != nil {
		t.Fatalf("third session after a port came back: %v", err)
	}
}

// TestReserveNoCapForWholeRange: a cap of the whole range is no cap (the
// range runs out first, and a PASV waits for it as for any port).
func TestReserveNoCapForWholeRange(t *testing.T) {
	r := ftptest.PortRange(t, 2)
	a, err := NewAllocator(Options{Start: r.Start, End: r.End, MaxPerIP: 2, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	for owner := uint64(1); owner <= 5; owner++ {
		if err := a.Reserve(owner, netip.MustParseAddr("192.0.2.1")); err != nil {
			t.Fatalf("session %d: %v", owner, err)
		}
	}
}
