//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpsd/internal/testenv"
)

// Topology is how the client reaches the server through the firewall.
type Topology int

const (
	// Routed: the client dials the server's own address (192.0.2.2), which
	// the firewall routes; no address is translated.
	Routed Topology = iota
	// NAT: the client dials the firewall's public address (198.51.100.1),
	// which the firewall translates (DNAT) to the server; connections that
	// leave towards the client network are masqueraded, and the server
	// network is not routed from the client side.
	NAT
)

// String returns "routed" or "nat", usable as a subtest name.
func (t Topology) String() string {
	switch t {
	case Routed:
		return "routed"
	case NAT:
		return "nat"
	default:
		return fmt.Sprintf("Topology(%d)", int(t))
	}
}

// Node is one of the lab's three namespaces.
type Node string

// The lab's namespaces.
const (
	Client   Node = "cli" // the client: 198.51.100.2 and 198.51.100.3
	Firewall Node = "fw"  // the firewall: 198.51.100.1 and 192.0.2.1
	Server   Node = "srv" // the server: 192.0.2.2
)

// nodes lists the namespaces in creation order.
func nodes() []Node { return []Node{Client, Firewall, Server} }

// The addresses of the lab (RFC 5737 documentation ranges).
const (
	clientAddr      = "198.51.100.2"
	otherClientAddr = "198.51.100.3"
	publicAddr      = "198.51.100.1" // the firewall on the client network
	firewallSrvAddr = "192.0.2.1"    // the firewall on the server network
	serverAddr      = "192.0.2.2"
	clientNetPrefix = 24
	serverNet       = "192.0.2.0/24"
)

// extraClientAddrs are more hosts of the client network, for tests that
// need many client addresses at once.
const extraClientAddrs = "198.51.100.4 198.51.100.5"

// Interface names. Each lives in its own namespace, so they never clash
// with the host's or another lab's.
const (
	fwClientIf = "cli0" // firewall side of the client link
	fwServerIf = "srv0" // firewall side of the server link
	nodeIf     = "eth0" // client and server side of their link
)

// DefaultControlPort is the control port when WithControlPort is not given.
const DefaultControlPort = 2121

// DefaultCommandTimeout bounds a command run by Run whose context has no
// deadline of its own, and each step of building and removing the lab.
const DefaultCommandTimeout = 30 * time.Second

// stopTimeout is how long teardown waits for a killed process to exit.
const stopTimeout = 10 * time.Second

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	Start, End int
}

// IsZero reports whether r is the zero range (no range).
func (r PortRange) IsZero() bool { return r == PortRange{} }

// String returns the range as nftables writes it, "START-END".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

func (r PortRange) validate() error {
	if r.IsZero() {
		return nil
	}
	if r.Start < 1 || r.End > 65535 || r.Start > r.End {
		return fmt.Errorf("port range %d-%d: want 1 <= start <= end <= 65535", r.Start, r.End)
	}
	return nil
}

// settings are what the options set.
type settings struct {
	topology    Topology
	controlPort int
	noHelper    bool
}

// Option configures New.
type Option func(*settings)

// WithTopology selects Routed (the default) or NAT.
func WithTopology(t Topology) Option { return func(s *settings) { s.topology = t } }

// WithControlPort sets the server's FTP control port (DefaultControlPort
// when not given); the firewall assigns the FTP helper to connections to
// it.
func WithControlPort(port int) Option { return func(s *settings) { s.controlPort = port } }

// WithoutFTPHelper builds the firewall without the conntrack FTP helper: an
// FTP-unaware stateful firewall, which opens no data connection it reads
// in a clear 227/229 reply.
func WithoutFTPHelper() Option { return func(s *settings) { s.noHelper = true } }

// Lab is one test's set of namespaces and its firewall. Its methods are
// safe for concurrent use.
type Lab struct {
	t       testing.TB
	tag     string
	ipPath  string
	nftPath string
	topo    Topology
	port    int
	helper  bool // the FTP helper is assigned to control connections

	mu        sync.Mutex
	openRange PortRange
	ruleset   string
	created   []string   // namespaces created so far
	procs     []*Process // processes started with Start
}

// New builds the lab and registers its removal with t.Cleanup. It skips
// the test when not run as root (fails under CI=true) or when ip or nft
// is missing, and fails it when the lab cannot be built.
func New(t testing.TB, opts ...Option) *Lab {
	t.Helper()
	needRoot(t)
	s := settings{topology: Routed, controlPort: DefaultControlPort}
	for _, o := range opts {
		o(&s)
	}
	if s.topology != Routed && s.topology != NAT {
		t.Fatalf("netlab: unknown topology %v", s.topology)
	}
	if s.controlPort < 1 || s.controlPort > 65535 {
		t.Fatalf("netlab: control port %d out of range", s.controlPort)
	}
	l := &Lab{
		t:       t,
		tag:     newTag(),
		ipPath:  testenv.NeedTool(t, "ip", "iproute2"),
		nftPath: testenv.NeedTool(t, "nft", "nftables"),
		topo:    s.topology,
		port:    s.controlPort,
		helper:  !s.noHelper,
	}
	t.Cleanup(l.teardown)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
	defer cancel()
	if err := l.sweepOrphans(ctx); err != nil {
		t.Logf("netlab: %v", err)
	}
	if err := l.build(ctx); err != nil {
		t.Fatalf("netlab: build the %v lab %s: %v", l.topo, l.tag, err)
	}
	return l
}

// needRoot skips the test unless it runs as root; under CI=true it fails.
func needRoot(t testing.TB) {
	t.Helper()
	testenv.FullTier(t, "root and network namespaces")
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("netlab needs root (network namespaces, nftables) and CI=true is set")
	}
	t.Skipf("netlab needs root to build network namespaces and nftables rules; run the test as root")
}

// tagPrefix starts every lab's namespace names; the test process's pid
// follows it.
const tagPrefix = "ftl"

// newTag returns a short name prefix unique to this process and lab, so
// that labs of parallel tests and parallel runs never clash.
func newTag() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return fmt.Sprintf("%s%d-%s", tagPrefix, os.Getpid(), hex.EncodeToString(b))
}

// sweepOrphans removes the namespaces of labs whose test process is gone
// (killed before its cleanup could run), with what still runs in them.
func (l *Lab) sweepOrphans(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, l.ipPath, "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := labPid(name)
		if !ok || processAlive(pid) {
			continue
		}
		errs = append(errs, l.killStragglers(ctx, name), l.ip(ctx, "netns", "delete", name))
		l.t.Logf("netlab: removed namespace %s of the lab of process %d, which is gone", name, pid)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove orphaned labs: %w", err)
	}
	return nil
}

// labPid returns the pid in a lab namespace name "ftl<pid>-<hex>-<node>".
func labPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tagPrefix)
	if !ok {
		return 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[1]) != 6 || !slices.Contains(nodes(), Node(parts[2])) {
		return 0, false
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Tag is the prefix of the lab's namespace names.
func (l *Lab) Tag() string { return l.tag }

// Namespace returns the name of node's namespace (as "ip netns" knows it).
func (l *Lab) Namespace(node Node) string { return l.tag + "-" + string(node) }

// ControlAddr returns the address the client dials for the control
// channel: the server's own address when Routed, the firewall's public
// address under NAT.
func (l *Lab) ControlAddr() netip.AddrPort {
	return netip.AddrPortFrom(l.DialAddr(), uint16(l.port))
}

// DialAddr returns the address by which the client reaches the server:
// ServerAddr when Routed, PublicAddr under NAT.
func (l *Lab) DialAddr() netip.Addr {
	if l.topo == NAT {
		return l.PublicAddr()
	}
	return l.ServerAddr()
}

// DataAddr returns where the client connects to reach the server's port
// (a passive data port): DialAddr and port.
func (l *Lab) DataAddr(port int) netip.AddrPort {
	return netip.AddrPortFrom(l.DialAddr(), uint16(port))
}

// ServerAddr returns the server's own address, 192.0.2.2.
func (l *Lab) ServerAddr() netip.Addr { return netip.MustParseAddr(serverAddr) }

// PublicAddr returns the firewall's address on the client network,
// 198.51.100.1: its public address under NAT.
func (l *Lab) PublicAddr() netip.Addr { return netip.MustParseAddr(publicAddr) }

// FirewallServerAddr returns the firewall's address on the server network,
// 192.0.2.1; connections made from the Firewall namespace to the server
// come from it and pass no forwarding rule.
func (l *Lab) FirewallServerAddr() netip.Addr { return netip.MustParseAddr(firewallSrvAddr) }

// ClientAddr returns the client's address, 198.51.100.2, the source of
// connections made from the Client namespace unless another is chosen.
func (l *Lab) ClientAddr() netip.Addr { return netip.MustParseAddr(clientAddr) }

// OtherClientAddr returns a second address of the client namespace,
// 198.51.100.3: "another host" on the client network.
func (l *Lab) OtherClientAddr() netip.Addr { return netip.MustParseAddr(otherClientAddr) }

// ExtraClientAddrs returns more addresses of the client namespace,
// 198.51.100.4 and 198.51.100.5: more hosts on the client network.
func (l *Lab) ExtraClientAddrs() []netip.Addr {
	var addrs []netip.Addr
	for _, a := range strings.Fields(extraClientAddrs) {
		addrs = append(addrs, netip.MustParseAddr(a))
	}
	return addrs
}

// Ruleset returns the nftables ruleset loaded on the firewall.
func (l *Lab) Ruleset() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ruleset
}

// SetOpenRange replaces the firewall's ruleset with one that opens the
// ports start to end; start = end = 0 closes the range.
// The replacement is atomic; established connections and what the helper
// learnt stay, and the named counters start again from zero.
func (l *Lab) SetOpenRange(ctx context.Context, start, end int) error {
	r := PortRange{Start: start, End: end}
	if err := r.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rules := renderRuleset(l.topo, l.port, r, l.helper)
	if err := l.loadRuleset(ctx, rules); err != nil {
		return fmt.Errorf("set open range %v: %w", r, err)
	}
	l.openRange, l.ruleset = r, rules
	return nil
}

// build creates the namespaces, links, addresses, routes and ruleset.
func (l *Lab) build(ctx context.Context) error {
	for _, n := range nodes() {
		ns := l.Namespace(n)
		if err := l.ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.created = append(l.created, ns)
		l.mu.Unlock()
		if err := l.ip(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	cli, fw, srv := l.Namespace(Client), l.Namespace(Firewall), l.Namespace(Server)
	steps := [][]string{
		{"-n", fw, "link", "add", fwClientIf, "type", "veth", "peer", "name", nodeIf, "netns", cli},
		{"-n", fw, "link", "add", fwServerIf, "type", "veth", "peer", "name", nodeIf, "netns", srv},
		{"-n", cli, "addr", "add", fmt.Sprintf("%s/%d", clientAddr, clientNetPrefix), "dev", nodeIf},
		{"-n", cli, "addr", "add", fmt.Sprintf("%s/%d", otherClientAddr, clientNetPrefix), "dev", nodeIf},
		{"-n", fw, "addr", "add", fmt.Sprintf("%s/%d", publicAddr, clientNetPrefix), "dev", fwClientIf},
		{"-n", fw, "addr", "add", firewallSrvAddr + "/24", "dev", fwServerIf},
		{"-n", srv, "addr", "add", serverAddr + "/24", "dev", nodeIf},
		{"-n", cli, "link", "set", nodeIf, "up"},
		{"-n", fw, "link", "set", fwClientIf, "up"},
		{"-n", fw, "link", "set", fwServerIf, "up"},
		{"-n", srv, "link", "set", nodeIf, "up"},
		// The server answers (and, masqueraded under NAT, connects out)
		// through the firewall.
		{"-n", srv, "route", "add", "default", "via", firewallSrvAddr},
	}
	for _, a := range strings.Fields(extraClientAddrs) {
		steps = append(steps, []string{"-n", cli, "addr", "add", fmt.Sprintf("%s/%d", a, clientNetPrefix), "dev", nodeIf})
	}
	if l.topo == Routed {
		steps = append(steps, []string{"-n", cli, "route", "add", serverNet, "via", publicAddr})
	}
	for _, s := range steps {
		if err := l.ip(ctx, s...); err != nil {
			return err
		}
	}
	if err := l.inNamespace(Firewall, func() error {
		return writeSysctl("/proc/sys/net/ipv4/ip_forward", "1")
	}); err != nil {
		return fmt.Errorf("enable forwarding on the firewall: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rules := renderRuleset(l.topo, l.port, l.openRange, l.helper)
	if err := l.loadRuleset(ctx, rules); err != nil {
		return err
	}
	l.ruleset = rules
	return nil
}

func writeSysctl(path, value string) error {
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil { //nolint:gosec // a sysctl
		return fmt.Errorf("write %s: %w", path, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read back %s: %w", path, err)
	}
	if strings.TrimSpace(string(got)) != value {
		return fmt.Errorf("%s is %q after writing %q", path, strings.TrimSpace(string(got)), value)
	}
	return nil
}

// loadRuleset replaces the firewall namespace's whole ruleset, atomically.
// The caller holds l.mu.
func (l *Lab) loadRuleset(ctx context.Context, rules string) error {
	cmd := l.Command(ctx, Firewall, l.nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader("flush ruleset\n" + rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("load the nftables ruleset: %w: %s\nruleset:\n%s", err, bytes2str(out), rules)
	}
	return nil
}

// ip runs the ip program in the host's namespace.
func (l *Lab) ip(ctx context.Context, args ...string) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.ipPath, args...)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes2str(out))
	}
	return nil
}

func bytes2str(b []byte) string { return strings.TrimSpace(string(b)) }

// withDefaultTimeout gives ctx DefaultCommandTimeout unless it has a
// deadline already.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultCommandTimeout)
}

// teardown kills what runs in the lab, deletes its namespaces and checks
// that none is left. On a failed test it first logs the firewall's state.
func (l *Lab) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
	defer cancel()
	l.mu.Lock()
	created := append([]string(nil), l.created...)
	procs := append([]*Process(nil), l.procs...)
	l.mu.Unlock()
	if len(created) == 0 {
		return
	}
	if l.t.Failed() && len(created) == len(nodes()) {
		l.t.Logf("netlab %s (%v) firewall state at teardown:\n%s", l.tag, l.topo, l.Diagnostics(ctx))
	}
	for _, p := range procs {
		if err := p.kill(stopTimeout); err != nil {
			l.t.Errorf("netlab teardown: %v", err)
		}
	}
	var errs []error
	for _, ns := range created {
		errs = append(errs, l.killStragglers(ctx, ns))
	}
	for _, ns := range created {
		errs = append(errs, l.ip(ctx, "netns", "delete", ns))
	}
	if err := errors.Join(errs...); err != nil {
		l.t.Errorf("netlab teardown: %v", err)
	}
	out, err := exec.CommandContext(ctx, l.ipPath, "netns", "list").CombinedOutput()
	if err != nil {
		l.t.Errorf("netlab teardown: ip netns list: %v: %s", err, bytes2str(out))
		return
	}
	for line := range strings.Lines(string(out)) {
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); strings.HasPrefix(name, l.tag+"-") {
			l.t.Errorf("netlab teardown: namespace %s is left", name)
		}
	}
}

// killStragglers kills the processes still running in namespace ns (all
// started by this test) and waits until they are gone.
func (l *Lab) killStragglers(ctx context.Context, ns string) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		out, err := exec.CommandContext(ctx, l.ipPath, "netns", "pids", ns).Output()
		if err != nil {
			return fmt.Errorf("ip netns pids %s: %w", ns, err)
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s outlived SIGKILL", pids, ns)
		}
		for _, p := range pids {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				if proc, err := os.FindProcess(pid); err == nil {
					_ = proc.Kill()
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Diagnostics returns the firewall's ruleset with its counters, its
// conntrack table and its expectations, for a failure message.
func (l *Lab) Diagnostics(ctx context.Context) string {
	var b strings.Builder
	for _, c := range []struct {
		title string
		args  []string
	}{
		{"nft list ruleset", []string{l.nftPath, "list", "ruleset"}},
		{"/proc/net/nf_conntrack", []string{"cat", "/proc/net/nf_conntrack"}},
		{"/proc/net/nf_conntrack_expect", []string{"cat", "/proc/net/nf_conntrack_expect"}},
	} {
		out, err := l.Run(ctx, Firewall, c.args[0], c.args[1:]...)
		fmt.Fprintf(&b, "== %s\n%s", c.title, out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	return b.String()
}
