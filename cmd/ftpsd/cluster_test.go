package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/testenv"
)

// Two ftpsd nodes behind a real HAProxy (mode tcp, send-proxy-v2), all on
// loopback: the balancer is ftptest.BalancerAddr, the nodes 127.0.0.2 and
// 127.0.0.3 with a passive range each, announced with their own address
// (public_address); the balancer forwards the control port only. The
// client is ftptest.ClientAddr; ftptest.StrangerAddr is somebody else.
var clusterNodeIPs = []string{"127.0.0.2", "127.0.0.3"}

// clusterNode is one running node.
type clusterNode struct {
	ip     string
	addr   string // explicit FTPS, host:port
	server *server
	ports  ftptest.Range // its passive range
}

// clusterNodeConfig is the configuration of the node on ip: its own
// passive range announced with its own address, EPSV off (EPSV names no
// address: the client would connect to the balancer), the PROXY protocol
// from the balancer only.
func clusterNodeConfig(f *fixture, ip string, store *miniotest.Server) string {
	return clusterConfig(f, ip, store, fmt.Sprintf("public_address = %q\nepsv = false\n", ip))
}

// clusterConfig is the configuration of a node on ip behind the balancer,
// with passive, the keys of [passive] beside the node's own range.
func clusterConfig(f *fixture, ip string, store *miniotest.Server, passive string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"%s:0\"\nproxy_protocol = true\ntrusted_proxies = [\"%s/32\"]\n", ip, ftptest.BalancerAddr)
	fmt.Fprintf(&b, "[tls]\nself_signed = false\ncert_file = %q\nkey_file = %q\n", f.certFile, f.keyFile)
	fmt.Fprintf(&b, "[passive]\nports = %q\nmax_ports_per_ip = %d\n%s", f.ports, f.ports.Len(), passive)
	b.WriteString(s3Storage(store)) // the store every node shares
	fmt.Fprintf(&b, "[[users]]\nname = \"alice\"\npassword_hash = %q\nhome = \"alice\"\n", f.hash("alice"))
	b.WriteString("[log]\nlevel = \"info\"\nformat = \"json\"\n")
	return b.String()
}

// startCluster starts the nodes on one shared store.
func startCluster(t *testing.T, store *miniotest.Server) []*clusterNode {
	t.Helper()
	return startClusterOf(t, store, clusterNodeConfig)
}

// startClusterOf starts the nodes on one shared store, each with the
// configuration config returns.
func startClusterOf(t *testing.T, store *miniotest.Server, config func(*fixture, string, *miniotest.Server) string) []*clusterNode {
	t.Helper()
	var nodes []*clusterNode
	for _, ip := range clusterNodeIPs {
		f := newFixture(t, 4)
		f.write(config(f, ip, store))
		s := startFtpsd(t, f.dir, "-config", f.path)
		addr := s.waitLog(t, "ftpsd started", 1, startTimeout).str("listen")
		if !strings.HasPrefix(addr, ip+":") {
			t.Fatalf("node %s listens on %q", ip, addr)
		}
		nodes = append(nodes, &clusterNode{ip: ip, addr: addr, server: s, ports: f.ports})
	}
	return nodes
}

// haproxyConfig is the balancer of docs/cluster.md:
// TCP mode, round robin, the PROXY protocol v2 to each node (and health
// checks, which send LOCAL headers), connections to the nodes from the
// balancer's own address. A second frontend that
// refuses everything tells when the balancer listens.
func haproxyConfig(front, ready string, nodes []*clusterNode) string {
	var b strings.Builder
	b.WriteString(haproxyHead)
	fmt.Fprintf(&b, `frontend ftp
    bind %s
    default_backend ftpsd
frontend ready
    bind %s
    tcp-request connection reject
backend ftpsd
    balance roundrobin
    source %s
`, front, ready, ftptest.BalancerAddr)
	for i, n := range nodes {
		fmt.Fprintf(&b, "    server node%d %s send-proxy-v2 check inter 1s\n", i+1, n.addr)
	}
	return b.String()
}

// haproxyHead is the start of the test balancers' configurations.
const haproxyHead = `global
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    retries 2
    option redispatch 1
`

// startHAProxy runs HAProxy (the program bin) in the foreground in front of nodes and
// returns its frontend address once it listens.
func startHAProxy(t *testing.T, bin string, nodes []*clusterNode) string {
	t.Helper()
	front := netip.AddrPortFrom(ftptest.BalancerAddr, uint16(ftptest.FreePort(t))).String()
	runHAProxy(t, bin, func(ready string) string { return haproxyConfig(front, ready, nodes) })
	return front
}

// runHAProxy runs HAProxy (the program bin) in the foreground with the
// configuration config returns for the address of its frontend that
// refuses everything, and returns once that frontend listens.
func runHAProxy(t *testing.T, bin string, config func(ready string) string) {
	t.Helper()
	dir := t.TempDir()
	ready := netip.AddrPortFrom(ftptest.BalancerAddr, uint16(ftptest.FreePort(t))).String()
	cfg := writeText(t, dir, "haproxy.cfg", config(ready))
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	p := startServerCmd(t, exec.Command(bin, "-db", "-f", cfg), dir) // stopped when the test ends
	if !ftptest.Eventually(startTimeout, func() bool {
		c, err := net.DialTimeout("tcp", ready, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil || p.exited()
	}) || p.exited() {
		t.Fatalf("haproxy did not listen on %s (exited: %v)\n%s", ready, p.exited(), p.stderr)
	}
}

// nodeOf returns the node whose address a 227 reply announced.
func nodeOf(t *testing.T, nodes []*clusterNode, p ftptest.Passive) *clusterNode {
	t.Helper()
	for _, n := range nodes {
		if strings.HasPrefix(p.Addr, n.ip+":") {
			return n
		}
	}
	t.Fatalf("PASV announced %s (%v), no node's address", p.Addr, p.Reply)
	return nil
}

// TestClusterBehindHAProxy: on one MinIO store, a file uploaded through one node is
// downloaded through the other with the same SHA-256; each node logs the
// client's own address, not the balancer's; a data connection from
// another address is refused; a node stopped in the middle of a session
// leaves the other node's sessions alone; a PROXY header sent by an
// untrusted client straight to a node is refused.
func TestClusterBehindHAProxy(t *testing.T) {
	haproxy := testenv.NeedTool(t, "haproxy", "haproxy")
	store := miniotest.New(t)
	nodes := startCluster(t, store)
	front := startHAProxy(t, haproxy, nodes)
	client := ftptest.Dialer{Local: ftptest.ClientAddr, Timeout: 10 * time.Second}

	// Round robin: the two sessions land on the two nodes.
	up := client.MustLogin(t, front, "alice", password("alice"))
	pUp := up.Pasv(false)
	upNode := nodeOf(t, nodes, pUp)
	content := ftptest.RandomData(t, 1<<20)
	up.OpenAt(pUp.Addr, "STOR shared.bin").Send(content)
	down := client.MustLogin(t, front, "alice", password("alice"))
	pDown := down.Pasv(false)
	downNode := nodeOf(t, nodes, pDown)
	if downNode == upNode {
		t.Fatalf("both sessions went to node %s; round robin should alternate", upNode.ip)
	}
	foreign := ftptest.DialFrom(t, ftptest.StrangerAddr, pDown.Addr)
	got, err := down.OpenAt(pDown.Addr, "RETR shared.bin").Receive()
	if err != nil {
		t.Fatal(err)
	}
	if ftptest.SHA256Hex(got) != ftptest.SHA256Hex(content) {
		t.Fatalf("downloaded through node %s: SHA-256 %s, uploaded through node %s: %s",
			downNode.ip, ftptest.SHA256Hex(got), upNode.ip, ftptest.SHA256Hex(content))
	}
	if obj, err := store.Client().StatObject(context.Background(), miniotest.Bucket, "alice/shared.bin", minio.StatObjectOptions{}); err != nil || obj.Size != int64(len(content)) {
		t.Fatalf("the upload in the shared store: %+v, %v; want alice/shared.bin of %d bytes", obj, err, len(content))
	}
	ftptest.MustBeDropped(t, foreign, 10*time.Second, "data connection from "+ftptest.StrangerAddr.String())
	refused := downNode.server.waitLog(t, "data connection from another address refused", 1, 10*time.Second)
	if from := refused.str("from"); !strings.HasPrefix(from, ftptest.StrangerAddr.String()+":") {
		t.Errorf("refusal logged from %q, want %s", from, ftptest.StrangerAddr)
	}
	for _, n := range nodes {
		login := n.server.waitLog(t, "login", 1, 10*time.Second)
		if r := login.str("remote"); !strings.HasPrefix(r, ftptest.ClientAddr.String()+":") {
			t.Errorf("node %s logged the login from %q, want the client %s", n.ip, r, ftptest.ClientAddr)
		}
		if strings.Contains(n.server.stderr.String(), ftptest.BalancerAddr.String()+":") {
			t.Errorf("node %s logged the balancer's address %s", n.ip, ftptest.BalancerAddr)
		}
	}

	// The upload node stops (killed) during its session; the other
	// node's session goes on, and a new client gets in through it.
	if err := upNode.server.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, ok := ftptest.Receive(upNode.server.done, stopTimeout); !ok {
		t.Fatalf("node %s did not exit after SIGKILL", upNode.ip)
	}
	_ = up.Client.Close()
	down.Do(200, "NOOP")
	p := down.Pasv(false)
	if got, err := down.OpenAt(p.Addr, "RETR shared.bin").Receive(); err != nil || ftptest.SHA256Hex(got) != ftptest.SHA256Hex(content) {
		t.Fatalf("download through node %s after node %s stopped: %d bytes, %v", downNode.ip, upNode.ip, len(got), err)
	}
	late := client.MustLogin(t, front, "alice", password("alice"))
	if n := nodeOf(t, nodes, late.Pasv(false)); n != downNode {
		t.Fatalf("a new session went to node %s, want the running node %s", n.ip, downNode.ip)
	}
	late.Quit()
	down.Quit()

	// A PROXY header from an untrusted client straight to a node.
	direct := ftptest.Dialer{Local: ftptest.ClientAddr, Proxy: ftptest.StrangerAddr, Timeout: 10 * time.Second}
	if c, err := direct.Connect(downNode.addr); err == nil {
		_ = c.Close()
		t.Fatalf("a PROXY header from %s straight to node %s got the greeting %v", ftptest.StrangerAddr, downNode.ip, c.Greeting())
	}
	dropped := downNode.server.waitLog(t, "connection dropped: PROXY protocol", 1, 10*time.Second)
	if dropped.str("peer") != ftptest.StrangerAddr.String() || dropped.str("reason") != "untrusted" {
		t.Errorf("drop logged as %v, want peer %s, reason untrusted", dropped, ftptest.StrangerAddr)
	}
}
