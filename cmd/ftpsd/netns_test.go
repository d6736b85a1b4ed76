//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/netlab"
	"ftpsd/internal/testenv"
)

// TestNetnsFirewall runs ftpsd behind a real stateful firewall (network
// namespaces and nftables, see internal/netlab) whose forward policy is
// drop and whose FTP helper (nf_conntrack_ftp, nf_nat_ftp) opens the data
// connections it reads in 227/229 replies, and drives it with curl, lftp,
// Python's ftplib and a raw Go client from the client side, routed and
// behind NAT. ftpsd runs with its default settings, plus, behind NAT, the
// one key docs/firewall.md tells such a site to set: [passive] public_address.
// Every transfer is checked with SHA-256.
//
//  1. TLS control channel, helper only (passive range not opened): the
//     firewall cannot read the passive replies and the transfer fails.
//  2. After CCC, helper only: the helper reads the replies (after CCC the
//     227 carries the server's own address, which nf_nat_ftp rewrites
//     under NAT) and curl (both CCC modes), lftp (3 runs) and ftplib
//     (PASV as the first command after CCC) download and upload.
//  3. Passive range opened (forwarded under NAT), no CCC: curl (EPSV and
//     PASV, TLS 1.3 and 1.2), lftp and ftplib download and upload.
//  4. After CCC, data connections from other addresses (another client
//     host, the firewall on the server network) are refused: the attacker
//     gets no byte of the file and nothing it sends is stored; the
//     session's own data connections from its address go on working, also
//     when they do not resume the control connection's TLS session.
func TestNetnsFirewall(t *testing.T) {
	tools := labTools{
		curl:   testenv.NeedTool(t, "curl", "curl"),
		lftp:   testenv.NeedTool(t, "lftp", "lftp"),
		python: testenv.NeedTool(t, "python3", "python3"),
	}
	for _, topo := range []netlab.Topology{netlab.Routed, netlab.NAT} {
		t.Run(topo.String(), func(t *testing.T) {
			t.Parallel()
			s := newNetSite(t, topo, tools)

			t.Run("1_tls_control_range_closed", s.caseTLSControlFails)

			t.Run("2_ccc_helper_only", func(t *testing.T) {
				t.Run("curl", func(t *testing.T) { s.curlTransfer(t, "--ftp-ssl-ccc") })
				t.Run("curl_ccc_mode_active", func(t *testing.T) {
					s.curlTransfer(t, "--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", "active")
				})
				for i := 1; i <= 3; i++ {
					t.Run(fmt.Sprintf("lftp_run%d", i), func(t *testing.T) { s.lftpTransfer(t, true) })
				}
				t.Run("python_pasv_first", func(t *testing.T) { s.pythonTransfer(t, "ccc") })
				if c := s.logCounters(t); c[netlab.CounterRelated].Packets == 0 {
					t.Errorf("the FTP helper let no data connection through: counters %v", c)
				}
			})

			ctx, cancel := context.WithTimeout(context.Background(), netlab.DefaultCommandTimeout)
			defer cancel()
			if err := s.lab.SetOpenRange(ctx, labRangeStart, labRangeEnd); err != nil {
				t.Fatal(err)
			}

			t.Run("3_range_open_no_ccc", func(t *testing.T) {
				for _, tc := range []struct {
					name string
					args []string
				}{
					{"curl_epsv_tls1.3", []string{"--tlsv1.3"}},
					{"curl_epsv_tls1.2", []string{"--tls-max", "1.2"}},
					{"curl_pasv_tls1.3", []string{"--disable-epsv", "--tlsv1.3"}},
					{"curl_pasv_tls1.2", []string{"--disable-epsv", "--tls-max", "1.2"}},
				} {
					t.Run(tc.name, func(t *testing.T) { s.curlTransfer(t, tc.args...) })
				}
				t.Run("lftp", func(t *testing.T) { s.lftpTransfer(t, false) })
				t.Run("python", func(t *testing.T) { s.pythonTransfer(t, "reuse") })
				if c := s.logCounters(t); c[netlab.CounterRange].Packets == 0 {
					t.Errorf("no connection went through the open range: counters %v", c)
				}
			})

			t.Run("4_ccc_other_address_refused", s.caseOtherAddressRefused)
		})
	}
}

// The lab's server settings. The namespaces are the test's own, so fixed
// ports cannot clash with anything else on the host.
const (
	labControlPort = 2121
	labRangeStart  = 30000 // below the ephemeral range (32768-60999)
	labRangeEnd    = 30009
	labUser        = "alice"
	labFileSize    = 384 << 10
)

// Bounds of the client programs.
const (
	clientIOTimeout  = 10 * time.Second // curl --max-time, socket timeouts
	clientRunTimeout = 45 * time.Second // one client process, whatever it does
	attackTimeout    = 5 * time.Second  // an attacker's reads and writes
)

// labTools are the paths of the client programs.
type labTools struct{ curl, lftp, python string }

// netSite is ftpsd in the lab's server namespace with one user, and the
// client's files.
type netSite struct {
	lab     *netlab.Lab
	tools   labTools
	ctl     netip.AddrPort // the control address the clients dial
	srv     *server
	home    string // the user's home on the server
	dir     string // the client's files
	down    []byte // content of download.bin in the home
	upPath  string // the file the clients upload
	up      []byte // its content
	seqMu   sync.Mutex
	seq     int    // names the files of each client run
	cfgPath string // ftpsd's configuration file
}

func newNetSite(t *testing.T, topo netlab.Topology, tools labTools) *netSite {
	t.Helper()
	return newNetSiteWith(t, topo, tools, fmt.Sprintf("%d-%d", labRangeStart, labRangeEnd), "")
}

// newNetSiteWith is newNetSite with passive.ports = ports and the lines
// passive (may be empty) added to [passive].
func newNetSiteWith(t *testing.T, topo netlab.Topology, tools labTools, ports, passive string) *netSite {
	t.Helper()
	lab := netlab.New(t, netlab.WithTopology(topo), netlab.WithControlPort(labControlPort))
	t.Logf("lab %s, firewall ruleset:\n%s", lab.Tag(), lab.Ruleset())
	// The defaults, plus what docs/firewall.md tells a site behind NAT to set.
	keys := fmt.Sprintf("ports = %q\n%s", ports, passive)
	if topo == netlab.NAT {
		keys += fmt.Sprintf("public_address = %q\n", lab.PublicAddr())
	}
	return startNetSite(t, lab, tools, netlab.Server, lab.ControlAddr(), keys)
}

// startNetSite starts ftpsd in node of lab with the [passive] keys of
// passive and one user; its clients dial ctl.
func startNetSite(t *testing.T, lab *netlab.Lab, tools labTools, node netlab.Node, ctl netip.AddrPort, passive string) *netSite {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	s := &netSite{lab: lab, tools: tools, ctl: ctl, home: filepath.Join(root, labUser), dir: filepath.Join(dir, "client"),
		down: ftptest.RandomData(t, labFileSize), up: ftptest.RandomData(t, labFileSize-1000)}
	ftptest.WriteFile(t, s.home, "download.bin", s.down)
	s.upPath = ftptest.WriteFile(t, s.dir, "upload.bin", s.up)

	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"0.0.0.0:%d\"\n\n", labControlPort)
	fmt.Fprintf(&b, "[passive]\n%s", passive)
	fmt.Fprintf(&b, "\n[storage]\nroot = %q\n\n", root)
	fmt.Fprintf(&b, "[[users]]\nname = %q\npassword_hash = %q\nhome = %q\n\n", labUser, ftptest.HashPassword(t, password(labUser)), labUser)
	b.WriteString("[log]\nformat = \"json\"\n")
	path := writeText(t, dir, "ftpsd.toml", b.String())
	t.Logf("ftpsd.toml:\n%s", b.String())

	s.cfgPath = path
	s.srv = startFtpsdOn(t, lab, node, dir, "-config", path)
	s.srv.waitLog(t, "ftpsd started", 1, startTimeout)
	return s
}

// startFtpsdOn is startFtpsd in node of the lab.
func startFtpsdOn(t *testing.T, lab *netlab.Lab, node netlab.Node, dir string, args ...string) *server {
	t.Helper()
	return startServerCmd(t, lab.Command(context.Background(), node, ftpsdBin, args...), dir)
}

// next returns a fresh local path and remote name for one client run.
func (s *netSite) next(client string) (local, remote string) {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	s.seq++
	name := fmt.Sprintf("%s-%d.bin", client, s.seq)
	return filepath.Join(s.dir, "down-"+name), "up-" + name
}

// run runs a client program in the client namespace within
// clientRunTimeout and returns its output and how long it took.
func (s *netSite) run(t *testing.T, name string, args ...string) (string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientRunTimeout)
	defer cancel()
	start := time.Now()
	out, err := s.lab.Run(ctx, netlab.Client, name, args...)
	return out, time.Since(start), err
}

// checkDownload compares the local copy with download.bin.
func (s *netSite) checkDownload(t *testing.T, local string) {
	t.Helper()
	if err := ftptest.SameFile(local, s.down); err != nil {
		t.Errorf("download: %v", err)
	}
}

// checkUpload compares the stored file remote with the uploaded one.
func (s *netSite) checkUpload(t *testing.T, remote string) {
	t.Helper()
	if err := ftptest.SameFile(filepath.Join(s.home, remote), s.up); err != nil {
		t.Errorf("upload: %v", err)
	}
}

func (s *netSite) url(name string) string {
	return "ftp://" + s.ctl.String() + "/" + name
}

func (s *netSite) curlArgs(extra ...string) []string {
	return append([]string{"-sS", "-v", "--connect-timeout", "3", "--max-time", strconv.Itoa(int(clientIOTimeout / time.Second)),
		"--ssl-reqd", "-k", "-u", labUser + ":" + password(labUser)}, extra...)
}

// curlTransfer downloads and uploads a file with curl and its options.
func (s *netSite) curlTransfer(t *testing.T, opts ...string) {
	local, remote := s.next("curl")
	if out, took, err := s.run(t, s.tools.curl, s.curlArgs(append(opts, "-o", local, s.url("download.bin"))...)...); err != nil {
		t.Errorf("curl %v download after %v: %v\n%s", opts, took.Round(time.Millisecond), err, out)
	} else {
		s.checkDownload(t, local)
	}
	if out, took, err := s.run(t, s.tools.curl, s.curlArgs(append(opts, "-T", s.upPath, s.url(remote))...)...); err != nil {
		t.Errorf("curl %v upload after %v: %v\n%s", opts, took.Round(time.Millisecond), err, out)
	} else {
		s.checkUpload(t, remote)
	}
}

// lftpTransfer downloads and uploads a file with lftp, with CCC or not,
// and the settings extra ("set ..." commands).
func (s *netSite) lftpTransfer(t *testing.T, ccc bool, extra ...string) {
	local, remote := s.next("lftp")
	useCCC := "no"
	if ccc {
		useCCC = "yes"
	}
	script := []string{
		"set cmd:fail-exit yes",
		"set net:timeout 5", "set net:max-retries 1", "set net:reconnect-interval-base 1", "set net:persist-retries 0",
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ftp:ssl-use-ccc " + useCCC,
		"set ssl:verify-certificate no", "set xfer:clobber on",
		"debug 5",
	}
	script = append(append(script, extra...),
		fmt.Sprintf("open -u %s,%s ftp://%s", labUser, password(labUser), s.ctl),
		"get download.bin -o "+local,
		"put "+s.upPath+" -o "+remote,
		"bye",
	)
	out, took, err := s.run(t, s.tools.lftp, "--norc", "-c", strings.Join(script, "; "))
	if err != nil {
		t.Errorf("lftp (CCC %s) after %v: %v\n%s", useCCC, took.Round(time.Millisecond), err, out)
		return
	}
	s.checkDownload(t, local)
	s.checkUpload(t, remote)
}

// pythonTransfer downloads and uploads a file with ftptest's
// ftplib_client.py. Mode "ccc": plain FTP_TLS (a new TLS session per data
// connection), CCC after PROT P, and PASV as the first command after CCC
// (the download comes first, without retrbinary's TYPE I). Mode "reuse":
// ReusingFTP_TLS, the class of docs/clients.md, whose data connections resume the
// control connection's TLS session as ftpsd requires by default. extra
// are more arguments of ftplib_client.py.
func (s *netSite) pythonTransfer(t *testing.T, mode string, extra ...string) {
	local, remote := s.next("python")
	args := []string{ftptest.FtplibClient(t), "--host", s.ctl.Addr().String(), "--port", strconv.Itoa(int(s.ctl.Port())),
		"--user", labUser, "--password", password(labUser), "--timeout", strconv.Itoa(int(clientIOTimeout / time.Second)),
		"--get", "download.bin", "--download", local, "--upload", s.upPath, "--remote", remote, "--debug"}
	if mode == "ccc" {
		args = append(args, "--no-reuse", "--ccc", "--pasv-first")
	}
	args = append(args, extra...)
	out, took, err := s.run(t, s.tools.python, args...)
	if err != nil {
		t.Errorf("python (%s) after %v: %v\n%s", mode, took.Round(time.Millisecond), err, out)
		return
	}
	s.checkDownload(t, local)
	s.checkUpload(t, remote)
}

// logCounters logs the firewall's counters and returns them.
func (s *netSite) logCounters(t *testing.T) map[string]netlab.Counter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), netlab.DefaultCommandTimeout)
	defer cancel()
	c, err := s.lab.Counters(ctx)
	if err != nil {
		t.Errorf("firewall counters: %v", err)
		return nil
	}
	t.Logf("firewall counters: %v", c)
	return c
}

// caseTLSControlFails: with the control channel under TLS the helper
// cannot read the passive replies, and the range is not opened: curl's
// download (EPSV, then PASV) and upload fail, within their timeouts.
func (s *netSite) caseTLSControlFails(t *testing.T) {
	local, remote := s.next("curl-tls")
	limit := clientIOTimeout + 5*time.Second
	for _, c := range []struct {
		what    string
		args    []string
		arrived func() bool
	}{
		{"download", s.curlArgs("-o", local, s.url("download.bin")), func() bool { return ftptest.SameFile(local, s.down) == nil }},
		{"upload", s.curlArgs("-T", s.upPath, s.url(remote)), func() bool {
			_, err := os.Stat(filepath.Join(s.home, remote))
			return err == nil
		}},
	} {
		out, took, err := s.run(t, s.tools.curl, c.args...)
		if err == nil {
			t.Errorf("%s through the firewall without CCC or open range succeeded:\n%s", c.what, out)
		} else {
			t.Logf("%s failed as expected after %v: %v", c.what, took.Round(time.Millisecond), err)
		}
		if took > limit {
			t.Errorf("the failing %s took %v, want at most %v", c.what, took, limit)
		}
		if c.arrived() {
			t.Errorf("%s: the file arrived although curl failed", c.what)
		}
	}
	s.logCounters(t)
}

// labPASV sends PASV and returns the announced address and port.
func labPASV(c *ftptest.Client) (netip.AddrPort, error) {
	addr, err := c.PASV()
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.ParseAddrPort(addr)
}

// finalReply reads replies until one that is not preliminary (1xx).
func finalReply(c *ftptest.Client) (ftptest.Reply, error) {
	for {
		r, err := c.Reply()
		if err != nil || r.Code >= 200 {
			return r, err
		}
	}
}

// labDial opens a connection from the client address, through the
// firewall (an ftptest.Dialer's DialContext).
func (s *netSite) labDial(ctx context.Context, _, address string) (net.Conn, error) {
	target, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	return s.lab.DialContext(ctx, netlab.Client, s.lab.ClientAddr(), target)
}

// labVictim logs in from the client address through the firewall, clears
// the control channel with CCC and sends TYPE I, so that the 227 replies
// that follow are not the first clear-text reply.
func (s *netSite) labVictim(t *testing.T) *ftptest.MustClient {
	t.Helper()
	c := ftptest.Dialer{DialContext: s.labDial}.MustLogin(t, s.lab.ControlAddr().String(), labUser, password(labUser))
	c.CCC()
	c.Do(200, "TYPE I")
	return c
}

// dataResult is what one side of a data connection saw.
type dataResult struct {
	got []byte // plaintext read
	err error
}

// dataSide is a TLS client on a data connection, running in the
// background.
type dataSide struct {
	raw  net.Conn
	done chan dataResult
}

// openData dials target from node (and local) now and, in the background,
// runs a TLS client on the connection that writes send (then closes) or,
// when send is nil, reads until the end. It gives up after attackTimeout.
func (s *netSite) openData(t *testing.T, node netlab.Node, local netip.Addr, target netip.AddrPort, send []byte) *dataSide {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), attackTimeout)
	defer cancel()
	raw, err := s.lab.DialContext(ctx, node, local, target)
	if err != nil {
		t.Fatalf("data connection to %v: %v", target, err)
	}
	d := &dataSide{raw: raw, done: make(chan dataResult, 1)}
	go func() {
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(attackTimeout))
		tc := tls.Client(raw, ftptest.FreshTLS())
		var r dataResult
		if r.err = tc.Handshake(); r.err == nil {
			if send != nil {
				_, r.err = tc.Write(send)
				_ = tc.Close()
			} else {
				r.got, r.err = io.ReadAll(tc)
			}
		}
		d.done <- r
	}()
	return d
}

// result waits for the end of the connection, at most grace more: the
// transfer's final reply has come, so the server is done with it.
func (d *dataSide) result(grace time.Duration) dataResult {
	_ = d.raw.SetDeadline(time.Now().Add(grace))
	return <-d.done
}

// caseOtherAddressRefused: after CCC the passive ports are readable on the
// wire. A third party that connects to one first, from another client
// address or from the firewall (on the server network), gets nothing and
// stores nothing; the victim's own data connections (fresh TLS sessions,
// from its address) work.
func (s *netSite) caseOtherAddressRefused(t *testing.T) {
	victim := s.labVictim(t)

	// Download theft from 198.51.100.3, through the open range.
	target, err := labPASV(victim.Client)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("victim's 227 announces %v", target)
	if want := s.lab.DialAddr(); target.Addr() != want {
		t.Errorf("after CCC the client sees %v in 227, want %v (the address it can reach)", target.Addr(), want)
		target = netip.AddrPortFrom(want, target.Port())
	}
	thief := s.openData(t, netlab.Client, s.lab.OtherClientAddr(), target, nil)
	own := s.openData(t, netlab.Client, s.lab.ClientAddr(), target, nil)
	victim.Send("RETR download.bin")
	r, err := finalReply(victim.Client)
	if err != nil {
		t.Fatalf("RETR with a thief first: %v", err)
	}
	stolen, mine := thief.result(time.Second), own.result(time.Second)
	t.Logf("RETR with a thief first: %q; thief read %d bytes (%v); victim read %d bytes (%v)",
		r, len(stolen.got), stolen.err, len(mine.got), mine.err)
	if len(stolen.got) > 0 {
		t.Errorf("a data connection from %v read %d bytes of download.bin", s.lab.OtherClientAddr(), len(stolen.got))
	}
	if r.Code == 226 && !bytes.Equal(mine.got, s.down) {
		t.Errorf("226 but the victim read %d bytes, not download.bin", len(mine.got))
	}

	// Upload injection from the firewall, which reaches the server directly.
	target, err = labPASV(victim.Client)
	if err != nil {
		t.Fatal(err)
	}
	marker := append([]byte("INJECTED BY A THIRD PARTY "), ftptest.RandomData(t, 64<<10)...)
	direct := netip.AddrPortFrom(s.lab.ServerAddr(), target.Port())
	injector := s.openData(t, netlab.Firewall, netip.Addr{}, direct, marker)
	own = s.openData(t, netlab.Client, s.lab.ClientAddr(), s.lab.DataAddr(int(target.Port())), s.up)
	victim.Send("STOR injected.bin")
	r, err = finalReply(victim.Client)
	if err != nil {
		t.Fatalf("STOR with an injector first: %v", err)
	}
	injected, mine := injector.result(time.Second), own.result(time.Second)
	t.Logf("STOR with an injector first: %q; injector: %v; victim: %v", r, injected.err, mine.err)
	if r.Code == 226 {
		s.checkUpload(t, "injected.bin")
	}
	if err := filepath.WalkDir(s.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, marker[:64]) {
			t.Errorf("%s holds bytes sent by a data connection from %v", path, s.lab.FirewallServerAddr())
		}
		return err
	}); err != nil {
		t.Error(err)
	}

	// The victim's own data connections, from its address, with fresh TLS
	// sessions, after CCC.
	victim.TLS = ftptest.FreshTLS()
	_, remote := s.next("go-after-ccc")
	if err := labTransfer(victim.Client, "STOR "+remote, s.up, nil); err != nil {
		t.Errorf("upload after CCC: %v", err)
	} else {
		s.checkUpload(t, remote)
	}
	var got []byte
	if err := labTransfer(victim.Client, "RETR download.bin", nil, &got); err != nil {
		t.Errorf("download after CCC: %v", err)
	} else if err := ftptest.SameData(got, s.down); err != nil {
		t.Errorf("download after CCC: %v", err)
	}
	if err := victim.Client.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
}

// labTransfer runs one passive transfer of c from the client address, to
// the address announced in the 227 reply: it writes send, or reads into
// got.
func labTransfer(c *ftptest.Client, command string, send []byte, got *[]byte) error {
	target, err := c.PASV()
	if err != nil {
		return err
	}
	x, err := c.OpenAt(target, command)
	if err != nil {
		return err
	}
	if send != nil {
		return x.Send(send)
	}
	*got, err = x.Receive()
	return err
}
