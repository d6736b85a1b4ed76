package ticketbind

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestDecide is the binding decision: channel state (TLS or cleared by
// CCC) x resumed or not x same or other address x the two keys.
func TestDecide(t *testing.T) {
	client := netip.MustParseAddr("198.51.100.2")
	other := netip.MustParseAddr("198.51.100.3")
	tests := []struct {
		cleared, resumed bool
		from             netip.Addr
		reuse, afterCCC  bool
		want             Verdict
		ticketless       bool
	}{
		// A client whose control channel took no ticket cannot resume.
		{false, false, client, true, false, AcceptByAddress, true},
		{false, false, other, true, false, RefuseOtherAddress, true},
		{true, false, client, true, true, RefuseNotResumed, true},
		{true, false, client, true, false, AcceptByAddress, true},
		// Control channel still TLS.
		{false, true, client, true, false, Accept, false},
		{false, false, client, true, false, RefuseNotResumed, false},
		{false, false, client, true, true, RefuseNotResumed, false},
		{false, false, client, false, false, Accept, false},
		{false, true, other, true, false, RefuseOtherAddress, false},
		{false, false, other, false, false, RefuseOtherAddress, false},
		// Cleared by CCC.
		{true, true, client, true, false, Accept, false},
		{true, false, client, true, false, AcceptByAddress, false},
		{true, false, client, true, true, RefuseNotResumed, false},
		{true, false, client, false, true, Accept, false},
		{true, true, other, true, false, RefuseOtherAddress, false},
		{true, false, other, true, false, RefuseOtherAddress, false},
		{true, false, other, false, false, RefuseOtherAddress, false},
		{true, false, other, true, true, RefuseOtherAddress, false},
	}
	for _, tt := range tests {
		o := Owner{ID: 1, Client: client, User: "alice", Cleared: tt.cleared, RequireReuse: tt.reuse, RequireReuseAfterCCC: tt.afterCCC, Ticketless: tt.ticketless}
		if got := Decide(o, tt.from, tt.resumed); got != tt.want {
			t.Errorf("cleared=%v resumed=%v from=%v reuse=%v afterCCC=%v ticketless=%v: %v, want %v",
				tt.cleared, tt.resumed, tt.from, tt.reuse, tt.afterCCC, tt.ticketless, got, tt.want)
		}
	}
	mapped := netip.AddrFrom16(client.As16())
	if got := Decide(Owner{Client: client, RequireReuse: true}, mapped, true); got != Accept {
		t.Errorf("IPv4-mapped client address: %v, want Accept", got)
	}
}

func TestRefusalError(t *testing.T) {
	o := Owner{ID: 3, User: "alice", Client: netip.MustParseAddr("198.51.100.2")}
	notResumed := &RefusalError{Owner: o, Verdict: RefuseNotResumed}
	if !errors.Is(notResumed, ErrSessionNotReused) || errors.Is(notResumed, ErrOtherAddress) {
		t.Errorf("%v: wrong sentinel", notResumed)
	}
	if a := notResumed.Admit(); !strings.Contains(a, `require_session_reuse = false in the [[users]] block of "alice"`) {
		t.Errorf("Admit = %q", a)
	}
	o.Cleared = true
	if a := (&RefusalError{Owner: o, Verdict: RefuseNotResumed}).Admit(); !strings.Contains(a, "tls.require_session_reuse_after_ccc = false") {
		t.Errorf("Admit after CCC = %q", a)
	}
	otherAddr := &RefusalError{Owner: o, From: netip.MustParseAddr("198.51.100.3"), Verdict: RefuseOtherAddress}
	if !errors.Is(otherAddr, ErrOtherAddress) || otherAddr.Admit() != "" {
		t.Errorf("%v: sentinel or admit wrong (%q)", otherAddr, otherAddr.Admit())
	}
	noOwner := &RefusalError{NoOwner: true}
	if !errors.Is(noOwner, ErrSessionNotReused) || !strings.Contains(noOwner.Error(), "no control session") {
		t.Errorf("%v: wrong", noOwner)
	}
}
