package driver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"
)

// Bounds of the end-to-end tests: every network operation and every
// external client finishes within these, so a stuck server fails the test
// instead of hanging the run.
const (
	e2eTimeout  = 30 * time.Second
	dialTimeout = 10 * time.Second
)

// randomData returns n random bytes.
func randomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertSameData fails unless got has the SHA-256 of want.
func assertSameData(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) || sha256Hex(got) != sha256Hex(want) {
		t.Fatalf("%s: got %d bytes sha256 %s, want %d bytes sha256 %s",
			what, len(got), sha256Hex(got), len(want), sha256Hex(want))
	}
}

// assertDiskFile fails unless the file at p holds want.
func assertDiskFile(t testing.TB, p string, want []byte) {
	t.Helper()
	assertSameData(t, "file on disk "+p, readFile(t, p), want)
}

// uploadTemps returns the names of the hidden partial uploads in dir.
func uploadTemps(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ftpsd-upload-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// eventually polls cond until it holds or the timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logsWith returns the entries with message msg whose context has every
// key=value of fields.
func logsWith(logs *observer.ObservedLogs, msg string, fields map[string]any) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.FilterMessage(msg).All() {
		ctx := e.ContextMap()
		ok := true
		for k, v := range fields {
			if fmt.Sprint(ctx[k]) != fmt.Sprint(v) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// runTool runs an external client bounded by e2eTimeout, with HOME set to
// a temporary directory so that no user configuration leaks in. It returns
// stdout and stderr and fails the test when the tool fails.
func runTool(t testing.TB, dir string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runToolErr(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

func runToolErr(t testing.TB, dir string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home, "LC_ALL=C")
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", e2eTimeout, err)
	}
	return out.String(), errb.String(), err
}

// rawClient is a minimal FTP client for the tests that need to see every
// reply or to control the data connection byte by byte.
type rawClient struct {
	t    testing.TB
	addr string
	raw  net.Conn // TCP socket of the control connection
	conn net.Conn // raw, or the TLS client over it
	r    *textproto.Reader
	// tlsCfg is shared by the control and data connections, so that data
	// connections resume the control connection's TLS session.
	tlsCfg *tls.Config
}

// dialRaw connects to addr and reads the 220 greeting. With implicit the
// connection starts in TLS.
func dialRaw(t testing.TB, addr string, implicit bool) *rawClient {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(e2eTimeout))
	c := &rawClient{t: t, addr: addr, raw: raw, conn: raw, tlsCfg: clientTLS()}
	t.Cleanup(func() { _ = c.raw.Close() })
	if implicit {
		c.startTLS()
	} else {
		c.r = textproto.NewReader(bufio.NewReader(raw))
	}
	c.expect(220, "greeting")
	return c
}

func (c *rawClient) startTLS() {
	c.t.Helper()
	tc := tls.Client(c.raw, c.tlsCfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("control TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
}

// send writes one command line.
func (c *rawClient) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", args...); err != nil {
		c.t.Fatalf("send %q: %v", fmt.Sprintf(format, args...), err)
	}
}

// reply reads one (possibly multi-line) reply.
func (c *rawClient) reply() (int, string) {
	c.t.Helper()
	code, msg, err := c.r.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// replyErr is reply without failing: for replies that may not come.
func (c *rawClient) replyErr() (int, string, error) {
	return c.r.ReadResponse(0)
}

// cmd sends a command and returns its reply.
func (c *rawClient) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	c.send(format, args...)
	return c.reply()
}

// expect reads a reply and fails unless it has code.
func (c *rawClient) expect(code int, what string) string {
	c.t.Helper()
	got, msg := c.reply()
	if got != code {
		c.t.Fatalf("%s: got reply %d %q, want %d", what, got, msg, code)
	}
	return msg
}

// must sends a command and fails unless the reply has code.
func (c *rawClient) must(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.expect(code, strings.SplitN(fmt.Sprintf(format, args...), " ", 2)[0])
}

// authTLS protects the control channel with AUTH TLS.
func (c *rawClient) authTLS() {
	c.t.Helper()
	c.must(234, "AUTH TLS")
	c.startTLS()
}

// login sends USER and PASS and expects 230.
func (c *rawClient) login(user, pass string) {
	c.t.Helper()
	c.must(331, "USER %s", user)
	c.must(230, "PASS %s", pass)
}

// protP sends PBSZ 0 and PROT P.
func (c *rawClient) protP() {
	c.t.Helper()
	c.must(200, "PBSZ 0")
	c.must(200, "PROT P")
}

var pasvRE = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// pasv sends PASV and returns the data address of the 227 reply.
func (c *rawClient) pasv() string {
	c.t.Helper()
	msg := c.must(227, "PASV")
	m := pasvRE.FindStringSubmatch(msg)
	if m == nil {
		c.t.Fatalf("cannot parse 227 reply %q", msg)
	}
	hi, _ := strconv.Atoi(m[5])
	lo, _ := strconv.Atoi(m[6])
	host := strings.Join(m[1:5], ".")
	return net.JoinHostPort(host, strconv.Itoa(hi*256+lo))
}

// dialData opens a TCP connection to a data address.
func (c *rawClient) dialData(addr string) *net.TCPConn {
	c.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		c.t.Fatalf("dial data %s: %v", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(e2eTimeout))
	c.t.Cleanup(func() { _ = conn.Close() })
	return conn.(*net.TCPConn)
}

// quit sends QUIT and expects 221.
func (c *rawClient) quit() {
	c.t.Helper()
	c.must(221, "QUIT")
	_ = c.raw.Close()
}

// recorder is a net.Conn that keeps a copy of every byte read from it.
type recorder struct {
	net.Conn
	mu   sync.Mutex
	read bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.read.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.read.Bytes())
}

// readAllBounded reads conn until EOF or an error and returns the bytes;
// a reset or timeout is reported as the error, not as a failure.
func readAllBounded(conn net.Conn, d time.Duration) ([]byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(conn)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return b, err
}
