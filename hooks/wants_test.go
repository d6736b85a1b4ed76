package hooks

import (
	"testing"

	"ftpsd/config"
)

// TestDispatcherWants: the dispatcher wants an event when one of its
// hooks does, as the hooks are after a reload; without hooks, nothing.
func TestDispatcherWants(t *testing.T) {
	h := open(t, testEvents(t.TempDir()), []config.Hook{{
		Events: []string{Upload}, Path: "/in/*", Command: []string{"/bin/true"},
	}})
	var _ Filter = h.d
	in := Event{Kind: Upload, User: "bob", Path: "/in/a.csv"}
	for _, tc := range []struct {
		e    Event
		want bool
	}{
		{in, true},
		{Event{Kind: Upload, User: "bob", Path: "/out/a.csv"}, false},
		{Event{Kind: Download, User: "bob", Path: "/in/a.csv"}, false},
	} {
		if got := h.d.Wants(tc.e); got != tc.want {
			t.Errorf("Wants(%+v) = %v, want %v", tc.e, got, tc.want)
		}
	}
	commit, err := h.d.PrepareReload([]config.Hook{{Events: []string{Download}, Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if h.d.Wants(in) || !h.d.Wants(Event{Kind: Download, User: "bob", Path: "/out/b"}) {
		t.Errorf("after a reload to download hooks: Wants(upload) = %v, Wants(download) = %v, want false, true",
			h.d.Wants(in), h.d.Wants(Event{Kind: Download, User: "bob", Path: "/out/b"}))
	}
	none := open(t, config.Events{}, nil)
	if none.d.Wants(in) {
		t.Error("a dispatcher without hooks wants an event")
	}
}
