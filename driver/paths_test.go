package driver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
)

// TestE2ERepliesShowNoHostPaths makes the filesystem fail in every command
// that touches it: no reply may show where the home is on the host, and
// the failures name the user's own path.
func TestE2ERepliesShowNoHostPaths(t *testing.T) {
	ts, _ := serveFile(t, nil, "keep.bin", 1000)
	if err := os.Mkdir(filepath.Join(ts.AliceDir(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(ts.AliceDir(), "out")); err != nil {
		t.Fatal(err)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	var replies []ftptest.Reply
	// transfer sends command over a fresh data connection and collects
	// every reply up to the final one.
	transfer := func(command string) {
		data := c.DialData(c.EPSV())
		defer data.Close()
		r := c.Cmd("%s", command)
		replies = append(replies, r)
		if r.Code != 150 {
			return
		}
		x, err := c.Attach(data, command)
		if err == nil {
			_, _ = x.Receive()
			_ = x.Raw.Close()
		}
		replies = append(replies, c.Reply())
	}
	transfer("RETR sub")
	transfer("RETR .")
	transfer("RETR out/x")
	c.Do(350, "REST 5")
	transfer("RETR sub")
	c.Do(350, "REST -1")
	transfer("RETR keep.bin")
	transfer("STOR missing/x.bin")
	transfer("LIST missing")
	transfer("MLSD out")
	for _, cmd := range []string{"SIZE missing", "MDTM missing", "CWD missing", "CWD out", "MKD sub",
		"RMD missing", "DELE missing", "STAT missing", "RNFR missing", "MLST out/x", "RMD sub/missing/deeper"} {
		replies = append(replies, c.Cmd("%s", cmd))
	}
	c.Do(350, "RNFR keep.bin")
	replies = append(replies, c.Cmd("RNTO missing/keep.bin"))
	for _, r := range replies {
		t.Logf("%v", r)
		if strings.Contains(r.Msg, ts.Root) || strings.Contains(r.Msg, filepath.Dir(ts.Root)) {
			t.Errorf("reply shows the host path %s: %v", ts.Root, r)
		}
		if r.Code >= 400 && strings.Contains(r.Msg, " missing") && !strings.Contains(r.Msg, "/missing") {
			t.Errorf("reply does not name the user's path: %v", r)
		}
	}
	c.Quit()
}
