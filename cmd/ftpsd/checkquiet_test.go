package main

import (
	"fmt"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
)

// TestCheckQuiet checks "ftpsd check -quiet", the unit's ExecStartPre=:
// nothing on standard output for a valid configuration (the journal gets
// no copy of the settings at each start), and the error naming the key
// for a bad one.
func TestCheckQuiet(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	good := goodConfig(ftptest.HashPassword(t, "alice-secret"),
		fmt.Sprintf("self_signed = false\ncert_file = %q\nkey_file = %q", certFile, keyFile))
	r := runFtpsd(t, "", "check", "-quiet", "-config", writeText(t, dir, "good.toml", good))
	if r.code != exitOK || r.stdout != "" || r.stderr != "" {
		t.Errorf("check -quiet of a valid configuration: %v, want exit 0 and no output", r)
	}
	bad := strings.Replace(good, `idle_timeout = "2m"`, `idle_timeout = "soon"`, 1)
	if bad == good {
		t.Fatal("the test configuration has no idle_timeout to spoil")
	}
	r = runFtpsd(t, "", "check", "-quiet", "-config", writeText(t, dir, "bad.toml", bad))
	if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "idle_timeout") {
		t.Errorf("check -quiet of a bad configuration: %v, want exit 1 and the error naming idle_timeout", r)
	}
}
