// Package probe diagnoses an FTPS server from the client side: step by
// step (control port, TLS, certificate, login, protection, passive replies,
// data connections, TLS resumption, CCC and the inspector, a transfer) it
// says what works, what does not, and what to change.
//
// It talks only to the host it is given. A 227 reply that announces
// another address is reported, never followed: data connections go to the
// control connection's address at the announced port, as curl does by
// default (--ftp-skip-pasv-ip), so that a server cannot turn the probe
// against a third host.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds each step's network waits when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// renewWithin is how close to expiry a certificate gets a warning.
const renewWithin = 30 * 24 * time.Hour

// Options say what to probe and how.
type Options struct {
	Host     string // host name or address, as given
	Port     int
	Implicit bool // TLS from the first byte (ftpss://), no AUTH TLS
	User     string
	Password string
	// Insecure accepts any certificate (the report says so).
	Insecure bool
	// RootCAs verifies the certificate instead of the system roots; CAFile
	// names them in the report.
	RootCAs *x509.CertPool
	CAFile  string
	// Path is a writable directory for the transfer step; empty skips it.
	Path string
	// Timeout bounds each network wait of a step; 0 is DefaultTimeout.
	Timeout time.Duration
}

// Run probes the server and returns the report; ctx cancels it.
func Run(ctx context.Context, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	scheme := "ftps"
	if o.Implicit {
		scheme = "ftpss"
	}
	p := &prober{o: o, rep: &Report{Target: fmt.Sprintf("%s://%s@%s", scheme, o.User, net.JoinHostPort(o.Host, strconv.Itoa(o.Port))),
		Insecure: o.Insecure}}
	p.run(ctx)
	p.finish()
	return p.rep
}

// prober holds one probe's state.
type prober struct {
	o       Options
	rep     *Report
	c       *ctrl
	peer    netip.Addr // the address the control connection reached
	tlsCfg  *tls.Config
	leaf    *x509.Certificate
	stopped string // why the steps not reported were not run
	unwatch func() bool
}

func (p *prober) add(name string, v Verdict, detail, remedy string) {
	p.rep.Steps = append(p.rep.Steps, Step{Name: name, Verdict: v, Detail: detail, Remedy: remedy})
}

// stop records a failed step and why the rest does not run.
func (p *prober) stop(name, detail, remedy string) {
	p.add(name, Fail, detail, remedy)
	p.stopped = "not run: step " + name + " failed"
}

// finish reports the steps not run as skipped and sorts the steps.
func (p *prober) finish() {
	for _, name := range stepOrder {
		if p.rep.Step(name).Name == "" {
			p.add(name, Skipped, p.stopped, "")
		}
	}
	slices.SortStableFunc(p.rep.Steps, func(a, b Step) int {
		return slices.Index(stepOrder, a.Name) - slices.Index(stepOrder, b.Name)
	})
	if p.c != nil {
		p.unwatch()
		_ = p.c.send("QUIT")
		_ = p.c.raw.Close()
	}
}

func (p *prober) run(ctx context.Context) {
	if !p.connect(ctx) || !p.secure() || !p.certificate() || !p.login() || !p.protect() {
		return
	}
	feat := p.features()
	p.epsv()
	if p.outOfStep() {
		return
	}
	port, ok := p.pasv()
	if !ok {
		p.stopped = "not run: no passive port"
		return
	}
	if !p.data(ctx, port) {
		p.add(StepTransfer, Skipped, "not run: no data connection", "")
	} else {
		p.transfer(ctx)
	}
	if p.outOfStep() {
		return
	}
	p.ccc(ctx, feat)
}

// outOfStep reports whether a reply did not come; it may still come, and
// what follows would read it as the reply to another command, so the
// probe stops.
func (p *prober) outOfStep() bool {
	if p.c.broken == nil {
		return false
	}
	p.stopped = "not run: the control connection is out of step (" + p.c.broken.Error() + ")"
	return true
}

// connect dials the control port and reads the greeting (after the TLS
// handshake when implicit).
func (p *prober) connect(ctx context.Context) bool {
	addr := net.JoinHostPort(p.o.Host, strconv.Itoa(p.o.Port))
	dctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		p.stop(StepTCP, fmt.Sprintf("cannot reach %s: %v", addr, err), dialRemedy(err, p.o.Port, "the control port"))
		return false
	}
	// Interrupted (ctx done), the probe ends its waits at once.
	p.unwatch = context.AfterFunc(ctx, func() { _ = raw.Close() })
	p.c = newCtrl(raw, p.o.Timeout)
	if ap, err := netip.ParseAddrPort(raw.RemoteAddr().String()); err == nil {
		p.peer = ap.Addr().Unmap()
	}
	p.rep.Address = raw.RemoteAddr().String()
	p.tlsCfg = &tls.Config{
		ServerName: p.o.Host,
		// Verified by the certificate step, which reports what is wrong
		// rather than stopping at the handshake.
		InsecureSkipVerify: true, //nolint:gosec // verified in certificate()
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
		MinVersion:         tls.VersionTLS12,
	}
	if p.o.Implicit {
		if _, err := p.c.startTLS(p.tlsCfg); err != nil {
			p.add(StepTCP, OK, "connected to "+p.rep.Address, "")
			p.stop(StepTLS, "implicit FTPS: "+err.Error(), "check that the port serves implicit FTPS (ftpsd: server.implicit_listen); for explicit FTPS use ftps://")
			return false
		}
	}
	code, msg, err := p.c.reply()
	if err != nil || code != 220 {
		p.stop(StepTCP, fmt.Sprintf("connected to %s, but no 220 greeting: %d %q %v", p.rep.Address, code, msg, orNil(err)),
			"check that an FTP server listens on this port (a 421 says it is full or refuses this address)")
		return false
	}
	p.add(StepTCP, OK, fmt.Sprintf("connected to %s: %s", p.rep.Address, firstLine(msg)), "")
	return true
}

// secure runs AUTH TLS (explicit FTPS).
func (p *prober) secure() bool {
	if p.o.Implicit {
		p.add(StepTLS, OK, "implicit FTPS: "+tlsSummary(p.c.conn.(*tls.Conn).ConnectionState()), "")
		return true
	}
	code, msg, err := p.c.cmd("AUTH TLS")
	if err != nil || code != 234 {
		p.stop(StepTLS, fmt.Sprintf("AUTH TLS: %d %q %v", code, firstLine(msg), orNil(err)),
			"enable explicit FTPS on the server (RFC 4217); a firewall or proxy that strips AUTH TLS also causes this")
		return false
	}
	tc, err := p.c.startTLS(p.tlsCfg)
	if err != nil {
		p.stop(StepTLS, "AUTH TLS accepted, then "+err.Error(), "check tls.min_version on the server and that nothing between rewrites the control connection")
		return false
	}
	p.add(StepTLS, OK, "AUTH TLS: "+tlsSummary(tc.ConnectionState()), "")
	return true
}

// certificate verifies the control connection's certificate: its chain
// against the system roots or -ca, the name, the days left.
func (p *prober) certificate() bool {
	st := p.c.conn.(*tls.Conn).ConnectionState()
	if len(st.PeerCertificates) == 0 {
		p.stop(StepCertificate, "the server sent no certificate", "configure tls.cert_file and tls.key_file")
		return false
	}
	p.leaf = st.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	roots := "the system roots"
	if p.o.RootCAs != nil {
		roots = p.o.CAFile
	}
	left := time.Until(p.leaf.NotAfter)
	desc := fmt.Sprintf("subject %q, issuer %q, expires %s (%d days)", p.leaf.Subject.CommonName, p.leaf.Issuer.CommonName,
		p.leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	_, err := p.leaf.Verify(x509.VerifyOptions{Roots: p.o.RootCAs, Intermediates: inter, DNSName: p.o.Host})
	switch {
	case err != nil && p.o.Insecure:
		p.add(StepCertificate, Warn, fmt.Sprintf("NOT verified, accepted because of -insecure: %v; %s", err, desc), certRemedy(err, p.leaf))
		return true
	case err != nil:
		p.stop(StepCertificate, fmt.Sprintf("not trusted: %v; %s", err, desc),
			certRemedy(err, p.leaf)+" (the probe sends no password to an unverified server)")
		return false
	case left < renewWithin:
		p.add(StepCertificate, Warn, fmt.Sprintf("trusted by %s, name %s matches; %s", roots, p.o.Host, desc),
			"renew the certificate before it expires (tls.cert_file; ftpsd reloads it on SIGHUP)")
	default:
		p.add(StepCertificate, OK, fmt.Sprintf("trusted by %s, name %s matches; %s", roots, p.o.Host, desc), "")
	}
	return true
}

func certRemedy(err error, leaf *x509.Certificate) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "install a certificate from a CA the clients trust (tls.cert_file), or give the clients the private CA (probe: -ca FILE)"
	case errors.As(err, &host):
		names := append(append([]string{}, leaf.DNSNames...), ipStrings(leaf.IPAddresses)...)
		return fmt.Sprintf("connect by a name the certificate holds (%s) or reissue it for this host", strings.Join(names, ", "))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "renew the certificate (tls.cert_file; ftpsd reloads it on SIGHUP)"
	default:
		return "check the certificate chain in tls.cert_file (leaf first, then intermediates)"
	}
}

// login sends USER and PASS.
func (p *prober) login() bool {
	code, msg, err := p.c.cmd("USER " + p.o.User)
	if err == nil && code == 331 {
		code, msg, err = p.c.cmd("PASS " + p.o.Password)
	}
	if err != nil || code != 230 {
		p.stop(StepLogin, fmt.Sprintf("user %s: %d %q %v", p.o.User, code, firstLine(msg), orNil(err)),
			"check the user name and password (and the account's allowed networks); repeated failures may ban this address for a while")
		return false
	}
	p.add(StepLogin, OK, "logged in as "+p.o.User, "")
	return true
}

// protect sends PBSZ 0 and PROT P.
func (p *prober) protect() bool {
	for _, cmd := range []string{"PBSZ 0", "PROT P"} {
		code, msg, err := p.c.cmd(cmd)
		if err != nil || code != 200 {
			p.stop(StepProtection, fmt.Sprintf("%s: %d %q %v", cmd, code, firstLine(msg), orNil(err)),
				"the server must accept PBSZ 0 and PROT P (RFC 4217) for protected data connections")
			return false
		}
	}
	p.add(StepProtection, OK, "PBSZ 0 and PROT P accepted: data connections are TLS", "")
	return true
}

// features returns the FEAT lines, upper case, trimmed.
func (p *prober) features() []string {
	code, msg, err := p.c.cmd("FEAT")
	if err != nil || code != 211 {
		return nil
	}
	var feat []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(l, " ") {
			feat = append(feat, strings.ToUpper(strings.TrimSpace(l)))
		}
	}
	return feat
}

// epsv reports the port an EPSV announces.
func (p *prober) epsv() {
	code, msg, err := p.c.cmd("EPSV")
	switch {
	case err != nil:
		p.add(StepEPSV, Fail, "EPSV: "+err.Error(), "check the control connection's path")
	case code == 229:
		port, perr := parse229(msg)
		if perr != nil {
			p.add(StepEPSV, Fail, perr.Error(), "the server's 229 reply is malformed")
			return
		}
		p.add(StepEPSV, OK, fmt.Sprintf("229: port %d (EPSV carries no address: clients use %s)", port, p.peer), "")
	case code == 500 || code == 502:
		p.add(StepEPSV, Warn, fmt.Sprintf("EPSV refused: %d %q; clients fall back to PASV", code, firstLine(msg)),
			"fine when deliberate (ftpsd: passive.epsv = false, for inspectors that track only 227)")
	default:
		p.add(StepEPSV, Fail, fmt.Sprintf("EPSV: %d %q", code, firstLine(msg)), passiveRemedy(code))
	}
}

// pasv sends PASV, compares the announced address with the one connected
// to, and returns the announced port.
func (p *prober) pasv() (int, bool) {
	if p.peer.Is6() {
		port, _, err := p.passive()
		if err != nil {
			p.add(StepPASV, Fail, err.Error(), passiveRemedy(0))
			return 0, false
		}
		p.add(StepPASV, Skipped, fmt.Sprintf("PASV has no IPv6 form: over IPv6 the data connections use EPSV (port %d)", port), "")
		return port, true
	}
	port, announced, err := p.passive()
	if err != nil {
		p.add(StepPASV, Fail, err.Error(), passiveRemedy(0))
		return 0, false
	}
	if announced == p.peer {
		p.add(StepPASV, OK, fmt.Sprintf("227: %s port %d, the address connected to", announced, port), "")
		return port, true
	}
	detail := fmt.Sprintf("227 announces %s port %d, but this client reached the server at %s (NAT misconfiguration, or a node announcing its own address)",
		announced, port, p.peer)
	if isPrivate(announced) && !isPrivate(p.peer) {
		detail = fmt.Sprintf("227 announces the private address %s port %d to a client that reached the server at %s (NAT misconfiguration)",
			announced, port, p.peer)
	}
	p.add(StepPASV, Fail,
		fmt.Sprintf("%s; the probe connects to %s port %d instead, as curl does, but clients that use the 227 address fail", detail, p.peer, port),
		fmt.Sprintf("set passive.public_address = %q (the address clients connect to), or list this client's network in passive.internal_networks if it is internal", p.peer))
	return port, true
}

// passive sends PASV and returns the announced port and address; over
// IPv6 it sends EPSV, whose address is the control connection's.
func (p *prober) passive() (int, netip.Addr, error) {
	if p.peer.Is6() {
		code, msg, err := p.c.cmd("EPSV")
		if err != nil {
			return 0, netip.Addr{}, fmt.Errorf("EPSV: %w", err)
		}
		if code != 229 {
			return 0, netip.Addr{}, fmt.Errorf("EPSV: %d %q", code, firstLine(msg))
		}
		port, err := parse229(msg)
		return port, p.peer, err
	}
	code, msg, err := p.c.cmd("PASV")
	if err != nil {
		return 0, netip.Addr{}, fmt.Errorf("PASV: %w", err)
	}
	if code != 227 {
		return 0, netip.Addr{}, fmt.Errorf("PASV: %d %q", code, firstLine(msg))
	}
	host, port, err := parse227(msg)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return 0, netip.Addr{}, fmt.Errorf("227 address %q: %w", host, err)
	}
	return port, addr, nil
}

func passiveRemedy(code int) string {
	if code == 425 {
		return "no passive port was free: widen passive.ports or wait for transfers to end"
	}
	return "check the server's passive settings (passive.ports)"
}

// data lists the directory over a data connection to the announced port
// and reports the data connection and its TLS resumption.
func (p *prober) data(ctx context.Context, port int) bool {
	res, err := p.exchange(ctx, port, "NLST", nil, true)
	if err != nil {
		var de *dataError
		if errors.As(err, &de) && de.notResumed {
			p.add(StepData, OK, fmt.Sprintf("port %d answered", port), "")
			p.add(StepResumption, Fail, "the server refused the data connection because its TLS session was not resumed: "+de.Error(),
				"the server requires TLS resumption (ftpsd: tls.require_session_reuse); this client could not resume")
			return false
		}
		p.add(StepData, Fail, err.Error(), dataRemedy(err))
		p.add(StepResumption, Skipped, "not run: no data connection", "")
		return false
	}
	p.add(StepData, OK, fmt.Sprintf("listing over a TLS data connection to %s port %d: %d bytes, %s", p.peer, port, len(res.data), res.final), "")
	if !res.resumed {
		p.add(StepResumption, Warn, "the data connection did not resume the control connection's TLS session",
			"servers that require resumption (ftpsd: tls.require_session_reuse) will refuse such clients; check the server's session tickets")
		return true
	}
	// Does the server require resumption? One more listing, without.
	detail := "the data connection resumed the control connection's TLS session"
	if p.c.broken != nil {
		p.add(StepResumption, OK, detail, "")
		return true
	}
	pport, _, perr := p.passive()
	if perr != nil {
		p.add(StepResumption, OK, detail+"; whether the server requires it is unknown: "+perr.Error(), "")
		return true
	}
	_, err = p.exchange(ctx, pport, "NLST", nil, false)
	var de *dataError
	switch {
	case err == nil:
		detail += "; the server also accepts data connections that do not resume (the control connection's address is checked)"
	case errors.As(err, &de) && de.notResumed:
		detail += "; the server requires it (425 without resumption): clients must resume (curl, lftp do; Python's ftplib needs a subclass)"
	default:
		detail += "; a data connection without resumption failed otherwise: " + err.Error()
	}
	p.add(StepResumption, OK, detail, "")
	return true
}

// transfer uploads a small file to the writable path, downloads it,
// compares SHA-256 sums and deletes it.
func (p *prober) transfer(ctx context.Context) {
	if p.o.Path == "" {
		p.add(StepTransfer, Skipped, "no writable path given (-path DIR)", "")
		return
	}
	if p.c.broken != nil {
		return // reported as not run
	}
	name := strings.TrimSuffix(p.o.Path, "/") + fmt.Sprintf("/ftpsd-probe-%d.bin", time.Now().UnixNano())
	payload := make([]byte, 64<<10)
	if _, err := randRead(payload); err != nil {
		p.add(StepTransfer, Fail, "random data: "+err.Error(), "")
		return
	}
	fail := func(what string, err error) {
		p.add(StepTransfer, Fail, what+": "+err.Error(), dataRemedy(err))
	}
	port, _, err := p.passive()
	if err != nil {
		fail("PASV", err)
		return
	}
	if _, err := p.exchange(ctx, port, "STOR "+name, payload, true); err != nil {
		fail("upload "+name, err)
		return
	}
	if port, _, err = p.passive(); err != nil {
		fail("PASV", err)
		return
	}
	res, err := p.exchange(ctx, port, "RETR "+name, nil, true)
	if err != nil {
		fail("download "+name, err)
		return
	}
	if code, msg, err := p.c.cmd("DELE " + name); err != nil || code != 250 {
		p.add(StepTransfer, Warn, fmt.Sprintf("uploaded and downloaded %s, but DELE: %d %q %v", name, code, firstLine(msg), orNil(err)), "delete the file by hand")
		return
	}
	want, got := sum(payload), sum(res.data)
	if want != got {
		p.add(StepTransfer, Fail, fmt.Sprintf("%s: uploaded %d bytes sha256 %s, downloaded %d bytes sha256 %s", name, len(payload), want, len(res.data), got),
			"something on the path alters data: check proxies and the storage backend")
		return
	}
	p.add(StepTransfer, OK, fmt.Sprintf("uploaded, downloaded and deleted %s: %d bytes, sha256 %s both ways", name, len(payload), want), "")
}

// ccc clears the control channel when FEAT offers CCC and makes a PASV
// data connection through the now readable control channel.
func (p *prober) ccc(ctx context.Context, feat []string) {
	if p.o.Implicit || !slices.Contains(feat, "CCC") {
		why := "the server does not offer CCC (FEAT)"
		if p.o.Implicit {
			why = "implicit FTPS has no CCC"
		}
		p.add(StepCCC, Skipped, why, "a firewall's FTP inspector cannot read the TLS control channel: the firewall must open the passive range")
		p.add(StepCCCData, Skipped, "not run: no CCC", "")
		return
	}
	code, msg, err := p.c.cmd("CCC")
	if err != nil || code != 200 {
		p.add(StepCCC, Warn, fmt.Sprintf("FEAT offers CCC, but CCC: %d %q %v", code, firstLine(msg), orNil(err)),
			"the firewall must open the passive range (or allow CCC: ftpsd tls.ccc = \"allow\")")
		p.add(StepCCCData, Skipped, "not run: CCC refused", "")
		return
	}
	if err := p.c.clear(); err != nil {
		p.add(StepCCC, Fail, "CCC accepted, then "+err.Error(), "check that nothing between the client and the server alters the control connection")
		p.add(StepCCCData, Skipped, "not run: CCC failed", "")
		return
	}
	p.add(StepCCC, OK, "control channel cleared: an FTP inspector on the path can read the passive replies", "")
	port, announced, err := p.passive()
	if err != nil {
		p.add(StepCCCData, Fail, "after CCC: "+err.Error(), passiveRemedy(0))
		return
	}
	res, err := p.exchange(ctx, port, "NLST", nil, true)
	if err != nil {
		remedy := dataRemedy(err)
		if de := (*dataError)(nil); errors.As(err, &de) && de.stage == "connect" {
			remedy = fmt.Sprintf("no FTP inspector opened port %d after reading the clear passive reply: the firewall's inspector does not open pinholes (load the FTP helper, e.g. nftables ct helper \"ftp\", or open passive.ports)", port)
		}
		p.add(StepCCCData, Fail, fmt.Sprintf("after CCC, the passive reply announced %s port %d; %v", announced, port, err), remedy)
		return
	}
	why := "an FTP inspector opened it, or no firewall filters the port"
	if p.rep.Step(StepData).Verdict == Fail {
		why = "the data connection before CCC failed, so an FTP inspector on the path read the clear reply and opened the port: clients that send CCC work"
	}
	p.add(StepCCCData, OK, fmt.Sprintf("after CCC, the passive reply announced %s port %d; the data connection to %s port %d worked (%d bytes): %s",
		announced, port, p.peer, port, len(res.data), why), "")
}

func tlsSummary(st tls.ConnectionState) string {
	return fmt.Sprintf("%s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func orNil(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isPrivate reports whether a is not reachable from the internet.
func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a)
}

// dialRemedy says what a failed connection to port means.
func dialRemedy(err error, port int, what string) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Sprintf("no answer: a firewall drops connections to %s %d: open TCP port %d on it", what, port, port)
	case strings.Contains(err.Error(), "refused"):
		return fmt.Sprintf("refused: nothing listens on port %d there, or a firewall rejects it: open TCP port %d, or check the server's address and port", port, port)
	default:
		return fmt.Sprintf("check the host name, the route, and that TCP port %d is open", port)
	}
}
