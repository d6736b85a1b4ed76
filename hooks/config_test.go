package hooks

import (
	"slices"
	"testing"

	"go.uber.org/zap"

	"ftpsd/config"
)

// TestKindsAndPlaceholdersMatchConfig keeps the kinds of event and the
// placeholders that config validates the same as those hooks knows.
func TestKindsAndPlaceholdersMatchConfig(t *testing.T) {
	kinds := []string{Upload, Download, Delete, Rename, Mkdir, Rmdir, Login, LoginFailed}
	if !slices.Equal(kinds, config.HookEvents) {
		t.Errorf("config.HookEvents = %v, hooks has %v", config.HookEvents, kinds)
	}
	var names []string
	for _, v := range (&message{}).values() {
		names = append(names, "{"+v.name+"}")
	}
	if !slices.Equal(names, config.HookPlaceholders) {
		t.Errorf("config.HookPlaceholders = %v, a command gets %v", config.HookPlaceholders, names)
	}
}

// TestHookFilters checks which events a hook with filters wants.
func TestHookFilters(t *testing.T) {
	hooks, err := buildHooks([]config.Hook{{
		Events: []string{Upload, Rename}, Users: []string{"acme-bank", "bob"}, Path: "/in/*.csv", Command: []string{"/bin/true"},
	}}, actionEnv{logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	h := hooks[0]
	for _, tc := range []struct {
		e    Event
		want bool
	}{
		{Event{Kind: Upload, User: "acme-bank", Path: "/in/a.csv"}, true},
		{Event{Kind: Upload, User: "bob", Path: "/in/b.csv"}, true},
		{Event{Kind: Upload, User: "carol", Path: "/in/a.csv"}, false},
		{Event{Kind: Download, User: "acme-bank", Path: "/in/a.csv"}, false},
		{Event{Kind: Upload, User: "acme-bank", Path: "/in/sub/a.csv"}, false}, // * stops at /
		{Event{Kind: Upload, User: "acme-bank", Path: "/in/a.txt"}, false},
		{Event{Kind: Rename, User: "acme-bank", Path: "/tmp/a.part", TargetPath: "/in/a.csv"}, true},
		{Event{Kind: Rename, User: "acme-bank", Path: "/in/a.csv", TargetPath: "/done/a.csv"}, true},
	} {
		if got := h.wants(tc.e); got != tc.want {
			t.Errorf("wants(%+v) = %v, want %v", tc.e, got, tc.want)
		}
	}
	plain, _ := buildHooks([]config.Hook{{Events: []string{Login}, Command: []string{"/bin/true"}}}, actionEnv{logger: zap.NewNop()})
	if !plain[0].wants(Event{Kind: Login, User: "x"}) {
		t.Errorf("a hook without filters does not want a login")
	}
}

// TestActionID checks that a hook's id follows its action only.
func TestActionID(t *testing.T) {
	a := actionID("command", "/usr/local/bin/ingest", "{path}")
	if a != actionID("command", "/usr/local/bin/ingest", "{path}") {
		t.Errorf("the id of one action changes")
	}
	for _, other := range []string{actionID("command", "/usr/local/bin/ingest"), actionID("command", "/usr/local/bin/ingest{path}"),
		actionID("url", "/usr/local/bin/ingest", "{path}")} {
		if other == a {
			t.Errorf("two actions share the id %s", a)
		}
	}
}

// TestSignature checks the signature against one computed by hand:
// printf '1700000000.{"id":"x"}' | openssl dgst -sha256 -hmac key
func TestSignature(t *testing.T) {
	got := Sign([]byte("key"), "1700000000", []byte(`{"id":"x"}`))
	const want = "sha256=c275209bfed50f54f9b0d8dafaf250f3f08155fdaadece7fc4d3f5c7e3c8b6ba"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}
