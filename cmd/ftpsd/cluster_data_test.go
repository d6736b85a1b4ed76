//go:build linux

package main

import (
	"bytes"
	"context"

	"fmt"
	"github.com/minio/minio-go/v7"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/miniotest"
	"ftpsd/internal/netlab"
	"ftpsd/internal/testenv"
)

// The recommended layout of docs/cluster.md: the balancer forwards the
// control port and each node's passive range, all with send-proxy-v2, and
// every node announces the balancer's public address. On one machine the
// balancer's front cannot bind the ports the nodes' passive listeners
// bind on every address, so its public side lives in a network namespace
// of its own (netlab.Loopback; HAProxy's "bind ... namespace"), where the
// clients run too, from ftptest.ClientAddr. Its back still connects from
// ftptest.BalancerAddr, the nodes' trusted_proxies.
var clusterPublicAddr = netip.MustParseAddr("127.0.0.10")

// clusterDataNodeConfig is a node of that layout: its own range, the
// balancer's public address announced, data connections through the
// balancer (passive.proxy_protocol), EPSV on.
func clusterDataNodeConfig(f *fixture, ip string, store *miniotest.Server) string {
	return clusterConfig(f, ip, store, fmt.Sprintf("public_address = %q\nproxy_protocol = true\nannounce_after_ccc = \"public\"\n", clusterPublicAddr)) +
		fmt.Sprintf("[[users]]\nname = \"noreuse\"\npassword_hash = %q\nhome = \"alice\"\nrequire_session_reuse = false\n", f.hash("noreuse"))
}

// haproxyDataConfig is the balancer of that layout, its front in the
// namespace ns: the control port balanced over the nodes, and each node's
// range forwarded to that node (the same port: the server has none).
func haproxyDataConfig(ns, front, ready string, nodes []*clusterNode) string {
	var b strings.Builder
	b.WriteString(haproxyHead)
	fmt.Fprintf(&b, "frontend ftp\n    bind %s namespace %s\n    default_backend ftpsd\n", front, ns)
	fmt.Fprintf(&b, "frontend ready\n    bind %s\n    tcp-request connection reject\n", ready)
	fmt.Fprintf(&b, "backend ftpsd\n    balance roundrobin\n    source %s\n", ftptest.BalancerAddr)
	for i, n := range nodes {
		fmt.Fprintf(&b, "    server node%d %s send-proxy-v2 check inter 1s\n", i+1, n.addr)
	}
	for i, n := range nodes {
		fmt.Fprintf(&b, "listen data-node%d\n    bind %s:%d-%d namespace %s\n    source %s\n    server node%d %s send-proxy-v2\n",
			i+1, clusterPublicAddr, n.ports.Start, n.ports.End, ns, ftptest.BalancerAddr, i+1, n.ip)
	}
	return b.String()
}

// nodeOfPort returns the node whose range holds port.
func nodeOfPort(t *testing.T, nodes []*clusterNode, addr string) *clusterNode {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Addr() != clusterPublicAddr {
		t.Fatalf("PASV announced %s, want the balancer's public address %s", addr, clusterPublicAddr)
	}
	for _, n := range nodes {
		if n.ports.Contains(int(ap.Port())) {
			return n
		}
	}
	t.Fatalf("PASV announced port %d, in no node's range", ap.Port())
	return nil
}

// transferNode returns the node that logged a successful transfer of
// name in direction, waiting for the line.
func transferNode(t *testing.T, nodes []*clusterNode, name, direction string) *clusterNode {
	t.Helper()
	var found *clusterNode
	ftptest.Eventually(10*time.Second, func() bool {
		for _, n := range nodes {
			for _, e := range n.server.logs("transfer") {
				if strings.HasSuffix(e.str("path"), "/"+name) && e.str("direction") == direction && e.str("result") == "ok" {
					found = n
					return true
				}
			}
		}
		return false
	})
	if found == nil {
		t.Fatalf("no node logged the %s of %s", direction, name)
	}
	return found
}

// TestClusterDataThroughHAProxy: two nodes on one MinIO store behind
// HAProxy, which forwards the control port and both nodes' ranges with
// send-proxy-v2. curl, lftp and Python's ftplib, on their defaults for
// passive mode (curl EPSV to the control connection's address, lftp the
// 227's address, ftplib the control connection's address, ignoring the
// 227's), each upload through one node and download through the other
// with the same SHA-256 (ftplib as ReusingFTP_TLS, and stock FTP_TLS for an
// account with require_session_reuse = false); rclone downloads a tree
// over connections to both nodes. Each node logs the client, never the
// balancer; a data connection through the balancer from another address
// is refused, and so is one straight to the node, while the session's own
// is served.
func TestClusterDataThroughHAProxy(t *testing.T) {
	tools := struct{ haproxy, curl, lftp, python, rclone string }{
		testenv.NeedTool(t, "haproxy", "haproxy"), testenv.NeedTool(t, "curl", "curl"),
		testenv.NeedTool(t, "lftp", "lftp"), testenv.NeedTool(t, "python3", "python3"),
		testenv.NeedTool(t, "rclone", "rclone"),
	}
	public := netlab.NewLoopback(t, ftptest.ClientAddr)
	store := miniotest.New(t)
	nodes := startClusterOf(t, store, clusterDataNodeConfig)
	front := netip.AddrPortFrom(clusterPublicAddr, uint16(ftptest.FreePort(t))).String()
	runHAProxy(t, tools.haproxy, func(ready string) string { return haproxyDataConfig(public.Name(), front, ready, nodes) })

	dir := t.TempDir()
	content := ftptest.RandomData(t, 1<<20)
	upPath := ftptest.WriteFile(t, dir, "up.bin", content)
	user, pass := "alice", password("alice")
	run := func(argv []string) ([]byte, error) { // in the balancer's public namespace
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return public.Command(ctx, argv[0], argv[1:]...).CombinedOutput()
	}
	url := func(name string) string { return "ftp://" + front + "/" + name }
	curl := func(args ...string) []string {
		return append([]string{tools.curl, "-sS", "--max-time", "30", "--ssl-reqd", "-k", "-u", user + ":" + pass}, args...)
	}
	lftp := func(command string) []string {
		return []string{tools.lftp, "--norc", "-c", strings.Join([]string{
			"set cmd:fail-exit yes", "set net:timeout 10", "set net:max-retries 1",
			"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:verify-certificate no",
			fmt.Sprintf("open -u %s,%s ftp://%s", user, pass, front), command, "bye"}, "; ")}
	}
	ftplib := func(args ...string) []string {
		host, port, _ := strings.Cut(front, ":")
		return append([]string{tools.python, ftptest.FtplibClient(t), "--host", host, "--port", port,
			"--user", user, "--password", pass, "--timeout", "20"}, args...)
	}
	obscured, err := exec.Command(tools.rclone, "obscure", password("noreuse")).Output()
	if err != nil {
		t.Fatalf("rclone obscure: %v", err)
	}
	rcloneConf := ftptest.WriteFile(t, dir, "rclone.conf", nil)
	rclone := func(args ...string) []string {
		host, port, _ := strings.Cut(front, ":")
		remote := fmt.Sprintf(":ftp,host=%s,port=%s,user=noreuse,pass=%s,explicit_tls=true,no_check_certificate=true:",
			host, port, strings.TrimSpace(string(obscured)))
		for i, a := range args {
			args[i] = strings.Replace(a, "REMOTE:", remote, 1)
		}
		return append([]string{tools.rclone, "--config", rcloneConf, "--retries", "1", "--low-level-retries", "1", "-v"}, args...)
	}
	noReuse := func(args ...string) []string { // the last --user wins
		return append([]string{"--no-reuse", "--user", "noreuse", "--password", password("noreuse")}, args...)
	}
	for _, c := range []struct {
		name     string
		up, down func(remote, local string) []string
	}{
		{"curl",
			func(remote, _ string) []string { return curl("-T", upPath, url(remote)) },
			func(remote, local string) []string { return curl("-o", local, url(remote)) }},
		{"lftp",
			func(remote, _ string) []string { return lftp("put " + upPath + " -o " + remote) },
			func(remote, local string) []string { return lftp("get " + remote + " -o " + local) }},
		// ReusingFTP_TLS (docs/clients.md): stock FTP_TLS cannot resume
		// the TLS session, which ftpsd requires by default.
		{"ftplib",
			func(remote, _ string) []string { return ftplib("--upload", upPath, "--remote", remote) },
			func(remote, local string) []string { return ftplib("--download", local, "--get", remote) }},
		// Stock FTP_TLS, for an account that does not require resumption.
		{"ftplib-stock",
			func(remote, _ string) []string { return ftplib(noReuse("--upload", upPath, "--remote", remote)...) },
			func(remote, local string) []string { return ftplib(noReuse("--download", local, "--get", remote)...) }},
	} {
		remote, local := c.name+".bin", filepath.Join(dir, c.name+"-down.bin")
		for i, step := range [][]string{c.up(remote, local), c.down(remote, local)} {
			start := time.Now()
			out, err := run(step)
			t.Logf("%s %s: %v", c.name, [...]string{"upload", "download"}[i], time.Since(start).Round(time.Millisecond))
			if err != nil {
				t.Fatalf("%s: %v: %v\n%s", c.name, step, err, out)
			}
		}
		if err := ftptest.SameFile(local, content); err != nil {
			t.Errorf("%s: download: %v", c.name, err)
		}
		up, down := transferNode(t, nodes, remote, "upload"), transferNode(t, nodes, remote, "download")
		if up == down {
			t.Errorf("%s: upload and download both through node %s; round robin should alternate", c.name, up.ip)
		}
	}

	// rclone on its defaults (4 transfers and 8 checkers, each on a
	// control connection of its own, spread over both nodes) downloads a
	// tree. Its connections share one TLS session cache entry, so a data
	// connection to one node may offer another node's ticket, which no
	// other node can resume (each has its own ticket keys): its account
	// has require_session_reuse = false (docs/cluster.md). It downloads
	// only: after an upload it sets the file's time (MFMT), which backend
	// s3 refuses (550), whatever the network.
	tree := make(map[string][]byte)
	for i := range 20 {
		name := fmt.Sprintf("f%02d.bin", i)
		tree[name] = ftptest.RandomData(t, 50<<10+i)
		if _, err := store.Client().PutObject(context.Background(), miniotest.Bucket, "alice/tree/"+name,
			bytes.NewReader(tree[name]), int64(len(tree[name])), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(rclone("copy", "REMOTE:tree", filepath.Join(dir, "tree"))); err != nil {
		t.Fatalf("rclone copy: %v\n%s", err, out)
	}
	for name, data := range tree {
		if err := ftptest.SameFile(filepath.Join(dir, "tree", name), data); err != nil {
			t.Errorf("rclone: %v", err)
		}
	}
	for _, n := range nodes {
		if !slices.ContainsFunc(n.server.logs("login"), func(e logEntry) bool { return e.str("user") == "noreuse" }) {
			t.Errorf("no rclone session on node %s: the test wants its connections on both nodes", n.ip)
		}
	}

	// Another address's data connection through the balancer, while RETR
	// waits for the session's own: refused, logged with that address.
	c := ftptest.Dialer{DialContext: public.DialContext, Timeout: 10 * time.Second}.MustLogin(t, front, user, pass)
	p := c.Pasv(false)
	node := nodeOfPort(t, nodes, p.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	foreign, err := public.DialFrom(ctx, ftptest.StrangerAddr, p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	c.Send("RETR curl.bin")
	ftptest.MustBeDropped(t, foreign, 10*time.Second, "data connection from "+ftptest.StrangerAddr.String())
	refused := node.server.waitLog(t, "data connection from another address refused", 1, 10*time.Second)
	if from := refused.str("from"); !strings.HasPrefix(from, ftptest.StrangerAddr.String()+":") {
		t.Errorf("refusal logged from %q, want %s", from, ftptest.StrangerAddr)
	}
	// Straight to the node's port, around the balancer: dropped unread.
	_, port, _ := strings.Cut(p.Addr, ":")
	direct := ftptest.DialFrom(t, ftptest.StrangerAddr, node.ip+":"+port)
	ftptest.MustBeDropped(t, direct, 10*time.Second, "data connection straight to node "+node.ip)
	if d := node.server.waitLog(t, "data connection dropped: PROXY protocol", 1, 10*time.Second); d.str("peer") != ftptest.StrangerAddr.String() || d.str("reason") != "untrusted" {
		t.Errorf("direct data connection logged as %v, want peer %s, reason untrusted", d, ftptest.StrangerAddr)
	}
	data := c.DialData(p.Addr)
	c.Expect(150, "RETR")
	x, err := c.Attach(data, "RETR")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.Receive(); err != nil || ftptest.SHA256Hex(got) != ftptest.SHA256Hex(content) {
		t.Fatalf("RETR through node %s after the refusal: %d bytes, %v", node.ip, len(got), err)
	}
	c.Quit()

	for _, n := range nodes {
		logins := n.server.logs("login")
		if len(logins) == 0 {
			t.Errorf("node %s logged no login", n.ip)
		}
		for _, l := range logins {
			if r := l.str("remote"); !strings.HasPrefix(r, ftptest.ClientAddr.String()+":") {
				t.Errorf("node %s logged a login from %q, want the client %s", n.ip, r, ftptest.ClientAddr)
			}
		}
		if out := n.server.stderr.String(); strings.Contains(out, ftptest.BalancerAddr.String()+":") {
			t.Errorf("node %s logged the balancer's address %s:\n%s", n.ip, ftptest.BalancerAddr, out)
		}
		want := 0
		if n == node {
			want = 1 // the direct connection above
		}
		if got := len(n.server.logs("data connection dropped: PROXY protocol")); got != want {
			t.Errorf("node %s dropped %d data connections, want %d", n.ip, got, want)
		}
	}
	t.Logf("ports: node %s %s, node %s %s; front %s", nodes[0].ip, nodes[0].ports, nodes[1].ip, nodes[1].ports, front)
}
