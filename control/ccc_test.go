package control

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// cccClient speaks the control protocol byte by byte and, like a careful
// FTPS client, never lets its TLS layer read past a record, so that it can
// go back to clear text after CCC.
type cccClient struct {
	dialog
	raw   net.Conn
	w     *wire
	hold  *holdConn
	tc    *tls.Conn
	plain []byte
}

// holdConn collects writes while holding, to send them in one segment.
type holdConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     bytes.Buffer
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.holding {
		return h.buf.Write(p)
	}
	return h.Conn.Write(p)
}

func (h *holdConn) hold() { h.mu.Lock(); h.holding = true; h.mu.Unlock() }

// flush sends everything held in one write (one TCP segment on loopback).
func (h *holdConn) flush(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
	// CloseWrite left the write deadline at "now".
	_ = h.Conn.SetWriteDeadline(time.Time{})
	if _, err := h.Conn.Write(h.buf.Bytes()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	h.buf.Reset()
}

func cccDial(t *testing.T, addr string) *cccClient {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = raw.Close() })
	c := &cccClient{raw: raw, w: &wire{conn: raw}, hold: &holdConn{Conn: raw}}
	c.dialog = dialog{t: t, peer: c}
	c.expect("220")
	return c
}

// writer is TLS once negotiated, the clear wire otherwise.
func (c *cccClient) writer() io.Writer {
	if c.tc != nil {
		return c.tc
	}
	return c.raw
}

// readLine reads one reply line from TLS or from the clear wire.
func (c *cccClient) readLine() (string, error) {
	src := &c.w.buf
	if c.tc != nil || len(c.plain) > 0 {
		src = &c.plain
	}
	for {
		if i := bytes.IndexByte(*src, '\n'); i >= 0 {
			line := string((*src)[:i+1])
			*src = (*src)[i+1:]
			return line, nil
		}
		var err error
		if c.tc != nil {
			var buf [512]byte
			var n int
			n, err = c.tc.Read(buf[:])
			c.plain = append(c.plain, buf[:n]...)
		} else {
			err = c.w.fill()
		}
		if err != nil {
			return "", err
		}
	}
}

func (c *cccClient) startTLS() {
	c.t.Helper()
	c.cmd("AUTH TLS", "234")
	c.tc = clientTLS(c.t, &recordConn{Conn: c.hold, records: &recordReader{w: c.w}})
}

// closeNotifyWith sends the client's close_notify and line in one segment.
func (c *cccClient) closeNotifyWith(line string) {
	c.t.Helper()
	c.hold.hold()
	if err := c.tc.CloseWrite(); err != nil {
		c.t.Fatal(err)
	}
	c.hold.Write([]byte(line + "\r\n"))
	c.hold.flush(c.t)
}

// serverCloseNotify reads the server's close_notify through TLS.
func (c *cccClient) serverCloseNotify() {
	c.t.Helper()
	var buf [64]byte
	if n, err := c.tc.Read(buf[:]); !errors.Is(err, io.EOF) {
		c.t.Fatalf("want the server's close_notify, got %d bytes, %v", n, err)
	}
}

// loggedInConn returns the server side of the next connection, logged in.
func loggedInConn(t *testing.T, s *echoServer) *Conn {
	t.Helper()
	conn := <-s.conns
	conn.SetLoggedIn("alice")
	return conn
}

// startCCC connects a client, logged in, to a new server that allows CCC
// with wait and caps TLS at version (0: no cap), negotiates TLS and has CCC
// accepted. It returns the client and the server side.
func startCCC(t *testing.T, wait time.Duration, version uint16) (*cccClient, *Conn) {
	t.Helper()
	s := startEchoWith(t, Options{AllowCCC: true, CCCWait: wait})
	s.maxVersion(version)
	c := cccDial(t, s.addr)
	conn := loggedInConn(t, s)
	c.startTLS()
	c.cmd("CCC", "200 CCC")
	return c, conn
}

func TestCCCClientClosesFirstWithNextCommandInSameSegment(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c, conn := startCCC(t, 5*time.Second, version)
			start := time.Now()
			c.closeNotifyWith("PWD")
			c.serverCloseNotify()
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("server waited %s although the client closed first", d)
			}
			c.tc = nil
			c.expect("200 got PWD") // the command that shared the segment was kept
			c.cmd("PASV", "200 got PASV")
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
	start := time.Now()
	c.serverCloseNotify()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("server close_notify after %s, want about the CCC wait", d)
	}
	c.tc = nil
	c.cmd("PWD", "200 got PWD")
}

// A client may send its close_notify only after reading the server's.
func TestCCCLateClientCloseNotifyIsConsumed(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			c, _ := startCCC(t, 50*time.Millisecond, version)
			c.serverCloseNotify()
			c.closeNotifyWith("NOOP")
			c.tc = nil
			c.expect("200 got NOOP")
		})
	}
}

func TestCCCRefusals(t *testing.T) {
	allow := startEchoWith(t, Options{AllowCCC: true})
	deny := startEchoWith(t, Options{AllowCCC: false})

	c := cccDial(t, allow.addr) // clear channel
	loggedInConn(t, allow)
	c.cmd("CCC", "533")

	c = cccDial(t, allow.addr) // TLS, not logged in
	<-allow.conns
	c.startTLS()
	c.cmd("CCC", "503")
	c.cmd("NOOP", "200 got NOOP") // still TLS, still serving

	c = cccDial(t, deny.addr) // policy
	loggedInConn(t, deny)
	c.startTLS()
	c.cmd("CCC", "534")
}

func TestFEATListsCCCOnlyWhenAllowed(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		s := startEchoWith(t, Options{AllowCCC: allowed})
		c := cccDial(t, s.addr)
		c.startTLS()
		c.send("FEAT")
		var lines []string
		for {
			line := c.expect("")
			lines = append(lines, strings.TrimSpace(line))
			if strings.HasPrefix(line, "211 ") {
				break
			}
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
	c.serverCloseNotify()
	c.tc = nil
	c.w = &wire{conn: c.raw, buf: c.w.buf}
	c.startTLS()
	c.cmd("PWD", "200 got PWD")
	if st := conn.State(); !st.TLS || st.Cleared {
		t.Fatalf("state after second AUTH: %+v", st)
	}
}

func TestCCCWaitFollowsTheClientsReactionTime(t *testing.T) {
	c := &Conn{opts: &Options{}}
	if got := c.cccWait(); got != MinCCCWait {
		t.Fatalf("no history: wait %v, want %v", got, MinCCCWait)
	}
	c.turnaround = [turnarounds]time.Duration{time.Millisecond, 20 * time.Millisecond, 2 * time.Millisecond}
	if got := c.cccWait(); got != 80*time.Millisecond {
		t.Fatalf("slowest 20ms: wait %v, want 80ms", got)
	}
	c.turnaround[0] = 3 * time.Second // a person pausing
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
		c.firstClear = true // as clearTLS leaves it
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
