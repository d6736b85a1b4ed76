package probe

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestParse227(t *testing.T) {
	host, port, err := parse227("227 Entering Passive Mode (192,0,2,2,117,49).")
	if err != nil || host != "192.0.2.2" || port != 117<<8|49 {
		t.Errorf("parse227: %q %d %v, want 192.0.2.2 30001", host, port, err)
	}
	for _, bad := range []string{"227 Entering Passive Mode", "227 (1,2,3,4,5)", "227 (1,2,3,4,5,256)", "227 (a,2,3,4,5,6)"} {
		if _, _, err := parse227(bad); err == nil {
			t.Errorf("parse227(%q): no error", bad)
		}
	}
}

func TestParse229(t *testing.T) {
	if port, err := parse229("229 Entering Extended Passive Mode (|||30000|)"); err != nil || port != 30000 {
		t.Errorf("parse229: %d %v, want 30000", port, err)
	}
	for _, bad := range []string{"229 Entering Extended Passive Mode", "229 (|||0|)", "229 (|||x|)", "229 (|||70000|)"} {
		if _, err := parse229(bad); err == nil {
			t.Errorf("parse229(%q): no error", bad)
		}
	}
}

// TestReplyMultiLine reads a multi-line FEAT reply whose inner lines start
// with a space, then a single-line reply, over a real socket pair.
func TestReplyMultiLine(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		_, _ = b.Write([]byte("211-Features:\r\n CCC\r\n PROT\r\n211 End\r\n200 ok\r\n"))
	}()
	c := newCtrl(a, time.Second)
	code, msg, err := c.reply()
	if err != nil || code != 211 || !strings.Contains(msg, "\n CCC\n") || !strings.HasSuffix(msg, "211 End") {
		t.Errorf("FEAT reply: %d %q %v", code, msg, err)
	}
	if code, msg, err = c.reply(); err != nil || code != 200 || msg != "200 ok" {
		t.Errorf("second reply: %d %q %v", code, msg, err)
	}
	if c.broken != nil {
		t.Errorf("broken after complete replies: %v", c.broken)
	}
}
