//go:build linux

package main

import (
	"bufio"
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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/netlab"
	"ftpsd/internal/testenv"
)

// TestNetnsFirewall runs ftpsd behind a real stateful firewall (network
// namespaces and nftables, see internal/netlab) whose forward policy is
// drop and whose FTP helper (nf_conntrack_ftp, nf_nat_ftp) opens the data
// connections it reads in 227/229 replies, and drives it with curl, lftp,
// Python's ftplib and a raw Go client from the client side, routed and
// behind NAT. ftpsd runs with its default settings, plus, behind NAT, the
// one key the README tells such a site to set: [passive] public_address.
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
	lab    *netlab.Lab
	tools  labTools
	srv    *server
	home   string // the user's home on the server
	dir    string // the client's files
	down   []byte // content of download.bin in the home
	upPath string // the file the clients upload
	up     []byte // its content
	seq    int    // names the files of each client run
}

func newNetSite(t *testing.T, topo netlab.Topology, tools labTools) *netSite {
	t.Helper()
	lab := netlab.New(t, netlab.WithTopology(topo), netlab.WithControlPort(labControlPort))
	t.Logf("lab %s, firewall ruleset:\n%s", lab.Tag(), lab.Ruleset())
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	s := &netSite{lab: lab, tools: tools, home: filepath.Join(root, labUser), dir: filepath.Join(dir, "client"),
		down: randomBytes(labFileSize), up: randomBytes(labFileSize - 1000)}
	for _, d := range []string{s.home, s.dir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.home, "download.bin"), s.down, 0o600); err != nil {
		t.Fatal(err)
	}
	s.upPath = filepath.Join(s.dir, "upload.bin")
	if err := os.WriteFile(s.upPath, s.up, 0o600); err != nil {
		t.Fatal(err)
	}

	// The defaults, plus what the README tells a site behind NAT to set.
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"0.0.0.0:%d\"\n\n", labControlPort)
	fmt.Fprintf(&b, "[passive]\nports = \"%d-%d\"\n", labRangeStart, labRangeEnd)
	if topo == netlab.NAT {
		fmt.Fprintf(&b, "public_address = %q\n", lab.PublicAddr())
	}
	fmt.Fprintf(&b, "\n[storage]\nroot = %q\n\n", root)
	fmt.Fprintf(&b, "[[users]]\nname = %q\npassword_hash = %q\nhome = %q\n\n", labUser, mustHash(t, password(labUser)), labUser)
	b.WriteString("[log]\nformat = \"json\"\n")
	path := writeFile(t, dir, "ftpsd.toml", b.String())
	t.Logf("ftpsd.toml:\n%s", b.String())

	s.srv = startFtpsdIn(t, lab, dir, "-config", path)
	s.srv.waitLog(t, "ftpsd started", 1, startTimeout)
	return s
}

// startFtpsdIn is startFtpsd in node Server of the lab.
func startFtpsdIn(t *testing.T, lab *netlab.Lab, dir string, args ...string) *server {
	t.Helper()
	return startServerCmd(t, lab.Command(context.Background(), netlab.Server, ftpsdBin, args...), dir)
}

// next returns a fresh local path and remote name for one client run.
func (s *netSite) next(client string) (local, remote string) {
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
	got, err := os.ReadFile(local)
	if err != nil {
		t.Errorf("download: %v", err)
		return
	}
	if g, w := sha256Hex(got), sha256Hex(s.down); g != w {
		t.Errorf("download: %d bytes, SHA-256 %s; want %d bytes, %s", len(got), g, len(s.down), w)
	}
}

// checkUpload compares the stored file remote with the uploaded one.
func (s *netSite) checkUpload(t *testing.T, remote string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(s.home, remote))
	if err != nil {
		t.Errorf("upload: %v", err)
		return
	}
	if g, w := sha256Hex(got), sha256Hex(s.up); g != w {
		t.Errorf("upload: stored %d bytes, SHA-256 %s; want %d bytes, %s", len(got), g, len(s.up), w)
	}
}

func (s *netSite) url(name string) string {
	return "ftp://" + s.lab.ControlAddr().String() + "/" + name
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

// lftpTransfer downloads and uploads a file with lftp, with CCC or not.
func (s *netSite) lftpTransfer(t *testing.T, ccc bool) {
	local, remote := s.next("lftp")
	useCCC := "no"
	if ccc {
		useCCC = "yes"
	}
	script := strings.Join([]string{
		"set cmd:fail-exit yes",
		"set net:timeout 5", "set net:max-retries 1", "set net:reconnect-interval-base 1", "set net:persist-retries 0",
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ftp:ssl-use-ccc " + useCCC,
		"set ssl:verify-certificate no", "set xfer:clobber on",
		"debug 5",
		fmt.Sprintf("open -u %s,%s ftp://%s", labUser, password(labUser), s.lab.ControlAddr()),
		"get download.bin -o " + local,
		"put " + s.upPath + " -o " + remote,
		"bye",
	}, "; ")
	out, took, err := s.run(t, s.tools.lftp, "--norc", "-c", script)
	if err != nil {
		t.Errorf("lftp (CCC %s) after %v: %v\n%s", useCCC, took.Round(time.Millisecond), err, out)
		return
	}
	s.checkDownload(t, local)
	s.checkUpload(t, remote)
}

// pythonClient is the ftplib client. Mode "ccc": FTP_TLS, login(),
// prot_p(), ccc(), and PASV as the first command after CCC (the download
// is sent without the TYPE I that retrbinary would send first). Mode
// "reuse": the README's ReusingFTP_TLS, whose data connections resume the
// control connection's TLS session as ftpsd requires by default.
const pythonClient = `
import ftplib, ssl, sys

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session."""
    _session = None
    def _control_session(self):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.session is not None:
            self._session = self.sock.session
        return self._session
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self._control_session())
        return conn, size
    def ccc(self):
        self._control_session()  # keep the session across the clear
        return super().ccc()

host, port, user, password, mode, download_to, upload_from, upload_as, timeout = sys.argv[1:10]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = (ftplib.FTP_TLS if mode == "ccc" else ReusingFTP_TLS)(context=ctx, timeout=float(timeout))
ftp.set_debuglevel(1)
ftp.connect(host, int(port))
ftp.login(user, password)
ftp.prot_p()
ftp.set_pasv(True)
with open(download_to, "wb") as out:
    if mode == "ccc":
        ftp.ccc()
        with ftp.transfercmd("RETR download.bin") as conn:
            while True:
                block = conn.recv(65536)
                if not block:
                    break
                out.write(block)
            if isinstance(conn, ssl.SSLSocket):
                conn.unwrap()
        ftp.voidresp()
    else:
        ftp.retrbinary("RETR download.bin", out.write)
with open(upload_from, "rb") as f:
    ftp.storbinary("STOR " + upload_as, f)
ftp.quit()
`

// pythonTransfer downloads and uploads a file with ftplib (see
// pythonClient for the modes).
func (s *netSite) pythonTransfer(t *testing.T, mode string) {
	local, remote := s.next("python")
	script := filepath.Join(s.dir, "client.py")
	if err := os.WriteFile(script, []byte(pythonClient), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl := s.lab.ControlAddr()
	out, took, err := s.run(t, s.tools.python, script, ctl.Addr().String(), strconv.Itoa(int(ctl.Port())),
		labUser, password(labUser), mode, local, s.upPath, remote, strconv.Itoa(int(clientIOTimeout/time.Second)))
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
	out, took, err := s.run(t, s.tools.curl, s.curlArgs("-o", local, s.url("download.bin"))...)
	if err == nil {
		t.Errorf("download through the firewall without CCC or open range succeeded:\n%s", out)
	} else {
		t.Logf("download failed as expected after %v: %v", took.Round(time.Millisecond), err)
	}
	if took > limit {
		t.Errorf("the failing download took %v, want at most %v", took, limit)
	}
	if got, err := os.ReadFile(local); err == nil && bytes.Equal(got, s.down) {
		t.Errorf("download.bin arrived although curl failed")
	}
	out, took, err = s.run(t, s.tools.curl, s.curlArgs("-T", s.upPath, s.url(remote))...)
	if err == nil {
		t.Errorf("upload through the firewall without CCC or open range succeeded:\n%s", out)
	} else {
		t.Logf("upload failed as expected after %v: %v", took.Round(time.Millisecond), err)
	}
	if took > limit {
		t.Errorf("the failing upload took %v, want at most %v", took, limit)
	}
	if _, err := os.Stat(filepath.Join(s.home, remote)); err == nil {
		t.Errorf("%s stored although curl failed", remote)
	}
	s.logCounters(t)
}

// pasvReply matches the address and port of a 227 reply.
var pasvReply = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// labPASV sends PASV and returns the announced address and port.
func (c *ftpClient) labPASV() (netip.AddrPort, error) {
	r, err := c.expect("PASV", 227)
	if err != nil {
		return netip.AddrPort{}, err
	}
	m := pasvReply.FindStringSubmatch(r.text)
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("227 reply %q has no address", r)
	}
	var n [6]int
	for i := range n {
		if n[i], err = strconv.Atoi(m[i+1]); err != nil || n[i] > 255 {
			return netip.AddrPort{}, fmt.Errorf("227 reply %q: bad number %q", r, m[i+1])
		}
	}
	addr := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(addr, uint16(n[4]<<8|n[5])), nil
}

// finalReply reads replies until one that is not preliminary (1xx).
func (c *ftpClient) finalReply() (ftpReply, error) {
	for {
		r, err := c.read()
		if err != nil || r.code >= 200 {
			return r, err
		}
	}
}

// labVictim logs in from the client address through the firewall, clears
// the control channel with CCC and sends TYPE I, so that the 227 replies
// that follow are not the first clear-text reply.
func (s *netSite) labVictim(t *testing.T) *ftpClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ftpTimeout)
	defer cancel()
	raw, err := s.lab.DialContext(ctx, netlab.Client, s.lab.ClientAddr(), s.lab.ControlAddr())
	if err != nil {
		t.Fatal(err)
	}
	c := &ftpClient{raw: raw, ctl: raw, r: bufio.NewReader(raw), tls: clientTLS()}
	t.Cleanup(c.close)
	if g, err := c.read(); err != nil || g.code != 220 {
		t.Fatalf("greeting: %q, %v", g, err)
	}
	if _, err := c.authTLS(); err != nil {
		t.Fatal(err)
	}
	if err := c.login(labUser, password(labUser)); err != nil {
		t.Fatal(err)
	}
	if err := c.ccc(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.expect("TYPE I", 200); err != nil {
		t.Fatal(err)
	}
	return c
}

// freshTLS is a client TLS config without a session cache: its data
// connections never resume the control connection's session.
func freshTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} //nolint:gosec // test certificates
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
		tc := tls.Client(raw, freshTLS())
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
	target, err := victim.labPASV()
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
	if err := victim.send("RETR download.bin"); err != nil {
		t.Fatal(err)
	}
	r, err := victim.finalReply()
	if err != nil {
		t.Fatalf("RETR with a thief first: %v", err)
	}
	stolen, mine := thief.result(time.Second), own.result(time.Second)
	t.Logf("RETR with a thief first: %q; thief read %d bytes (%v); victim read %d bytes (%v)",
		r, len(stolen.got), stolen.err, len(mine.got), mine.err)
	if len(stolen.got) > 0 {
		t.Errorf("a data connection from %v read %d bytes of download.bin", s.lab.OtherClientAddr(), len(stolen.got))
	}
	if r.code == 226 && !bytes.Equal(mine.got, s.down) {
		t.Errorf("226 but the victim read %d bytes, not download.bin", len(mine.got))
	}

	// Upload injection from the firewall, which reaches the server directly.
	target, err = victim.labPASV()
	if err != nil {
		t.Fatal(err)
	}
	marker := append([]byte("INJECTED BY A THIRD PARTY "), randomBytes(64<<10)...)
	direct := netip.AddrPortFrom(s.lab.ServerAddr(), target.Port())
	injector := s.openData(t, netlab.Firewall, netip.Addr{}, direct, marker)
	own = s.openData(t, netlab.Client, s.lab.ClientAddr(), s.lab.DataAddr(int(target.Port())), s.up)
	if err := victim.send("STOR injected.bin"); err != nil {
		t.Fatal(err)
	}
	r, err = victim.finalReply()
	if err != nil {
		t.Fatalf("STOR with an injector first: %v", err)
	}
	injected, mine := injector.result(time.Second), own.result(time.Second)
	t.Logf("STOR with an injector first: %q; injector: %v; victim: %v", r, injected.err, mine.err)
	if r.code == 226 {
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
	victim.tls = freshTLS()
	_, remote := s.next("go-after-ccc")
	if err := s.labTransfer(victim, "STOR "+remote, s.up, nil); err != nil {
		t.Errorf("upload after CCC: %v", err)
	} else {
		s.checkUpload(t, remote)
	}
	var got []byte
	if err := s.labTransfer(victim, "RETR download.bin", nil, &got); err != nil {
		t.Errorf("download after CCC: %v", err)
	} else if g, w := sha256Hex(got), sha256Hex(s.down); g != w {
		t.Errorf("download after CCC: SHA-256 %s, want %s", g, w)
	}
	if err := victim.quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
}

// labTransfer runs one passive transfer of c from the client address, to
// the address announced in the 227 reply: it writes send, or reads into
// got.
func (s *netSite) labTransfer(c *ftpClient, command string, send []byte, got *[]byte) error {
	target, err := c.labPASV()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ftpTimeout)
	defer cancel()
	raw, err := s.lab.DialContext(ctx, netlab.Client, s.lab.ClientAddr(), target)
	if err != nil {
		return err
	}
	defer raw.Close()
	if r, err := c.cmd(command); err != nil || (r.code != 150 && r.code != 125) {
		return fmt.Errorf("%s: %q, %v; want 150", command, r, err)
	}
	_ = raw.SetDeadline(time.Now().Add(transferTimeout))
	data := tls.Client(raw, c.tls)
	if err := data.Handshake(); err != nil {
		return fmt.Errorf("data handshake: %w", err)
	}
	if send != nil {
		if _, err := data.Write(send); err != nil {
			return fmt.Errorf("write data: %w", err)
		}
	} else if *got, err = io.ReadAll(data); err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	r, err := c.finish(data)
	if err != nil || r.code != 226 {
		return fmt.Errorf("end of %s: %q, %v; want 226", command, r, err)
	}
	return nil
}
