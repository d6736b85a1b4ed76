package driver_test

import (
	"testing"

	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
)

// filteringSink is an eventSink that wants only some events, as a
// hooks.Dispatcher wants only what its hooks take (hooks.Filter).
type filteringSink struct {
	eventSink
	wants func(hooks.Event) bool
}

func (s *filteringSink) Wants(ev hooks.Event) bool { return s.wants(ev) }

// TestEventsOnlyWhatTheHooksWant: with hooks that take only uploads under
// /in/, a download and an upload elsewhere emit nothing, so that their
// SHA-256 (the largest cost of a transfer after the cipher) is not
// computed; an upload under /in/ emits its event with its checksum.
func TestEventsOnlyWhatTheHooksWant(t *testing.T) {
	sink := &filteringSink{wants: func(ev hooks.Event) bool {
		return ev.Kind == hooks.Upload && ev.User == userName && ev.Path == "/in/a.bin"
	}}
	ts := startServerWith(t, nil, []driver.Option{driver.WithEvents(sink)})
	data := ftptest.RandomData(t, 1<<20)
	ftptest.WriteFile(t, ts.AliceDir(), "big.bin", data)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	defer c.Quit()
	ftptest.MustSameData(t, "RETR big.bin", c.Retr("big.bin"), data)
	c.Stor("other.bin", data)
	c.Do(257, "MKD in")
	c.Stor("in/a.bin", data)
	waitLogs(t, ts, "transfer", map[string]any{"direction": "upload", "path": "/in/a.bin", "result": "ok"}, 1)
	sink.mustHave(t, hooks.Download, 0)
	up := sink.mustHave(t, hooks.Upload, 1)[0]
	if up.Path != "/in/a.bin" || up.SHA256 != ftptest.SHA256Hex(data) {
		t.Fatalf("upload event %+v, want /in/a.bin with the data's SHA-256", up)
	}
}
