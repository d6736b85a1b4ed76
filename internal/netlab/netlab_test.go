//go:build linux

package netlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Ports of the self-tests, inside the lab's own namespaces.
const (
	testControlPort = 2121
	testRangeStart  = 30000
	testRangeEnd    = 30009
	dialTimeout     = 2 * time.Second // a dial the firewall drops
	ioTimeout       = 5 * time.Second
)

// echoPeer answers each connection with the address it came from.
func echoPeer(c net.Conn) { _, _ = io.WriteString(c, c.RemoteAddr().String()+"\n") }

// peerSeen dials remote from node (and local) and returns the address the
// server saw, or the dial error.
func peerSeen(l *Lab, node Node, local netip.Addr, remote netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := l.DialContext(ctx, node, local, remote)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	seen, err := io.ReadAll(c) // echoPeer closes after its line
	if err != nil {
		return "", fmt.Errorf("read from %v: %w", remote, err)
	}
	host, _, err := net.SplitHostPort(strings.TrimSpace(string(seen)))
	return host, err
}

func counters(t *testing.T, l *Lab) map[string]Counter {
	t.Helper()
	c, err := l.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTopologies checks what crosses the firewall in each topology, with
// and without the open range, and the address the server sees.
func TestTopologies(t *testing.T) {
	for _, topo := range []Topology{Routed, NAT} {
		t.Run(topo.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, WithTopology(topo), WithControlPort(testControlPort))
			for _, port := range []int{testControlPort, testRangeStart} {
				ln, err := l.Listen(Server, netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)))
				if err != nil {
					t.Fatal(err)
				}
				ftptest.Serve(t, ln, ioTimeout, echoPeer)
			}
			ctl := l.ControlAddr()
			if seen, err := peerSeen(l, Client, netip.Addr{}, ctl); err != nil || seen != l.ClientAddr().String() {
				t.Fatalf("control port %v from the client: seen as %q, %v; want %v", ctl, seen, err, l.ClientAddr())
			}
			if seen, err := peerSeen(l, Client, l.OtherClientAddr(), ctl); err != nil || seen != l.OtherClientAddr().String() {
				t.Fatalf("control port %v from the other client address: seen as %q, %v", ctl, seen, err)
			}
			data := l.DataAddr(testRangeStart)
			if seen, err := peerSeen(l, Client, netip.Addr{}, data); err == nil {
				t.Fatalf("%v reached with the range closed (seen as %s)", data, seen)
			} else {
				t.Logf("range closed: %v", err)
			}
			if topo == NAT {
				direct := netip.AddrPortFrom(l.ServerAddr(), testControlPort)
				if seen, err := peerSeen(l, Client, netip.Addr{}, direct); err == nil {
					t.Fatalf("the private server address %v reached from the client (seen as %s)", direct, seen)
				}
			}
			if err := l.SetOpenRange(context.Background(), testRangeStart, testRangeEnd); err != nil {
				t.Fatal(err)
			}
			if seen, err := peerSeen(l, Client, l.OtherClientAddr(), data); err != nil || seen != l.OtherClientAddr().String() {
				t.Fatalf("%v with the range open: seen as %q, %v", data, seen, err)
			}
			if c := counters(t, l); c[CounterRange].Packets == 0 {
				t.Errorf("counter %s is 0 after a connection to the open range: %v", CounterRange, c)
			}
			// The firewall itself sits on the server network.
			fromFW := netip.AddrPortFrom(l.ServerAddr(), testRangeStart)
			if seen, err := peerSeen(l, Firewall, netip.Addr{}, fromFW); err != nil || seen != l.FirewallServerAddr().String() {
				t.Fatalf("%v from the firewall: seen as %q, %v", fromFW, seen, err)
			}
		})
	}
}

// TestFTPHelper runs a fake FTP server that announces a passive port in
// clear text: the firewall lets the client's data connection through
// without an open range, and under NAT rewrites the 227 reply. A 227 that
// carries another address than the server's own teaches the helper
// nothing.
func TestFTPHelper(t *testing.T) {
	for _, topo := range []Topology{Routed, NAT} {
		t.Run(topo.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, WithTopology(topo), WithControlPort(testControlPort))
			for port := testRangeStart; port <= testRangeStart+1; port++ {
				ln, err := l.Listen(Server, netip.AddrPortFrom(l.ServerAddr(), uint16(port)))
				if err != nil {
					t.Fatal(err)
				}
				ftptest.Serve(t, ln, ioTimeout, echoPeer)
			}
			ctlLn, err := l.Listen(Server, netip.AddrPortFrom(l.ServerAddr(), testControlPort))
			if err != nil {
				t.Fatal(err)
			}
			// Each PASV gets the next port, announced with the server's own
			// address, then one announced with the public address.
			announce := []netip.Addr{l.ServerAddr(), l.PublicAddr()}
			ftptest.Serve(t, ctlLn, ioTimeout, func(c net.Conn) {
				r := bufio.NewReader(c)
				_, _ = io.WriteString(c, "220 fake\r\n")
				for i := 0; ; i++ {
					if _, err := r.ReadString('\n'); err != nil || i >= len(announce) {
						return
					}
					a := announce[i].As4()
					p := testRangeStart + i
					fmt.Fprintf(c, "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)\r\n", a[0], a[1], a[2], a[3], p/256, p%256)
				}
			})

			// The client side is ftptest's raw client, through the firewall.
			c := ftptest.Dialer{Timeout: ioTimeout, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return l.DialContext(ctx, Client, netip.Addr{}, l.ControlAddr())
			}}.MustDial(t, l.ControlAddr().String())
			pasv := func() netip.AddrPort {
				t.Helper()
				return netip.MustParseAddrPort(c.PASV())
			}

			got := pasv()
			if want := l.DataAddr(testRangeStart); got != want {
				t.Fatalf("227 seen by the client announces %v, want %v", got, want)
			}
			exp, err := l.Expectations(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("expectations: %q", exp)
			if seen, err := peerSeen(l, Client, netip.Addr{}, got); err != nil || seen != l.ClientAddr().String() {
				t.Fatalf("data connection to %v learnt by the helper: seen as %q, %v", got, seen, err)
			}
			if c := counters(t, l); c[CounterRelated].Packets == 0 || c[CounterHelper].Packets == 0 {
				t.Errorf("counters %v: want the helper assigned and related packets", c)
			}

			// The helper ignores a 227 that does not carry the server's own
			// address: the port stays closed.
			second := pasv()
			if seen, err := peerSeen(l, Client, netip.Addr{}, l.DataAddr(int(second.Port()))); err == nil {
				t.Fatalf("a 227 announcing %v opened port %d (seen as %s)", second.Addr(), second.Port(), seen)
			}
		})
	}
}

// TestTeardown checks that a lab's namespaces are gone after its test,
// although a process still ran in one of them.
func TestTeardown(t *testing.T) {
	var tag string
	t.Run("lab", func(t *testing.T) {
		l := New(t, WithTopology(NAT))
		tag = l.Tag()
		p, err := l.Start(Server, "sleep", "300")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := l.Run(context.Background(), Server, "ip", "-brief", "addr", "show", "dev", "eth0"); err != nil ||
			!strings.Contains(out, "192.0.2.2/24") {
			t.Fatalf("server address: %q, %v", out, err)
		}
		if p.Err() != nil {
			t.Fatalf("sleep exited: %v", p.Err())
		}
	})
	if tag == "" {
		t.Skip("no lab was built (see the subtest)")
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), tag) {
		t.Fatalf("namespaces of lab %q left after its test:\n%s", tag, out)
	}
}

func TestLabPid(t *testing.T) {
	for name, want := range map[string]int{
		"ftl123-a1b2c3-cli": 123,
		"ftl9-000000-srv":   9,
		"ftl123-a1b2c3-xyz": 0,
		"ftl123-a1b2c-cli":  0,
		"ftl123-g1b2c3-fw":  0,
		"ftlx-a1b2c3-fw":    0,
		"other":             0,
		"ftl-1-a1b2c3-fw":   0,
	} {
		if got, ok := labPid(name); got != want || ok != (want != 0) {
			t.Errorf("labPid(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

// TestSweepOrphans leaves a namespace named like a lab of a process that
// is gone, with a process in it: the next lab removes both.
func TestSweepOrphans(t *testing.T) {
	needRoot(t)
	testenv.NeedTool(t, "ip", "iproute2")
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	orphan := fmt.Sprintf("ftl%d-abcdef-srv", gone.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", orphan).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", orphan).Run() })
	sleeper := exec.Command("ip", "netns", "exec", orphan, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	t.Cleanup(func() { _ = sleeper.Process.Kill() })

	New(t)
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), orphan) {
		t.Errorf("orphaned namespace %s not removed:\n%s", orphan, out)
	}
	if _, ok := ftptest.Receive(exited, ioTimeout); !ok {
		t.Errorf("the process in the orphaned namespace still runs")
	}
}
