package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/probe"
)

// ftpsd probe against a real ftpsd process on loopback: every step's
// verdict, the JSON report and the exit status.

// probeReport runs ftpsd probe with -json and returns the parsed report
// and the exit status.
func probeReport(t *testing.T, args ...string) (*probe.Report, result) {
	t.Helper()
	r := runFtpsd(t, "", append([]string{"probe", "-json"}, args...)...)
	var rep probe.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("the -json report does not parse: %v\n%v", err, r)
	}
	return &rep, r
}

// wantVerdicts checks the verdict of each named step.
func wantVerdicts(t *testing.T, rep *probe.Report, want map[string]probe.Verdict) {
	t.Helper()
	for name, v := range want {
		if got := rep.Step(name); got.Verdict != v {
			t.Errorf("step %s: verdict %q, want %q (%s; remedy: %s)", name, got.Verdict, v, got.Detail, got.Remedy)
		}
	}
}

// probeFixture starts ftpsd with user alice (an upload directory in her
// home) and returns the server's address and a password file.
func probeFixture(t *testing.T, tlsExtra string) (*fixture, string, string) {
	t.Helper()
	f, _, addr, pwFile := probeServer(t, "", tlsExtra)
	return f, addr, pwFile
}

// probeServer is probeFixture with serverExtra in [server]; it returns
// the server too.
func probeServer(t *testing.T, serverExtra, tlsExtra string) (*fixture, *server, string, string) {
	t.Helper()
	f := newFixture(t, 4)
	// A certificate for a year: a day's would warn that it expires.
	f.certFile, f.keyFile = testcert.SelfSignedFor(t, "ftpsd probe test", 365*24*time.Hour).Write(t, f.dir)
	if err := os.MkdirAll(filepath.Join(f.root, "alice", "upload"), 0o750); err != nil {
		t.Fatal(err)
	}
	f.write(strings.Replace(f.config(serverExtra, "", "alice"), "require = \"all\"\n", "require = \"all\"\n"+tlsExtra, 1))
	srv, addr := f.start()
	return f, srv, addr, writeText(t, f.dir, "password", password("alice")+"\n")
}

func TestProbeAllCorrect(t *testing.T) {
	f, addr, pwFile := probeFixture(t, "")
	rep, r := probeReport(t, "-ca", f.certFile, "-password-file", pwFile, "-path", "/upload", "-timeout", "5s", "ftps://alice@"+addr)
	if r.code != exitOK {
		t.Errorf("exit %d, want 0 on an all-correct server\n%v", r.code, r)
	}
	all := map[string]probe.Verdict{}
	for _, name := range []string{probe.StepTCP, probe.StepTLS, probe.StepCertificate, probe.StepLogin, probe.StepProtection,
		probe.StepEPSV, probe.StepPASV, probe.StepData, probe.StepResumption, probe.StepTransfer, probe.StepCCC, probe.StepCCCData} {
		all[name] = probe.OK
	}
	wantVerdicts(t, rep, all)
	if len(rep.Steps) != len(all) || rep.Insecure || rep.Address != addr {
		t.Errorf("report: %d steps (want %d), insecure %v, address %q (want %q)", len(rep.Steps), len(all), rep.Insecure, rep.Address, addr)
	}
	if d := rep.Step(probe.StepResumption).Detail; !strings.Contains(d, "the server requires it") {
		t.Errorf("resumption detail %q: want that the server requires it (tls.require_session_reuse is on by default)", d)
	}
	if d := rep.Step(probe.StepTransfer).Detail; !strings.Contains(d, "sha256") {
		t.Errorf("transfer detail %q names no checksum", d)
	}
	if entries, err := os.ReadDir(filepath.Join(f.root, "alice", "upload")); err != nil || len(entries) != 0 {
		t.Errorf("the probe's file is left in the upload directory: %v %v", entries, err)
	}

	// The human report says the same, one line a step.
	h := runFtpsd(t, "", "probe", "-ca", f.certFile, "-password-file", pwFile, "-timeout", "5s", "ftps://alice@"+addr)
	if h.code != exitOK || !strings.Contains(h.stdout, "[ok]      ccc_data    ") || !strings.Contains(h.stdout, "[skipped] transfer") ||
		!strings.Contains(h.stdout, "11 ok, 0 warn, 0 fail, 1 skipped") {
		t.Errorf("human report:\n%v", h)
	}

	// Without -ca the self-signed certificate is refused and no password
	// is sent; with -insecure it is accepted and the report says so.
	rep, r = probeReport(t, "-password-file", pwFile, "-timeout", "5s", "ftps://alice@"+addr)
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepCertificate: probe.Fail, probe.StepLogin: probe.Skipped, probe.StepData: probe.Skipped})
	if r.code != exitError {
		t.Errorf("untrusted certificate: exit %d, want %d", r.code, exitError)
	}
	rep, r = probeReport(t, "-insecure", "-password-file", pwFile, "-timeout", "5s", "ftps://alice@"+addr)
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepCertificate: probe.Warn, probe.StepLogin: probe.OK, probe.StepData: probe.OK})
	if r.code != exitOK || !rep.Insecure || !strings.Contains(rep.Step(probe.StepCertificate).Detail, "-insecure") {
		t.Errorf("-insecure: exit %d, report insecure %v, certificate %+v", r.code, rep.Insecure, rep.Step(probe.StepCertificate))
	}

	// A wrong password fails the login step; nothing after it runs.
	bad := writeText(t, f.dir, "bad", "wrong\n")
	rep, r = probeReport(t, "-ca", f.certFile, "-password-file", bad, "-timeout", "5s", "ftps://alice@"+addr)
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepLogin: probe.Fail, probe.StepPASV: probe.Skipped})
	if r.code != exitError {
		t.Errorf("wrong password: exit %d, want %d", r.code, exitError)
	}
}

func TestProbeCCCDenied(t *testing.T) {
	// And resumption not required: the resumption step says so.
	f, addr, pwFile := probeFixture(t, "ccc = \"deny\"\nrequire_session_reuse = false\n")
	rep, r := probeReport(t, "-ca", f.certFile, "-password-file", pwFile, "-timeout", "5s", "ftps://alice@"+addr)
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepData: probe.OK, probe.StepResumption: probe.OK,
		probe.StepCCC: probe.Skipped, probe.StepCCCData: probe.Skipped})
	if d := rep.Step(probe.StepResumption).Detail; !strings.Contains(d, "also accepts data connections that do not resume") {
		t.Errorf("resumption detail %q: want that the server does not require it", d)
	}
	if s := rep.Step(probe.StepCCC); !strings.Contains(s.Detail, "does not offer CCC") || !strings.Contains(s.Remedy, "open the passive range") {
		t.Errorf("ccc step %+v: want it to say CCC is not offered and the range must be open", s)
	}
	if r.code != exitOK {
		t.Errorf("exit %d, want 0: no step failed\n%v", r.code, r)
	}
}

// TestProbeDataConnectionCut reaches the server over IPv6 through a
// forwarder of the control port only, as through a proxy: the probe's
// data connection goes to the control connection's address at the port of
// EPSV (PASV has no IPv6 form), which the server answers and cuts (another
// local address than the control connection's). The data step fails naming
// the port and the exit status says so. (A port that does not answer at
// all is the lab's TestNetnsProbe.)
func TestProbeDataConnectionCut(t *testing.T) {
	f, addr, pwFile := probeFixture(t, "")
	fwd := forwardControl(t, addr)
	rep, r := probeReport(t, "-insecure", "-password-file", pwFile, "-timeout", "2s", "ftps://alice@"+fwd)
	// The server's 425 comes only when it gives up waiting for a data
	// connection of its own (passive.connect_timeout), after the probe's
	// timeout: the probe stops rather than read it as another reply.
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepLogin: probe.OK, probe.StepEPSV: probe.OK, probe.StepPASV: probe.Skipped,
		probe.StepData: probe.Fail, probe.StepResumption: probe.Skipped, probe.StepCCC: probe.Skipped, probe.StepCCCData: probe.Skipped})
	if r.code != exitError {
		t.Errorf("exit %d, want %d", r.code, exitError)
	}
	data := rep.Step(probe.StepData)
	port := ""
	for p := f.ports.Start; p <= f.ports.End; p++ {
		if strings.Contains(data.Detail, "[::1]:"+strconv.Itoa(p)+":") {
			port = strconv.Itoa(p)
		}
	}
	if port == "" || !strings.Contains(data.Remedy, "port "+port+" answered, then the connection was cut") {
		t.Errorf("data step %+v: want the port of %v it tried, named in the remedy", data, f.ports)
	}
	if s := rep.Step(probe.StepCCC); !strings.Contains(s.Detail, "out of step") {
		t.Errorf("ccc step %+v: want \"out of step\"", s)
	}
}

// forwardControl relays connections from an IPv6 loopback port to addr
// until the test ends, and returns the IPv6 address.
func forwardControl(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				_ = in.Close()
				continue
			}
			wg.Go(func() { _, _ = io.Copy(out, in); _ = out.Close() })
			wg.Go(func() { _, _ = io.Copy(in, out); _ = in.Close() })
		}
	})
	return ln.Addr().String()
}

// TestProbeImplicitAndPasswordSources probes the implicit FTPS port with
// the password in FTPSD_PASSWORD, then without any password source.
func TestProbeImplicitAndPasswordSources(t *testing.T) {
	f, srv, _, _ := probeServer(t, `implicit_listen = "127.0.0.1:0"`, "")
	implicit := srv.logs("ftpsd started")[0].str("implicit_listen")
	cmd := ftptest.Cmd{Dir: t.TempDir(), Env: []string{"FTPSD_PASSWORD=" + password("alice")}, Timeout: commandTimeout}
	stdout, stderr, err := cmd.Run(ftpsdBin, "probe", "-json", "-ca", f.certFile, "-timeout", "5s", "ftpss://alice@"+implicit)
	if err != nil {
		t.Fatalf("probe of the implicit port: %v\n%s\n%s", err, stdout, stderr)
	}
	var rep probe.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("-json: %v\n%s", err, stdout)
	}
	wantVerdicts(t, &rep, map[string]probe.Verdict{probe.StepTLS: probe.OK, probe.StepLogin: probe.OK, probe.StepData: probe.OK,
		probe.StepCCC: probe.Skipped})
	if d := rep.Step(probe.StepTLS).Detail; !strings.HasPrefix(d, "implicit FTPS") {
		t.Errorf("tls step %q: want implicit FTPS", d)
	}

	// No -password-file, no FTPSD_PASSWORD, stdin not a terminal.
	r := runFtpsd(t, "", "probe", "ftpss://alice@"+implicit)
	if r.code != exitError || !strings.Contains(r.stderr, "no password") || r.stdout != "" {
		t.Errorf("no password source: want exit 1 and \"no password\", got %v", r)
	}
}

func TestProbeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "ftps://USER@HOST[:PORT]"},
		{[]string{"probe", "ftp://alice@host"}, "the scheme must be ftps://"},
		{[]string{"probe", "ftps://host"}, "no user"},
		{[]string{"probe", "ftps://alice:secret@host"}, "the password does not go in the URL"},
		{[]string{"probe", "ftps://alice@host:99999"}, "bad port"},
		{[]string{"probe", "ftps://alice@host", "ftps://bob@host"}, `unexpected argument "ftps://bob@host"`},
		{[]string{"probe", "-timeout", "soon", "ftps://alice@host"}, "invalid value"},
	} {
		r := runFtpsd(t, "", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "secret") {
			t.Errorf("ftpsd %v: want exit 2 and %q (and no password) on stderr, got %v", tc.args, tc.want, r)
		}
	}
	if r := runFtpsd(t, "", "help"); !strings.Contains(r.stdout, "ftpsd probe [flags] ftps://USER@HOST[:PORT]") {
		t.Errorf("ftpsd help does not show probe:\n%s", r.stdout)
	}
}

// TestProbeAnnouncedAddressMismatch: a server whose 227 announces another
// address (passive.public_address 127.0.0.2) than the one the probe
// reached (127.0.0.1) fails the PASV step, which names both and the key;
// the data connection still goes to 127.0.0.1, never to the announced
// address, and works.
func TestProbeAnnouncedAddressMismatch(t *testing.T) {
	f := newFixture(t, 4)
	f.certFile, f.keyFile = testcert.SelfSignedFor(t, "ftpsd probe test", 365*24*time.Hour).Write(t, f.dir)
	text := f.config("", "", "alice")
	f.write(strings.Replace(text, "[passive]\n", "[passive]\npublic_address = \"127.0.0.2\"\n", 1))
	_, addr := f.start()
	pwFile := writeText(t, f.dir, "password", password("alice")+"\n")
	rep, r := probeReport(t, "-ca", f.certFile, "-password-file", pwFile, "-timeout", "5s", "ftps://alice@"+addr)
	wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepPASV: probe.Fail, probe.StepData: probe.OK, probe.StepCCCData: probe.OK})
	s := rep.Step(probe.StepPASV)
	if !strings.Contains(s.Detail, "227 announces 127.0.0.2") || !strings.Contains(s.Detail, "reached the server at 127.0.0.1") ||
		!strings.Contains(s.Remedy, `passive.public_address = "127.0.0.1"`) {
		t.Errorf("pasv step %+v: want the announced 127.0.0.2, the reached 127.0.0.1 and the key", s)
	}
	if d := rep.Step(probe.StepData).Detail; !strings.Contains(d, "to 127.0.0.1 port") {
		t.Errorf("data step %q: want the connection to 127.0.0.1, the control connection's address", d)
	}
	if r.code != exitError {
		t.Errorf("exit %d, want %d", r.code, exitError)
	}
}

// TestProbeInterrupt: SIGINT during a step (a server that accepts and
// never greets) ends the probe at once, with its report, rather than after
// the step's timeout.
func TestProbeInterrupt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-accepted:
			_ = c.Close()
		default:
		}
	})
	cmd := exec.Command(ftpsdBin, "probe", "-timeout", "30s", "ftps://alice@"+ln.Addr().String())
	cmd.Env = append(os.Environ(), "FTPSD_PASSWORD=x")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case c := <-accepted:
		accepted <- c // closed by the cleanup
		// The server's accept may return before the probe's connect:
		// give the probe time to be waiting for the greeting.
		time.Sleep(500 * time.Millisecond)
	case <-time.After(commandTimeout):
		_ = cmd.Process.Kill()
		t.Fatal("the probe did not connect")
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("ended %v after SIGINT: %v\n%s", time.Since(start), err, stdout.String())
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the probe ended %v after SIGINT, want at once (its step timeout is 30s)", took)
		}
		if err == nil || !strings.Contains(stdout.String(), "[fail]    tcp") || !strings.Contains(stdout.String(), "no 220 greeting") {
			t.Errorf("after SIGINT: %v, report:\n%s\nwant exit 1 and the tcp step failed", err, stdout.String())
		}
	case <-time.After(commandTimeout):
		_ = cmd.Process.Kill()
		t.Fatalf("the probe did not end within %v of SIGINT", commandTimeout)
	}
}
