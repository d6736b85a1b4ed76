package driver_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Deadlines on passive data connections (passive.connect_timeout,
// server.transfer_stall_timeout) and the cap on the ports of one address
// (passive.max_ports_per_ip): a client that never connects, never
// completes its handshake, never reads or never sends loses its port, and
// one address cannot take the whole range.

// deadlineServer runs a server with one passive port, short deadlines and
// passive.wait = 0, so that a held port shows as a 425 at once.
func deadlineServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, 1))
		c.Passive.Wait = 0
		c.Passive.ConnectTimeout = config.Duration(time.Second)
		c.Server.TransferStallTimeout = config.Duration(time.Second)
	})
}

// mustGetPort fails unless a new session's PASV gets the port of the
// one-port range within 10s (the deadline of its holder released it), and
// returns that session.
func mustGetPort(t *testing.T, ts *testServer) *ftptest.MustClient {
	t.Helper()
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	var r ftptest.Passive
	if !ftptest.Eventually(10*time.Second, func() bool {
		r = c.Pasv(false)
		return r.Code == 227
	}) {
		t.Fatalf("the passive port was not released: a new session's PASV still gets %v", r.Reply)
	}
	if !ts.Cfg.Passive.Ports.Contains(r.Port) {
		t.Fatalf("PASV announced %d, outside %s", r.Port, ts.Cfg.Passive.Ports)
	}
	return c
}

// expectReply reads a reply within the client's timeout and wants code and
// text in it.
func expectReply(t *testing.T, c *ftptest.MustClient, code int, text string) {
	t.Helper()
	r := c.Reply()
	if r.Code != code || !strings.Contains(r.Msg, text) {
		t.Fatalf("got %v, want %d naming %s", r, code, text)
	}
}

// TestE2EConnectTimeoutIdleListener: a session that sends PASV and then
// only NOOP loses the port after passive.connect_timeout; its later RETR
// gets 425 that says why.
func TestE2EConnectTimeoutIdleListener(t *testing.T) {
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("f\n"))
	a := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	a.PASV()
	a.Do(200, "NOOP")
	b := mustGetPort(t, ts)
	a.Send("RETR f.txt")
	expectReply(t, a, 425, "passive.connect_timeout")
	b.Quit()
	got, err := a.Client.Retr("f.txt") // a new EPSV works again
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR", got, []byte("f\n"))
	a.Quit()
}

// TestE2EConnectTimeoutHandshake: a data connection that never starts its
// TLS handshake is closed after passive.connect_timeout; the transfer
// fails with 426 and the port is released.
func TestE2EConnectTimeoutHandshake(t *testing.T) {
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("f\n"))
	a := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV()) // TCP only: no ClientHello
	defer data.Close()
	a.Do(150, "RETR f.txt")
	expectReply(t, a, 426, "passive.connect_timeout")
	if got, _ := readAllBounded(data, 5*time.Second); len(got) != 0 {
		t.Fatalf("%d bytes on a data connection without TLS", len(got))
	}
	mustGetPort(t, ts).Quit()
	a.Quit()
}

// TestE2EStallDownload: a client that stops reading a download loses it
// after server.transfer_stall_timeout (426) and the port is released.
func TestE2EStallDownload(t *testing.T) {
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "big.bin", ftptest.RandomData(t, 24<<20)) // more than the socket buffers hold
	a := ftptest.Dialer{Timeout: 15 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV())
	a.Do(150, "RETR big.bin")
	x, err := a.Client.Attach(data, "RETR") // the handshake, then no read
	if err != nil {
		t.Fatal(err)
	}
	defer x.Raw.Close()
	expectReply(t, a, 426, "server.transfer_stall_timeout")
	mustGetPort(t, ts).Quit()
	a.Quit()
}

// TestE2EStallUpload: an upload that stops sending fails after
// server.transfer_stall_timeout (426), the stored file keeps its content
// and the port is released.
func TestE2EStallUpload(t *testing.T) {
	ts := deadlineServer(t)
	old := ftptest.RandomData(t, 4096)
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	a := ftptest.Dialer{Timeout: 15 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV())
	a.Do(150, "STOR keep.bin")
	x, err := a.Client.Attach(data, "STOR")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Raw.Close()
	if _, err := x.Conn.Write(ftptest.RandomData(t, 1000)); err != nil {
		t.Fatal(err)
	}
	expectReply(t, a, 426, "server.transfer_stall_timeout")
	ftptest.MustSameFile(t, keep, old)
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	mustGetPort(t, ts).Quit()
	a.Quit()
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "keep.bin"), old)
}

// TestE2EPortsPerAddress: by default the sessions of one address hold at
// most half of the range (passive.max_ports_per_ip = 0); the next PASV
// from that address gets 425 naming the key, another address is served,
// and a port given back is available again.
func TestE2EPortsPerAddress(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, 4))
		c.Passive.MaxPortsPerIP = 0 // half: 2
		c.Passive.Wait = 0
	})
	var holders []*ftptest.MustClient
	for range 2 {
		c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
		c.PASV()
		holders = append(holders, c)
	}
	third := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, epsv := range []bool{false, true} {
		if r := third.Pasv(epsv); r.Code != 425 || !strings.Contains(r.Msg, "passive.max_ports_per_ip") {
			t.Fatalf("third session of 127.0.0.1 (epsv=%v): got %v, want 425 naming passive.max_ports_per_ip", epsv, r.Reply)
		}
	}
	other := ftptest.Dialer{Local: netip.MustParseAddr("127.0.0.2")}.MustLogin(t, ts.Addr, userName, userPass)
	if r := other.Pasv(false); r.Code != 227 {
		t.Fatalf("session of 127.0.0.2: got %v, want 227", r.Reply)
	}
	holders[0].Quit()
	var r ftptest.Passive
	if !ftptest.Eventually(5*time.Second, func() bool { r = third.Pasv(false); return r.Code == 227 }) {
		t.Fatalf("after a holder quit, the third session still gets %v", r.Reply)
	}
	for _, c := range []*ftptest.MustClient{holders[1], third, other} {
		c.Quit()
	}
	assertRangeFree(t, ts)
}
