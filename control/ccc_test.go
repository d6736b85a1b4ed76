package control

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
)

// loggedInConn returns the server side of the next connection, logged in.
func loggedInConn(t *testing.T, s *echoServer) *Conn {
	t.Helper()
	conn := <-s.conns
	conn.SetLoggedIn("alice")
	return conn
}

// startCCC connects a client, logged in, to a new server that allows CCC
// with wait and caps TLS at version (0: no cap), and negotiates TLS. It
// returns the client and the server side.
func startCCC(t *testing.T, wait time.Duration, version uint16) (*ftptest.MustClient, *Conn) {
	t.Helper()
	s := startEchoWith(t, Options{AllowCCC: true, CCCWait: wait})
	s.maxVersion(version)
	c := dial(t, s.addr)
	conn := loggedInConn(t, s)
	c.AuthTLS()
	return c, conn
}

func TestCCCClientClosesFirstWithNextCommandInSameSegment(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c, conn := startCCC(t, 5*time.Second, version)
			if d := c.ClearControlThen(ftptest.ClientFirst, "PWD"); d > 2*time.Second {
				t.Fatalf("server waited %s although the client closed first", d)
			}
			expect(t, c, "200 got PWD") // the command that shared the segment was kept
			cmd(t, c, "PASV", "200 got PASV")
			st := conn.State()
			if st.TLS || !st.Cleared || !st.Protected() || st.Version != version {
				t.Fatalf("state after CCC: %+v", st)
			}
		})
	}
}

// curl's default CCC mode never sends close_notify first.
func TestCCCClientWaitsForServer(t *testing.T) {
	c, _ := startCCC(t, 100*time.Millisecond, 0)
	if d := c.ClearControl(ftptest.ServerOnly); d > time.Second {
		t.Fatalf("server close_notify after %s, want about the CCC wait", d)
	}
	cmd(t, c, "PWD", "200 got PWD")
}

// A client may send its close_notify only after reading the server's.
func TestCCCLateClientCloseNotifyIsConsumed(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c, _ := startCCC(t, 50*time.Millisecond, version)
			c.ClearControlThen(ftptest.ServerThenClient, "NOOP")
			expect(t, c, "200 got NOOP")
		})
	}
}

func TestCCCRefusals(t *testing.T) {
	allow := startEchoWith(t, Options{AllowCCC: true})
	deny := startEchoWith(t, Options{AllowCCC: false})

	c := dial(t, allow.addr) // clear channel
	loggedInConn(t, allow)
	cmd(t, c, "CCC", "533")

	c = dial(t, allow.addr) // TLS, not logged in
	<-allow.conns
	c.AuthTLS()
	cmd(t, c, "CCC", "503")
	cmd(t, c, "NOOP", "200 got NOOP") // still TLS, still serving

	c = dial(t, deny.addr) // policy
	loggedInConn(t, deny)
	c.AuthTLS()
	cmd(t, c, "CCC", "534")
}

func TestFEATListsCCCOnlyWhenAllowed(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		s := startEchoWith(t, Options{AllowCCC: allowed})
		c := dial(t, s.addr)
		c.AuthTLS()
		lines := strings.Split(cmd(t, c, "FEAT", "211").Msg, "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		got := strings.Contains(strings.Join(lines, "|"), "|PROT|CCC|")
		if got != allowed {
			t.Fatalf("allowed=%v: FEAT %q", allowed, lines)
		}
	}
}

// After CCC a second AUTH TLS negotiates TLS again.
func TestAuthAfterCCCRenegotiates(t *testing.T) {
	c, conn := startCCC(t, 50*time.Millisecond, 0)
	c.ClearControl(ftptest.ServerOnly)
	c.AuthTLS()
	cmd(t, c, "PWD", "200 got PWD")
	if st := conn.State(); !st.TLS || st.Cleared {
		t.Fatalf("state after second AUTH: %+v", st)
	}
}

func TestCCCWaitFollowsTheClientsReactionTime(t *testing.T) {
	c := &Conn{opts: &Options{}}
	if got := c.cccWait(); got != MinCCCWait {
		t.Fatalf("no history: wait %v, want %v", got, MinCCCWait)
	}
	c.in.reactions.recent = [turnarounds]time.Duration{time.Millisecond, 20 * time.Millisecond, 2 * time.Millisecond}
	if got := c.cccWait(); got != 80*time.Millisecond {
		t.Fatalf("slowest 20ms: wait %v, want 80ms", got)
	}
	c.in.reactions.recent[0] = 3 * time.Second // a person pausing
	if got := c.cccWait(); got != DefaultCCCWait {
		t.Fatalf("slow client: wait %v, want the cap %v", got, DefaultCCCWait)
	}
	c.opts.CCCWait = 60 * time.Millisecond
	if got := c.cccWait(); got != 60*time.Millisecond {
		t.Fatalf("configured cap: wait %v, want 60ms", got)
	}
}

// TestFirstPassiveReplyAfterCCCIsAligned: the first clear-text reply after
// CCC, when it is a 227/229, starts with a line of its own in a separate
// write, so that an inspector that parses only segments starting after a
// newline (Linux's conntrack ftp helper) parses the address line.
func TestFirstPassiveReplyAfterCCCIsAligned(t *testing.T) {
	for _, tc := range []struct {
		replies []string
		want    []string
	}{
		{
			[]string{"227 Entering Passive Mode (192,0,2,2,117,48)\r\n", "227 Entering Passive Mode (192,0,2,2,117,49)\r\n"},
			[]string{"227" + inspectorLine, "227 Entering Passive Mode (192,0,2,2,117,48)\r\n", "227 Entering Passive Mode (192,0,2,2,117,49)\r\n"},
		},
		{
			[]string{"229 Entering Extended Passive Mode (|||30000|)\r\n"},
			[]string{"229" + inspectorLine, "229 Entering Extended Passive Mode (|||30000|)\r\n"},
		},
		{
			// Another first reply ends with a newline itself: nothing added.
			[]string{"257 \"/\" is the current directory\r\n", "227 Entering Passive Mode (192,0,2,2,117,48)\r\n"},
			[]string{"257 \"/\" is the current directory\r\n", "227 Entering Passive Mode (192,0,2,2,117,48)\r\n"},
		},
	} {
		c, raw := newTestConn(NewRegistry())
		c.out.firstClear = true // as clearTLS leaves it
		for _, r := range tc.replies {
			mustWrite(t, c, r)
		}
		if !slices.Equal(raw.writes, tc.want) {
			t.Errorf("writes %q, want %q", raw.writes, tc.want)
		}
	}
	if strings.ContainsAny(inspectorLine, "0123456789()|,") {
		t.Fatalf("%q would confuse clients that search the whole reply for the address", inspectorLine)
	}
}
