package driver_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Behind a load balancer that speaks the PROXY protocol (server.proxy_protocol):
// the test client plays both the balancer (ftptest.BalancerAddr) and the
// real client behind it (ftptest.ClientAddr). The server listens on
// 127.0.0.1.
var (
	balancer = ftptest.BalancerAddr
	client   = ftptest.ClientAddr
	stranger = ftptest.StrangerAddr
)

// startProxied starts a server that trusts the balancer's PROXY headers.
func startProxied(t *testing.T, edit func(*config.Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		c.Server.ProxyProtocol = true
		c.Server.TrustedProxies = []netip.Prefix{netip.PrefixFrom(balancer, 32)}
		if edit != nil {
			edit(c)
		}
	})
}

// viaBalancer is a client of address from that reaches the server through
// the balancer.
func viaBalancer(from netip.Addr) ftptest.Dialer {
	return ftptest.Dialer{Local: from, Proxy: balancer, Timeout: 5 * time.Second}
}

// TestE2EProxyClientAddress: the address of the PROXY header is the
// client's for the session: its log lines, the data connection binding
// (data from the client's address is served, data from another address
// refused), while PASV announces the node's own address, not the
// balancer's (the header's destination).
func TestE2EProxyClientAddress(t *testing.T) {
	ts := startProxied(t, nil)
	content := ftptest.RandomData(t, 256<<10)
	ftptest.WriteFile(t, ts.AliceDir(), "f.bin", content)
	c := viaBalancer(client).MustLogin(t, ts.Addr, userName, userPass)

	logged := false
	for _, e := range ts.Logs.All() {
		if r, ok := e.ContextMap()["remote"].(string); ok {
			if !strings.HasPrefix(r, client.String()+":") {
				t.Fatalf("%q logged with remote %s, want the client %s", e.Message, r, client)
			}
			logged = true
		}
	}
	if !logged {
		t.Fatal("no log line names the session's remote address")
	}

	p := c.Pasv(false)
	if p.Code != 227 || !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Fatalf("PASV: got %v (%s), want 227 with the node's address 127.0.0.1", p.Reply, p.Addr)
	}
	foreign := ftptest.DialFrom(t, stranger, p.Addr)
	got, err := c.OpenAt(p.Addr, "RETR f.bin").Receive()
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR through the balancer", got, content)
	ftptest.MustBeDropped(t, foreign, 5*time.Second, "data connection from "+stranger.String())
	waitLogs(t, ts, "data connection from another address refused", map[string]any{"client": client}, 1)
	c.Quit()
}

// TestE2EProxyPerAddressLimits: max_connections_per_ip counts the
// clients the headers name, not the balancer they all come through.
func TestE2EProxyPerAddressLimits(t *testing.T) {
	ts := startProxied(t, func(c *config.Config) { c.Server.MaxConnectionsPerIP = 1 })
	first := viaBalancer(client).MustDial(t, ts.Addr)
	second, err := viaBalancer(client).Connect(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if g := second.Greeting(); g.Code != 421 || !strings.Contains(g.Msg, "max_connections_per_ip") {
		t.Fatalf("second connection of %s: greeting %v, want 421 naming max_connections_per_ip", client, g)
	}
	other := viaBalancer(stranger).MustDial(t, ts.Addr) // another client, same balancer
	other.Quit()
	first.Quit()
}

// TestE2EProxyDrops: a connection from outside server.trusted_proxies is
// dropped unread, with or without a header; a trusted balancer's
// connection that does not open with a header is dropped too. Each is
// logged and counted.
func TestE2EProxyDrops(t *testing.T) {
	ts := startProxied(t, nil)
	untrusted := ftptest.Dialer{Local: client, Proxy: stranger, Timeout: 5 * time.Second}
	if c, err := untrusted.Connect(ts.Addr); err == nil {
		c.Close()
		t.Fatalf("a PROXY header from %s (untrusted) got the greeting %v", stranger, c.Greeting())
	}
	if c, err := (ftptest.Dialer{Local: client, Timeout: 5 * time.Second}).Connect(ts.Addr); err == nil {
		c.Close()
		t.Fatalf("a client without a header (%s, untrusted) got the greeting %v", client, c.Greeting())
	}
	waitLogs(t, ts, "connection dropped: PROXY protocol", map[string]any{"peer": stranger, "reason": "untrusted"}, 1)
	waitLogs(t, ts, "connection dropped: PROXY protocol", map[string]any{"peer": client, "reason": "untrusted"}, 1)

	// The balancer itself, speaking FTP without a header: dropped without a reply.
	raw := ftptest.DialFrom(t, balancer, ts.Addr)
	if _, err := fmt.Fprintf(raw, "USER %s\r\n", userName); err != nil {
		t.Fatal(err)
	}
	ftptest.MustBeDropped(t, raw, 5*time.Second, "trusted connection without a header")
	waitLogs(t, ts, "connection dropped: PROXY protocol", map[string]any{"peer": balancer, "reason": "missing"}, 1)
	if got := metricValue(t, ts, `ftpsd_connections_refused_total{reason="trusted_proxies"}`); got != 2 {
		t.Errorf("refusals of untrusted sources counted %v, want 2", got)
	}
	if got := metricValue(t, ts, `ftpsd_connections_refused_total{reason="proxy_protocol"}`); got != 1 {
		t.Errorf("refusals for a missing header counted %v, want 1", got)
	}
}

// TestE2EProxyBansTheClient: failed logins ban the client the header
// names, not the balancer: other clients of the same balancer still get
// in.
func TestE2EProxyBansTheClient(t *testing.T) {
	ts := startProxied(t, func(c *config.Config) { c.Security.MaxLoginFailures = 1 })
	c := viaBalancer(client).MustDial(t, ts.Addr)
	c.AuthTLS()
	c.Do(331, "USER %s", userName)
	c.Do(530, "PASS wrong")
	c.ExpectClosed()
	banned, err := viaBalancer(client).Connect(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer banned.Close()
	if g := banned.Greeting(); g.Code != 421 {
		t.Fatalf("%s after a failed login: greeting %v, want 421 (banned)", client, g)
	}
	other := viaBalancer(stranger).MustLogin(t, ts.Addr, userName, userPass)
	other.Quit()
}

// TestE2EProxyImplicit: the implicit FTPS listener reads the header too;
// the TLS handshake that follows it may come in the same segment.
func TestE2EProxyImplicit(t *testing.T) {
	ts := startProxied(t, nil)
	d := viaBalancer(client)
	d.Implicit = true
	c := d.MustLogin(t, ts.Implicit, userName, userPass)
	content := ftptest.RandomData(t, 64<<10)
	p := c.Pasv(false)
	c.OpenAt(p.Addr, "STOR i.bin").Send(content)
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "i.bin"), content)
	c.Quit()
	waitLogs(t, ts, "login", map[string]any{"implicit": true}, 1)
	if r := ts.Logs.FilterMessage("login").All()[0].ContextMap()["remote"]; !strings.HasPrefix(fmt.Sprint(r), client.String()+":") {
		t.Fatalf("implicit login logged from %v, want the client %s", r, client)
	}
}

// TestE2EProxyBansIPv6Network: failed logins of one IPv6 client ban its
// /64 (security.ipv6_prefix_length): another address of it gets 421, an
// address of the next /64 logs in.
func TestE2EProxyBansIPv6Network(t *testing.T) {
	ts := startProxied(t, func(c *config.Config) { c.Security.MaxLoginFailures = 1 })
	c := viaBalancer(netip.MustParseAddr("2001:db8:1:1::1")).MustDial(t, ts.Addr)
	c.AuthTLS()
	c.Do(331, "USER %s", userName)
	c.Do(530, "PASS wrong")
	c.ExpectClosed()
	neighbour, err := viaBalancer(netip.MustParseAddr("2001:db8:1:1:ffff::2")).Connect(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer neighbour.Close()
	if g := neighbour.Greeting(); g.Code != 421 {
		t.Fatalf("another address of the banned /64: greeting %v, want 421 (banned)", g)
	}
	other := viaBalancer(netip.MustParseAddr("2001:db8:1:2::1")).MustLogin(t, ts.Addr, userName, userPass)
	other.Quit()
}

// TestE2EProxyPerNetworkLimits: max_connections_per_ip and
// max_unauthenticated_per_ip count an IPv6 client's /64
// (security.ipv6_prefix_length), or each address with 128.
func TestE2EProxyPerNetworkLimits(t *testing.T) {
	first := netip.MustParseAddr("2001:db8:1:1::1")
	neighbour := netip.MustParseAddr("2001:db8:1:1:ffff::2")
	caps := map[string]func(*config.Server){
		"max_connections_per_ip":     func(s *config.Server) { s.MaxConnectionsPerIP = 1 },
		"max_unauthenticated_per_ip": func(s *config.Server) { s.MaxUnauthenticatedPerIP = 1 },
	}
	for key, set := range caps {
		for bits, want := range map[int]int{64: 421, 128: 220} {
			ts := startProxied(t, func(c *config.Config) {
				set(&c.Server)
				c.Security.IPv6PrefixLength = bits
			})
			c := viaBalancer(first).MustDial(t, ts.Addr)
			second, err := viaBalancer(neighbour).Connect(ts.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if g := second.Greeting(); g.Code != want || want == 421 && !strings.Contains(g.Msg, key) {
				t.Errorf("%s, ipv6_prefix_length = %d: a second address of the /64 got %v, want %d", key, bits, g, want)
			}
			_ = second.Close()
			other := viaBalancer(netip.MustParseAddr("2001:db8:1:2::1")).MustDial(t, ts.Addr) // the next /64
			other.Quit()
			c.Quit()
		}
	}
}
