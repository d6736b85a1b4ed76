package config

import (
	"strings"
	"testing"
	"time"
)

// TestHookKeysValidated checks that each bad [[hooks]] or [events] value
// is reported with its key.
func TestHookKeysValidated(t *testing.T) {
	_, err := Parse(`
[[hooks]]
events = ["upload", "uploaded"]
users = [""]
path = "in/**"
command = ["ingest", "{path}", "{paht}"]
secret_file = "/etc/secret"
timeout = "10ms"

[[hooks]]
events = []
url = "ftp://example.net/"

[[hooks]]
events = ["login"]
command = ["/bin/true"]
url = "https://example.net/"

[[hooks]]
events = ["delete"]

[events]
spool_max_events = 0
max_running = 0
max_attempts = -1
retry_min_delay = "1ms"
retry_max_delay = "0s"
`)
	if err == nil {
		t.Fatal("Parse accepted bad hook values")
	}
	for _, key := range []string{
		`hooks[0].events: "uploaded" is not one of`, "hooks[0].users:", "hooks[0].path:",
		`hooks[0].command: the program "ingest" must be an absolute path`, "hooks[0].command: {paht} is not one of",
		"hooks[0].secret_file: only with url", "hooks[0].timeout:",
		"hooks[1].events: required", "hooks[1].url:", "hooks[1].secret_file: required",
		"hooks[2].command: set command or url, not both", "hooks[3]: set command or url",
		"events.spool_dir: required", "events.spool_max_events:", "events.max_running:",
		"events.max_attempts:", "events.retry_min_delay:", "events.retry_max_delay:",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no problem reported for %s in:\n%v", key, err)
		}
	}
}

// TestHookDefaults checks the defaults of a minimal hook and of [events].
func TestHookDefaults(t *testing.T) {
	cfg, err := Parse(`
[[hooks]]
events = ["upload"]
url = "https://hooks.example.net/ftpsd"
secret_file = "/etc/ftpsd/hook-secret"

[events]
spool_dir = "/var/spool/ftpsd"
`)
	if err != nil {
		t.Fatal(err)
	}
	h, e := cfg.Hooks[0], cfg.Events
	if h.EffectiveTimeout() != 30*time.Second || len(h.Users) != 0 || h.Path != "" {
		t.Errorf("hook defaults: %+v, timeout %s", h, h.EffectiveTimeout())
	}
	if e.SpoolMaxEvents != 10000 || e.MaxRunning != 4 || e.MaxAttempts != 25 ||
		e.RetryMinDelay.Std() != time.Second || e.RetryMaxDelay.Std() != 10*time.Minute {
		t.Errorf("[events] defaults: %+v", e)
	}
}
