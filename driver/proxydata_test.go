package driver_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// A balancer that forwards the passive range too (passive.proxy_protocol):
// the data connections come from the balancer with a header naming the
// client, like the control connection.

// startDataProxied starts a server that reads PROXY headers on its control
// and passive listeners, from the balancer only.
func startDataProxied(t *testing.T, edit func(*config.Config)) *testServer {
	t.Helper()
	return startProxied(t, func(c *config.Config) {
		c.Passive.ProxyProtocol = true
		c.Passive.AnnounceAfterCCC = config.AnnouncePublic
		if edit != nil {
			edit(c)
		}
	})
}

// allThroughBalancer is a client of address from whose control and data
// connections all come through the balancer.
func allThroughBalancer(from netip.Addr) ftptest.Dialer {
	d := viaBalancer(from)
	d.ProxyData = true
	return d
}

// TestE2EProxyDataThroughBalancer: data connections that come from the
// balancer with a header naming the session's client are served, both
// ways, under TLS (the binding, the screen and the lib's own IP match
// all see the header's client) and the same session's data connection
// from the balancer naming another client is refused and logged under
// that client's address.
func TestE2EProxyDataThroughBalancer(t *testing.T) {
	ts := startDataProxied(t, nil)
	content := ftptest.RandomData(t, 256<<10)
	ftptest.WriteFile(t, ts.AliceDir(), "f.bin", content)
	c := allThroughBalancer(client).MustLogin(t, ts.Addr, userName, userPass)

	// The header of another client comes first, while RETR waits for its
	// data connection: refused; then the client's own is served.
	p := c.Pasv(false)
	foreign := ftptest.DialProxied(t, balancer, stranger, p.Addr)
	c.Send("RETR f.bin")
	ftptest.MustBeDropped(t, foreign, 5*time.Second, "data connection naming "+stranger.String())
	waitLogs(t, ts, "data connection from another address refused", map[string]any{"client": client}, 1)
	refused := ts.Logs.FilterMessage("data connection from another address refused").All()[0].ContextMap()
	if from := refused["from"].(string); !strings.HasPrefix(from, stranger.String()+":") {
		t.Errorf("refused data connection logged from %s, want the header's client %s", from, stranger)
	}
	data := c.DialData(p.Addr)
	c.Expect(150, "RETR")
	x, err := c.Attach(data, "RETR")
	if err != nil {
		t.Fatal(err)
	}
	got, err := x.Receive()
	if err != nil {
		t.Fatalf("RETR through the balancer: %v", err)
	}
	ftptest.MustSameData(t, "RETR through the balancer", got, content)
	if n := ts.countLogs("Could not validate passive data connection requirement", nil); n != 0 {
		t.Fatalf("the lib refused %d data connections of the client", n)
	}

	up := ftptest.RandomData(t, 128<<10)
	c.OpenAt(c.Pasv(true).Addr, "STOR up.bin").Send(up)
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "up.bin"), up)
	c.Quit()
}

// TestE2EProxyDataEarlyBytes: a balancer that sends the header and the
// client's first bytes in one segment (a clear upload here) loses none of
// them.
func TestE2EProxyDataEarlyBytes(t *testing.T) {
	ts := startDataProxied(t, func(c *config.Config) { c.TLS.Require = config.RequireControl })
	c := viaBalancer(client).MustLogin(t, ts.Addr, userName, userPass)
	c.Do(200, "PROT C")
	p := c.Pasv(false)
	raw := ftptest.DialFrom(t, balancer, p.Addr)
	from := &net.TCPAddr{IP: client.AsSlice(), Port: 40000}
	header, err := proxyproto.HeaderProxyFromAddrs(2, from, raw.RemoteAddr()).Format()
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(strings.Repeat("early bytes ", 10))
	if _, err := raw.Write(append(header, content...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	c.Do(150, "STOR early.txt")
	c.Expect(226, "end of the upload")
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "early.txt"), content)
	c.Quit()
}

// TestE2EProxyDataDrops: on the passive ports, a connection from outside
// server.trusted_proxies (the client itself, straight to the node) is
// dropped unread, and so is a connection of the balancer that does not
// open with a header; each with one log line. The session's own data
// connection through the balancer is served afterwards.
func TestE2EProxyDataDrops(t *testing.T) {
	ts := startDataProxied(t, nil)
	content := ftptest.RandomData(t, 64<<10)
	ftptest.WriteFile(t, ts.AliceDir(), "f.bin", content)
	c := allThroughBalancer(client).MustLogin(t, ts.Addr, userName, userPass)
	p := c.Pasv(false)

	direct := ftptest.DialFrom(t, client, p.Addr)
	bare := ftptest.DialFrom(t, balancer, p.Addr)
	if _, err := bare.Write([]byte("\x16\x03\x01 not a header")); err != nil {
		t.Fatal(err)
	}
	got, err := c.OpenAt(p.Addr, "RETR f.bin").Receive()
	if err != nil {
		t.Fatalf("RETR through the balancer after the drops: %v", err)
	}
	ftptest.MustSameData(t, "RETR", got, content)
	ftptest.MustBeDropped(t, direct, 5*time.Second, "data connection straight from "+client.String())
	ftptest.MustBeDropped(t, bare, 5*time.Second, "data connection of the balancer without a header")
	waitLogs(t, ts, "data connection dropped: PROXY protocol", map[string]any{"peer": client, "reason": "untrusted"}, 1)
	waitLogs(t, ts, "data connection dropped: PROXY protocol", map[string]any{"peer": balancer, "reason": "missing"}, 1)
	c.Quit()
}

// TestE2EProxyDataHeaderDeadline: a balancer connection to a passive port
// that sends no header is dropped within passive.connect_timeout (the
// header's deadline, or the port's, the same timeout from the PASV), with
// one log line, and the transfer waiting for a data
// connection fails (425) rather than hanging.
func TestE2EProxyDataHeaderDeadline(t *testing.T) {
	const timeout = time.Second
	ts := startDataProxied(t, func(c *config.Config) { c.Passive.ConnectTimeout = config.Duration(timeout) })
	ftptest.WriteFile(t, ts.AliceDir(), "f.bin", []byte("x"))
	c := allThroughBalancer(client).MustLogin(t, ts.Addr, userName, userPass)
	p := c.Pasv(false)
	start := time.Now()
	silent := ftptest.DialFrom(t, balancer, p.Addr)
	c.Send("RETR f.bin")
	ftptest.MustBeDropped(t, silent, 3*timeout, "silent balancer connection")
	if took := time.Since(start); took < timeout-100*time.Millisecond || took > timeout+time.Second {
		t.Errorf("silent balancer connection dropped after %v, want passive.connect_timeout (%v)", took, timeout)
	}
	if r := c.Reply(); r.Code != 425 {
		t.Fatalf("RETR without a data connection: %v, want 425", r)
	}
	waitLogs(t, ts, "data connection dropped: PROXY protocol", map[string]any{"peer": balancer}, 1)
	// Which of the header's deadline and the port's close ends it first
	// is a race of two equal timeouts.
	if r := ts.Logs.FilterMessage("data connection dropped: PROXY protocol").All()[0].ContextMap()["reason"]; r != "timeout" && r != "port_closed" {
		t.Errorf("silent balancer connection dropped for %v, want timeout or port_closed", r)
	}
	c.Quit()
}
