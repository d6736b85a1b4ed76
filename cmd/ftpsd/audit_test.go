package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The external TLS audit: the tools an auditor runs against the control
// port (AUTH TLS), and what ftpsd must pass.

// Bounds of the audit tools' runs.
const (
	sslscanTimeout = 30 * time.Second
	testsslTimeout = 3 * time.Minute
)

// startAudited starts ftpsd on its own files and returns its explicit FTPS
// address.
func startAudited(t *testing.T) string {
	t.Helper()
	f := newFixture(t, 2)
	f.write(f.config("", "", "alice"))
	_, addr := f.start()
	return addr
}

// aeadSuite matches the IANA names of the cipher suites an audit accepts:
// TLS 1.3's (all AEAD, all ephemeral) and TLS 1.2's ECDHE with AES-GCM or
// ChaCha20-Poly1305.
var aeadSuite = regexp.MustCompile(`^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256|ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256))$`)

// aeadOpenSSL matches the same suites by their OpenSSL names (sslscan's).
var aeadOpenSSL = regexp.MustCompile(`^(TLS_AES_(128|256)_GCM_SHA(256|384)|TLS_CHACHA20_POLY1305_SHA256|ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305))$`)

// sslscanReport is the part of sslscan's --xml output the audit reads.
type sslscanReport struct {
	Tests []struct {
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"protocol"`
		Renegotiation []struct {
			Supported string `xml:"supported,attr"`
			Secure    string `xml:"secure,attr"`
		} `xml:"renegotiation"`
		Compression []struct {
			Supported string `xml:"supported,attr"`
		} `xml:"compression"`
		Ciphers []struct {
			Protocol string `xml:"sslversion,attr"`
			Name     string `xml:"cipher,attr"`
		} `xml:"cipher"`
	} `xml:"ssltest"`
}

// TestTLSAuditSSLScan runs sslscan against the control port: protocols,
// client-initiated renegotiation, compression (when its OpenSSL can test
// it) and every accepted cipher suite.
func TestTLSAuditSSLScan(t *testing.T) {
	sslscan := testenv.NeedTool(t, "sslscan", "sslscan")
	addr := startAudited(t)
	out, _ := ftptest.Cmd{Timeout: sslscanTimeout}.MustRun(t, sslscan,
		"--starttls-ftp", "--no-colour", "--xml=-", "--no-heartbleed", "--no-groups", "--no-certificate", addr)
	start := strings.Index(out, "<?xml")
	if start < 0 {
		t.Fatalf("sslscan wrote no XML:\n%s", out)
	}
	var r sslscanReport
	if err := xml.Unmarshal([]byte(out[start:]), &r); err != nil {
		t.Fatalf("sslscan XML: %v\n%s", err, out)
	}
	if len(r.Tests) != 1 || len(r.Tests[0].Ciphers) == 0 || len(r.Tests[0].Protocols) == 0 {
		t.Fatalf("sslscan found no protocol or cipher (connection failed?):\n%s", out)
	}
	scan := r.Tests[0]
	for _, p := range scan.Protocols {
		t.Logf("sslscan: %s %s enabled=%s", p.Type, p.Version, p.Enabled)
		if p.Enabled == "1" && !(p.Type == "tls" && (p.Version == "1.2" || p.Version == "1.3")) {
			t.Errorf("sslscan: %s %s offered; want TLS 1.2 and 1.3 only", p.Type, p.Version)
		}
	}
	for _, re := range scan.Renegotiation {
		t.Logf("sslscan: renegotiation supported=%s secure=%s", re.Supported, re.Secure)
		if re.Supported == "1" {
			t.Errorf("sslscan: session renegotiation supported")
		}
	}
	for _, c := range scan.Compression {
		t.Logf("sslscan: compression supported=%s", c.Supported)
		if c.Supported == "1" {
			t.Errorf("sslscan: TLS compression supported")
		}
	}
	for _, c := range scan.Ciphers {
		t.Logf("sslscan: %s %s", c.Protocol, c.Name)
		if !aeadOpenSSL.MatchString(c.Name) {
			t.Errorf("sslscan: %s %s accepted; want only ECDHE with AES-GCM or ChaCha20-Poly1305", c.Protocol, c.Name)
		}
	}
}

// testsslFinding is one entry of testssl's --jsonfile output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestTLSAuditTestSSL runs testssl.sh against the control port: protocols
// (-p), the cipher suites of each protocol (-E), renegotiation (-R) and
// compression (-C, CRIME). Its server defaults (-S), which show the
// ticket lifetime, also check the certificate against every CA bundle and
// can stall for minutes on a loaded machine: TestTLSAuditTicketLifetime
// reads the lifetime the way testssl does, with openssl s_client.
func TestTLSAuditTestSSL(t *testing.T) {
	testssl := testenv.NeedTool(t, "testssl", "testssl.sh")
	addr := startAudited(t)
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "testssl.json")
	out, _ := ftptest.Cmd{Dir: dir, Home: dir, Timeout: testsslTimeout}.MustRun(t, testssl,
		"--starttls", "ftp", "-p", "-E", "-R", "-C",
		"--fast", "--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none",
		"--jsonfile", jsonFile, addr)
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatalf("testssl wrote no JSON: %v\n%s", err, out)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatalf("testssl JSON: %v\n%s", err, data)
	}
	byID := make(map[string]string, len(findings))
	ciphers := 0
	for _, f := range findings {
		byID[f.ID] = f.Finding
		switch {
		case f.ID == "scanProblem":
			t.Errorf("testssl: scan problem: %s", f.Finding)
		case strings.HasPrefix(f.ID, "cipher-"):
			ciphers++
			t.Logf("testssl: %s", f.Finding)
			if fields := strings.Fields(f.Finding); !aeadSuite.MatchString(fields[len(fields)-1]) {
				t.Errorf("testssl: cipher suite offered: %s; want only ECDHE with AES-GCM or ChaCha20-Poly1305", f.Finding)
			}
		}
	}
	if ciphers == 0 {
		t.Errorf("testssl listed no cipher suite (connection failed?):\n%s", out)
	}
	checkTestSSLFindings(t, byID)
}

// checkTestSSLFindings checks testssl's protocol, renegotiation and
// compression findings; each must be present.
func checkTestSSLFindings(t *testing.T, byID map[string]string) {
	t.Helper()
	want := func(id string, ok func(string) bool, what string) {
		t.Helper()
		f, found := byID[id]
		t.Logf("testssl: %s: %s", id, f)
		switch {
		case !found:
			t.Errorf("testssl reported no %s", id)
		case !ok(f):
			t.Errorf("testssl: %s: %q; want %s", id, f, what)
		}
	}
	notOffered := func(f string) bool { return strings.HasPrefix(f, "not offered") }
	for _, id := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1"} {
		want(id, notOffered, "not offered")
	}
	offered := func(f string) bool { return strings.HasPrefix(f, "offered") }
	want("TLS1_2", offered, "offered")
	want("TLS1_3", offered, "offered")
	notVulnerable := func(f string) bool { return strings.HasPrefix(f, "not vulnerable") }
	want("secure_client_renego", notVulnerable, "not vulnerable (no client-initiated renegotiation)")
	want("CRIME_TLS", notVulnerable, "not vulnerable (no compression)")
}

// newSessionTicket matches a NewSessionTicket message received in openssl
// s_client's -msg trace, and the first 8 bytes of its dump: the message
// header and, in both versions, the 4-byte lifetime (hint).
var newSessionTicket = regexp.MustCompile(`<<< TLS 1\.[23], Handshake \[length [0-9a-f]+\], NewSessionTicket\s+((?:[0-9a-f]{2} ){7}[0-9a-f]{2})`)

// goTicketLifetime is the ticket lifetime crypto/tls (Go 1.26) announces,
// per openssl s_client version flag, as docs/security.md states it: 7 days in a
// TLS 1.3 ticket (not configurable) and 0, "unspecified" (RFC 5077), in a
// TLS 1.2 ticket. What a ticket resumes for is set by its key, deleted a
// day after it was made (ticketbind's TestTicketKeyRotation).
var goTicketLifetime = map[string]uint32{"-tls1_3": 7 * 24 * 3600, "-tls1_2": 0}

// TestTLSAuditTicketLifetime reads the session ticket lifetime the control
// port announces after AUTH TLS on the wire (openssl s_client -msg; the
// line testssl's server defaults show is openssl's "lifetime hint", which
// it omits when the hint is 0). A Go release that announces another
// lifetime fails it: docs/security.md's TLS paragraph must then say the new one.
func TestTLSAuditTicketLifetime(t *testing.T) {
	openssl := testenv.NeedTool(t, "openssl", "openssl")
	addr := startAudited(t)
	for version, want := range goTicketLifetime {
		cmd := ftptest.Cmd{Stdin: strings.NewReader(""), Timeout: sslscanTimeout}
		out, _ := cmd.MustRun(t, openssl, "s_client", "-starttls", "ftp", "-connect", addr, version, "-msg")
		tickets := newSessionTicket.FindAllStringSubmatch(out, -1)
		if len(tickets) == 0 {
			t.Errorf("openssl s_client %s: no NewSessionTicket:\n%s", version, out)
		}
		for _, m := range tickets {
			msg, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
			if err != nil {
				t.Fatalf("openssl s_client %s: %q: %v", version, m[1], err)
			}
			got := binary.BigEndian.Uint32(msg[4:])
			t.Logf("openssl s_client %s: NewSessionTicket lifetime %d s", version, got)
			if got != want {
				t.Errorf("openssl s_client %s: ticket lifetime %d s, want %d s (what docs/security.md says Go announces; re-read crypto/tls and update it)", version, got, want)
			}
		}
	}
}

// stackFrame matches what a stack trace has in every frame.
var stackFrame = regexp.MustCompile(`goroutine |\.go:\d+`)

// TestSSLScanLogsOneLinePerFailedHandshake runs sslscan against both
// control ports, explicit (--starttls-ftp) and implicit, and reads the
// log: every failed handshake is one warning with the peer and the
// reason, nothing else is logged at warning level or above, and no line
// carries a stack trace (ftpserverlib logged each failure again at ERROR
// with a 6-line stack trace). The log runs at debug level only to count
// the connections sslscan made ("session opened") and the handshakes
// that completed ("control channel protected"): each of its connections
// asks for TLS, so every other one failed its handshake.
func TestSSLScanLogsOneLinePerFailedHandshake(t *testing.T) {
	sslscan := testenv.NeedTool(t, "sslscan", "sslscan")
	f := newFixture(t, 2)
	f.write(strings.Replace(f.config(`implicit_listen = "127.0.0.1:0"`, "", "alice"), `level = "info"`, `level = "debug"`, 1))
	s, addr := f.start()
	implicit := s.logs("ftpsd started")[0].str("implicit_listen")
	for _, args := range [][]string{{"--starttls-ftp", addr}, {implicit}} {
		ftptest.Cmd{Timeout: sslscanTimeout}.MustRun(t, sslscan,
			append([]string{"--no-colour"}, args...)...)
	}
	s.terminate(t)

	var opened, protected int
	failed := map[string]int{} // per peer
	for line := range strings.Lines(s.stderr.String()) {
		if stackFrame.MatchString(line) {
			t.Errorf("log line with a stack trace: %s", line)
		}
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("log line is not JSON (%v): %s", err, line)
			continue
		}
		if _, ok := e["stacktrace"]; ok {
			t.Errorf("log line with a stack trace: %s", line)
		}
		switch msg := e.str("msg"); {
		case msg == "session opened":
			opened++
		case msg == "control channel protected":
			protected++
		case msg == "control TLS handshake failed" && e.str("level") == "warn" && e.str("remote") != "" && e.str("error") != "":
			failed[e.str("remote")]++
		case e.str("level") != "debug" && e.str("level") != "info":
			t.Errorf("log line at %s besides the failed handshakes: %s", e.str("level"), line)
		}
	}
	lines := 0
	for peer, n := range failed {
		lines += n
		if n != 1 {
			t.Errorf("%d lines for the failed handshake of %s, want 1", n, peer)
		}
	}
	t.Logf("sslscan: %d connections, %d handshakes completed, %d failed handshake lines", opened, protected, lines)
	if opened == 0 || protected == 0 || lines != opened-protected {
		t.Errorf("%d connections, %d handshakes completed: %d failed handshake lines, want %d", opened, protected, lines, opened-protected)
	}
}
