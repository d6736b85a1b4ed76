package driver_test

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// Port translation (passive.announce_ports): the 227/229 replies carry
// the public port, the listener, the data connection's local address and
// the lease carry the local one. Every piece that maps one to the other
// must agree: the session binding (whose data connection is it), the
// allocator's claim (which listener a new PASV releases) and the
// connect-timeout explanation (whose listener expired).

// translated dials the local port of an announced data address, as the
// edge's DNAT does: announced port p reaches p - offset.
func translated(t *testing.T, p ftptest.Passive, offset int) string {
	t.Helper()
	host, _, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(host, strconv.Itoa(p.Port-offset))
}

// TestE2EPasvPortTranslation runs two sessions on a two-port range
// announced as another range: each PASV and EPSV announces a public port
// of the announced range; RETR through the local port gets the file over
// a resumed TLS session; a session asking twice while the other holds the
// second port still gets one (passive.wait = 0); a listener nobody
// connects to expires with the passive.connect_timeout explanation.
func TestE2EPasvPortTranslation(t *testing.T) {
	var local, announce config.PortRange
	ts := startServer(t, func(c *config.Config) {
		c.Passive.Wait = 0
		c.Passive.MaxPortsPerIP = 2 // both sessions come from one address
		c.Passive.Ports = config.PortsOf(c.Passive.Ports.Start, c.Passive.Ports.Start+1)
		c.Passive.AnnouncePorts = config.PortsOf(c.Passive.Ports.Start+10000, c.Passive.Ports.Start+10001)
		c.Passive.ConnectTimeout = config.Duration(time.Second)
		local, announce = c.Passive.Ports, c.Passive.AnnouncePorts
	})
	offset := announce.Start - local.Start
	want := []byte("translated port\n")
	ftptest.WriteFile(t, ts.AliceDir(), "t.txt", want)

	var sessions []*ftptest.Client
	t.Cleanup(func() {
		for _, s := range sessions {
			s.Close()
		}
	})
	for i := range 2 {
		s, err := openLoggedIn(ts.Addr, netip.Addr{})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		sessions = append(sessions, s)
	}
	passive := func(i int, epsv bool) ftptest.Passive {
		t.Helper()
		p, err := sessions[i].Pasv(epsv)
		if err != nil {
			t.Fatalf("session %d passive (epsv=%v): %v", i, epsv, err)
		}
		if p.Code != 227 && p.Code != 229 {
			t.Fatalf("session %d passive (epsv=%v): got %d %q, want 227/229", i, epsv, p.Code, p.Msg)
		}
		if !announce.Contains(p.Port) {
			t.Fatalf("session %d announced port %d, want one of passive.announce_ports %s", i, p.Port, announce)
		}
		return p
	}
	retr := func(i int, p ftptest.Passive) {
		t.Helper()
		got, err := sessions[i].RetrAt(translated(t, p, offset), "t.txt")
		if err != nil {
			t.Fatalf("session %d RETR through local port %d of announced %d: %v", i, p.Port-offset, p.Port, err)
		}
		ftptest.MustSameData(t, "RETR t.txt", got, want)
	}
	// Session 0 holds one of the two ports, idle; session 1 asks twice:
	// its second request gets a port only if its first listener, claimed
	// by its reply, is released first.
	passive(0, false)
	passive(1, false)
	retr(1, passive(1, true))
	retr(0, passive(0, true))

	// A listener that expires is explained to its own session.
	s := sessions[0]
	if _, err := s.Pasv(true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past passive.connect_timeout
	r, err := s.Cmd("RETR t.txt")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 425 || !strings.Contains(r.Msg, "passive.connect_timeout") {
		t.Fatalf("RETR after the listener expired: got %d %q, want 425 naming passive.connect_timeout", r.Code, r.Msg)
	}
	for _, s := range sessions {
		if err := s.Quit(); err != nil {
			t.Errorf("QUIT: %v", err)
		}
	}
	assertRangeFree(t, ts)
}

// TestE2EPasvPortTranslationSides: a client told the server's own side
// gets the local port, since it does not pass the edge's translation: a
// client inside (passive.internal_networks) and, after CCC, a client
// whose inspector maps the port itself (announce_after_ccc = "local").
// A client outside, on a protected control channel, gets the public
// port. Each gets its file through the port it was told (inside and after
// CCC directly, outside through the translation).
func TestE2EPasvPortTranslationSides(t *testing.T) {
	var local, announce config.PortRange
	ts := startServer(t, func(c *config.Config) {
		c.Passive.Ports = config.PortsOf(c.Passive.Ports.Start, c.Passive.Ports.Start+3)
		c.Passive.AnnouncePorts = config.PortsOf(c.Passive.Ports.Start+10000, c.Passive.Ports.Start+10003)
		c.Passive.MaxPortsPerIP = 0
		c.Passive.PublicAddress = "203.0.113.10"
		setInternalNetworks(c, "127.0.0.2/32")
		local, announce = c.Passive.Ports, c.Passive.AnnouncePorts
	})
	offset := announce.Start - local.Start
	host, _, err := net.SplitHostPort(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("which side\n")
	ftptest.WriteFile(t, ts.AliceDir(), "s.txt", want)
	for _, tc := range []struct {
		name   string
		client string
		ccc    bool
		ports  config.PortRange
	}{
		{"outside", "127.0.0.1", false, announce},
		{"inside", "127.0.0.2", false, local},
		{"outside_after_ccc", "127.0.0.1", true, local},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := openLoggedIn(ts.Addr, netip.MustParseAddr(tc.client))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.ccc {
				if err := s.CCC(); err != nil {
					t.Fatal(err)
				}
				s.TLS = ftptest.FreshTLS()
				s.RequireResume = false
			}
			for _, epsv := range []bool{false, true} {
				p, err := s.Pasv(epsv)
				if err != nil || (p.Code != 227 && p.Code != 229) {
					t.Fatalf("passive (epsv=%v): %d %q %v", epsv, p.Code, p.Msg, err)
				}
				if !tc.ports.Contains(p.Port) {
					t.Fatalf("passive (epsv=%v) announced port %d, want one of %s", epsv, p.Port, tc.ports)
				}
				port := p.Port
				if tc.ports == announce {
					port -= offset // the edge's translation
				}
				dial := net.JoinHostPort(host, strconv.Itoa(port))
				got, err := s.RetrAt(dial, "s.txt")
				if err != nil {
					t.Fatalf("RETR through %s (announced %d): %v", dial, p.Port, err)
				}
				ftptest.MustSameData(t, "RETR s.txt", got, want)
			}
			if err := s.Quit(); err != nil {
				t.Error(err)
			}
		})
	}
}
