package driver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// How the tests run each FTPS client: the external programs (curl, lftp,
// Python's ftplib, Apache Commons Net) and the jlaffaye/ftp Go client.

// runTool runs an external client within ftptest.DefaultCmdTimeout, with
// HOME set to a temporary directory so that no user configuration leaks
// in. It returns stdout and stderr and fails the test when the tool fails.
func runTool(t testing.TB, dir string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	return ftptest.Cmd{Dir: dir, Home: t.TempDir()}.MustRun(t, name, args...)
}

// runToolErr is runTool that returns the tool's error.
func runToolErr(t testing.TB, dir string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return ftptest.Cmd{Dir: dir, Home: t.TempDir()}.Run(name, args...)
}

// hostPort splits a test server's address.
func hostPort(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// ---- curl ----

// curlBase are the options of every curl run: TLS required on control and
// data, self-signed certificate accepted, verbose protocol trace on stderr.
func curlBase(user, pass string) []string {
	return []string{"--ssl-reqd", "-k", "-sS", "-v", "--max-time", "25", "-u", user + ":" + pass}
}

// sentCommands returns the FTP commands curl sent, from its -v trace.
func sentCommands(trace string) []string {
	var cmds []string
	for _, line := range strings.Split(trace, "\n") {
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			verb, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			cmds = append(cmds, strings.ToUpper(verb))
		}
	}
	return cmds
}

// curlHandshakes counts the TLS handshakes a curl -v trace shows completed.
func curlHandshakes(trace string) int { return strings.Count(trace, "* SSL connection using TLSv") }

// ---- lftp ----

// lftpScript is the lftp command list of the tests: TLS forced on control
// and data, CCC after login or not, self-signed certificate accepted, no
// retries, bounded waits, every failed command fatal, protocol trace on
// stderr.
func lftpScript(addr, user, pass string, ccc bool, cmds ...string) string {
	useCCC := "no"
	if ccc {
		useCCC = "yes"
	}
	return strings.Join(append([]string{
		"set ssl:verify-certificate no",
		"set ftp:ssl-force true",
		"set ftp:ssl-protect-data true",
		"set ftp:ssl-use-ccc " + useCCC,
		"set ftp:passive-mode true",
		"set net:max-retries 1",
		"set net:timeout 10",
		"set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
		"debug 5",
		fmt.Sprintf("open -u %s,%s ftp://%s", user, pass, addr),
	}, cmds...), "; ")
}

// ---- Python's ftplib ----

// ftplibResult is the JSON printed by ftptest's ftplib_client.py.
type ftplibResult struct {
	Welcome              string   `json:"welcome"`
	Auth                 string   `json:"auth"`
	ControlTLS           string   `json:"control_tls_version"`
	Login                string   `json:"login"`
	LoginError           string   `json:"login_error"`
	PBSZProt             string   `json:"pbsz_prot"`
	CCC                  string   `json:"ccc"`
	ControlPlainAfterCCC *bool    `json:"control_plain_after_ccc"`
	PWDAfterCCC          string   `json:"pwd_after_ccc"`
	Allo                 string   `json:"allo"`
	Stor                 string   `json:"stor"`
	StorError            string   `json:"stor_error"`
	Site                 string   `json:"site"`
	Retr                 string   `json:"retr"`
	RetrSHA256           string   `json:"retr_sha256"`
	RetrBytes            int      `json:"retr_bytes"`
	NLST                 []string `json:"nlst"`
	DataError            string   `json:"data_error"`
	DataTLSError         string   `json:"data_tls_error"`
	Quit                 string   `json:"quit"`
}

// runFtplib runs ftplib_client.py against ts's explicit FTPS port as user
// with the script's options (--upload, --remote, --download, --nlst,
// --ccc, --no-reuse...).
func runFtplib(t *testing.T, ts *testServer, user, pass string, options ...string) ftplibResult {
	t.Helper()
	py := testenv.NeedTool(t, "python3", "python3")
	host, port := hostPort(t, ts.Addr)
	args := append([]string{ftptest.FtplibClient(t), "--host", host, "--port", port, "--user", user, "--password", pass}, options...)
	stdout, _ := runTool(t, t.TempDir(), py, args...)
	var res ftplibResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("ftplib_client.py output is not JSON: %v\n%s", err, stdout)
	}
	return res
}

// assertFtplibReplies fails unless each reply starts with its code.
func assertFtplibReplies(t *testing.T, res ftplibResult, replies []struct{ what, reply, code string }) {
	t.Helper()
	for _, c := range replies {
		if !strings.HasPrefix(c.reply, c.code) {
			t.Errorf("%s: reply %q, want %s (result %+v)", c.what, c.reply, c.code, res)
		}
	}
}

// ---- Apache Commons Net ----

// commonsNetJar is where Debian's libcommons-net-java installs its jar.
const commonsNetJar = "/usr/share/java/commons-net.jar"

// commonsNetStep is one transfer of testdata/CommonsNetClient.java.
type commonsNetStep struct {
	OK           bool     `json:"ok"`
	Reply        string   `json:"reply"`
	Error        string   `json:"error"`
	DrainError   string   `json:"drain_error"`
	DataProtocol string   `json:"data_protocol"` // "NONE" when the data handshake failed
	Names        []string `json:"names"`
}

// commonsNetResult is the JSON printed by testdata/CommonsNetClient.java.
type commonsNetResult struct {
	Connect         string         `json:"connect"`
	Login           string         `json:"login"`
	PBSZ            string         `json:"pbsz"`
	PROT            string         `json:"prot"`
	ControlProtocol string         `json:"control_protocol"`
	Stor            commonsNetStep `json:"stor"`
	List            commonsNetStep `json:"list"`
	Retr            commonsNetStep `json:"retr"`
	Quit            string         `json:"quit"`
	Fatal           string         `json:"fatal"`
}

// buildCommonsNetClient compiles testdata/CommonsNetClient.java against
// Debian's Commons Net and returns the java program and the class path.
func buildCommonsNetClient(t *testing.T) (java, classpath string) {
	t.Helper()
	javac := testenv.NeedTool(t, "javac", "default-jdk-headless")
	java = testenv.NeedTool(t, "java", "default-jdk-headless")
	jar := testenv.NeedFile(t, commonsNetJar, "libcommons-net-java")
	src, err := filepath.Abs(filepath.Join("testdata", "CommonsNetClient.java"))
	if err != nil {
		t.Fatal(err)
	}
	classes := t.TempDir()
	runTool(t, classes, javac, "-nowarn", "-d", classes, "-cp", jar, src)
	return java, jar + string(os.PathListSeparator) + classes
}

// runCommonsNet stores upload as remote, lists, and retrieves remote to
// download, as user alice at TLS protocol ("TLSv1.3" or "TLSv1.2").
func runCommonsNet(t *testing.T, java, classpath string, ts *testServer, protocol, upload, remote, download string) commonsNetResult {
	t.Helper()
	host, port := hostPort(t, ts.Addr)
	stdout, stderr, err := runToolErr(t, t.TempDir(), java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-cp", classpath, "CommonsNetClient",
		"--host", host, "--port", port, "--user", userName, "--password", userPass,
		"--protocol", protocol, "--upload", upload, "--remote", remote, "--download", download, "--timeout", "15000")
	var res commonsNetResult
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil {
		t.Fatalf("CommonsNetClient: %v; output is not JSON: %v\nstdout:\n%s\nstderr:\n%s", err, jerr, stdout, stderr)
	}
	if err != nil || res.Fatal != "" {
		t.Fatalf("CommonsNetClient: %v %s\nstderr:\n%s", err, res.Fatal, stderr)
	}
	if !strings.HasPrefix(res.Login, "true 230") || !strings.HasPrefix(res.PROT, "200") || res.ControlProtocol != protocol {
		t.Fatalf("CommonsNetClient login/PROT P/TLS: %+v", res)
	}
	return res
}

// ---- jlaffaye/ftp ----

// dialGo connects the jlaffaye client with explicit FTPS.
func dialGo(t *testing.T, addr string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(10 * time.Second), ftp.DialWithExplicitTLS(ftptest.NewTLS())}, opts...)
	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

// loginGo is dialGo logged in as user.
func loginGo(t *testing.T, addr, user, pass string) *ftp.ServerConn {
	t.Helper()
	c := dialGo(t, addr)
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// retrString downloads name with the jlaffaye client.
func retrString(c *ftp.ServerConn, name string) (string, error) {
	r, err := c.Retr(name)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}
