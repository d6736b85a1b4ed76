package driver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/control"
)

// Interoperability of real FTPS clients with the data-channel TLS session
// binding (tls.require_session_reuse, on by default, and the per-user
// [[users]] require_session_reuse):
//
//   - A data connection may resume a ticket issued on any control
//     connection of the same user from the same client address (also one
//     that has quit, or whose login is still under way when the data
//     connection starts), so clients that share one TLS session cache
//     between several control connections (rclone, curl -Z downloads) work
//     on the defaults; a ticket of another user or of another client
//     address never is accepted.
//   - A client that cannot resume gets a clear refusal: its data TLS
//     handshake completes, the server sends nothing on it and closes it
//     with close_notify, and the transfer is answered
//     "425 Data connection refused: ..." on the control connection; never
//     a TLS alert such as bad_certificate.
//   - [[users]] require_session_reuse = false lets one user's clients that
//     cannot resume (curl at TLS 1.2, stock Apache Commons Net) transfer.
//
// External clients (Debian packages): rclone, curl, wget,
// default-jdk-headless and libcommons-net-java.

// clientRefusal starts the text of the 425 reply to a refused data
// connection.
const clientRefusal = "Data connection refused"

// commonsNetJar is where Debian's libcommons-net-java installs its jar.
const commonsNetJar = "/usr/share/java/commons-net.jar"

// withUserReuse sets [[users]] require_session_reuse of the user name: the
// one place that writes config.User.RequireSessionReuse.
func withUserReuse(t testing.TB, name string, require bool) func(*config.Config) {
	return func(cfg *config.Config) {
		for i := range cfg.Users {
			if cfg.Users[i].Name == name {
				v := require
				cfg.Users[i].RequireSessionReuse = &v
				return
			}
		}
		t.Fatalf("no test user %q", name)
	}
}

// needFile returns path when it exists. Otherwise the test is skipped with
// a message naming the Debian package that installs it, except under
// CI=true, where it fails (as testenv.NeedTool does for programs).
func needFile(t testing.TB, path, debianPackage string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found under CI=true: install the Debian package %s", path, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", path, debianPackage)
	return ""
}

// refusals returns how many data connections the server refused so far.
func refusals(ts *testServer) int {
	return len(logsWith(ts.Logs, "data connection refused", nil))
}

// okLogins returns the successful logins so far, at TLS version v when v is
// not 0.
func okLogins(ts *testServer, v uint16) int {
	fields := map[string]any{"result": "ok"}
	if v != 0 {
		fields["tls_version"] = tls.VersionName(v)
	}
	return len(logsWith(ts.Logs, "login", fields))
}

// waitRefusals fails unless the server logs want refused data connections
// in all.
func waitRefusals(t *testing.T, ts *testServer, want int) {
	t.Helper()
	if !eventually(5*time.Second, func() bool { return refusals(ts) >= want }) {
		t.Fatalf("the server logged %d \"data connection refused\" lines, want %d", refusals(ts), want)
	}
	if got := refusals(ts); got != want {
		t.Fatalf("the server logged %d \"data connection refused\" lines, want exactly %d", got, want)
	}
}

// assertNoTemps fails when a partial upload is left in dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	if left := uploadTemps(t, dir); len(left) != 0 {
		t.Fatalf("partial uploads left in %s: %v", dir, left)
	}
}

// assertNotExistOrEmpty fails when the file at p exists with content: a
// refused download must not deliver anything.
func assertNotExistOrEmpty(t *testing.T, what, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err == nil && len(b) != 0 {
		t.Fatalf("%s: refused download wrote %d bytes to %s", what, len(b), p)
	}
}

// matchingLines returns the lines of s containing sub, for failure messages.
func matchingLines(s, sub string, limit int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
			if len(out) == limit {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// ---- rclone ----

// rcloneTree writes n files of different sizes under dir (some in a
// subdirectory) and returns their contents by slash-separated path.
func rcloneTree(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte, n)
	for i := range n {
		rel := fmt.Sprintf("f%02d.bin", i)
		if i%6 == 5 {
			rel = "sub/" + rel
		}
		data := randomData(t, (i+1)*13*1024+i*7)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Dir(p), filepath.Base(p), data)
		files[rel] = data
	}
	return files
}

// assertTree fails unless dir holds exactly files.
func assertTree(t *testing.T, what, dir string, files map[string][]byte) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		got = append(got, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, len(files))
	for rel := range files {
		want = append(want, rel)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: files %v, want %v", what, got, want)
	}
	for rel, data := range files {
		assertSameData(t, what+" "+rel, readFile(t, filepath.Join(dir, filepath.FromSlash(rel))), data)
	}
}

// TestE2EClientsRclone copies a directory of 20 files up and back down
// with Debian's rclone (Go's crypto/tls through jlaffaye/ftp) on its
// defaults: 4 transfers and 8 checkers at once, each on its own control
// connection, all sharing one TLS session cache keyed by the host name. So
// a data connection usually offers the newest ticket of any of them, which
// the binding must accept because it is alice's, from alice's address,
// even when that connection is still logging in (its ticket arrives right
// after AUTH TLS). Retries are off, so that a refused data connection fails the run instead
// of being retried away.
func TestE2EClientsRclone(t *testing.T) {
	rclone := needTool(t, "rclone", "rclone")
	for _, v := range []struct {
		version uint16
		opts    string // extra options of the on-the-fly remote
	}{
		{tls.VersionTLS13, ""},
		{tls.VersionTLS12, ",disable_tls13=true"},
	} {
		t.Run(tls.VersionName(v.version), func(t *testing.T) {
			ts := startServer(t, nil)
			work := t.TempDir()
			conf := writeFile(t, work, "rclone.conf", nil)
			global := []string{"--config", conf, "--retries", "1", "--low-level-retries", "1",
				"--contimeout", "10s", "--timeout", "20s", "-v"}
			obscured, _ := runTool(t, work, rclone, "--config", conf, "obscure", userPass)
			host, port, err := net.SplitHostPort(ts.Addr)
			if err != nil {
				t.Fatal(err)
			}
			remote := fmt.Sprintf(":ftp,host=%s,port=%s,user=%s,pass=%s,explicit_tls=true,no_check_certificate=true%s:",
				host, port, userName, strings.TrimSpace(obscured), v.opts)

			src := filepath.Join(work, "src")
			files := rcloneTree(t, src, 20)
			run := func(what string, args ...string) {
				t.Helper()
				start := time.Now()
				_, stderr, err := runToolErr(t, work, rclone, append(global, args...)...)
				if err != nil {
					t.Fatalf("rclone %s: %v\nerrors:\n%s\nlast output:\n%s", what, err,
						matchingLines(stderr, "ERROR", 20), tail(stderr, 3000))
				}
				t.Logf("rclone %s took %v", what, time.Since(start).Round(time.Millisecond))
			}

			loginsBefore := okLogins(ts, 0)
			run("copy up", "copy", src, remote+"tree")
			assertTree(t, "uploaded", filepath.Join(ts.AliceDir(), "tree"), files)
			assertNoTemps(t, filepath.Join(ts.AliceDir(), "tree"))

			dst := filepath.Join(work, "dst")
			run("copy down", "copy", remote+"tree", dst)
			assertTree(t, "downloaded", dst, files)

			logins := okLogins(ts, 0) - loginsBefore
			if logins < 2 {
				t.Fatalf("rclone logged in %d times; the test needs several control connections sharing one session cache", logins)
			}
			if n := okLogins(ts, v.version); n != okLogins(ts, 0) {
				t.Fatalf("%d of %d logins at %s", n, okLogins(ts, 0), tls.VersionName(v.version))
			}
			if n := refusals(ts); n != 0 {
				t.Fatalf("%d data connections refused", n)
			}
			t.Logf("rclone used %d control connections", logins)
		})
	}
}

// ---- curl ----

// curlHandshakes counts the TLS handshakes a curl -v trace shows completed.
func curlHandshakes(trace string) int { return strings.Count(trace, "* SSL connection using TLSv") }

// TestE2EClientsCurlParallel downloads and uploads several files with one
// curl -Z command each. curl's parallel transfers run on their own control
// connections and share one TLS session cache (one entry per host and
// port, replaced by every new ticket), so a data connection offers the
// newest ticket of any of them, possibly of a connection that has already
// quit.
//
// Downloads work on the defaults. Parallel uploads at TLS 1.3 cannot be
// relied on: OpenSSL resumes a TLS 1.3 ticket at most once, crypto/tls
// issues one ticket per handshake, and an upload's data connection reads
// the fresh ticket the server sent it only when it closes; a data
// connection that starts in between offers no ticket at all (curl still
// logs "SSL re-using session ID") and is refused. So uploads on the
// defaults must each either arrive intact or get a clear 425 and store
// nothing; for a user with require_session_reuse = false they all work.
func TestE2EClientsCurlParallel(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	const n = 6
	parallel := append(curlBase(userName, userPass), "-Z", "--parallel-max", fmt.Sprint(n))

	// upload sends n files of different sizes to ts with one curl -Z and
	// returns what was sent, the trace and curl's error.
	upload := func(t *testing.T, ts *testServer, prefix string) ([][]byte, string, error) {
		t.Helper()
		work := t.TempDir()
		up := make([][]byte, n)
		args := slices.Clone(parallel)
		for i := range n {
			up[i] = randomData(t, (n-i)*89*1024+i)
			name := fmt.Sprintf("%s-%d.bin", prefix, i)
			args = append(args, "-T", writeFile(t, work, name, up[i]), "ftp://"+ts.Addr+"/"+name)
		}
		before := okLogins(ts, 0)
		_, trace, err := runToolErr(t, work, curl, args...)
		if got := okLogins(ts, 0) - before; got < 2 {
			t.Fatalf("curl -Z uploads logged in %d times, want several parallel control connections:\n%s", got, trace)
		}
		return up, trace, err
	}

	t.Run("defaults", func(t *testing.T) {
		ts := startServer(t, nil)
		work := t.TempDir()
		base := "ftp://" + ts.Addr + "/"
		down := make([][]byte, n)
		args := slices.Clone(parallel)
		for i := range n {
			down[i] = randomData(t, (i+1)*97*1024+i)
			name := fmt.Sprintf("par-down-%d.bin", i)
			writeFile(t, ts.AliceDir(), name, down[i])
			args = append(args, "-o", filepath.Join(work, name), base+name)
		}
		before := okLogins(ts, 0)
		_, trace := runTool(t, work, curl, args...)
		for i := range n {
			assertDiskFile(t, filepath.Join(work, fmt.Sprintf("par-down-%d.bin", i)), down[i])
		}
		if got := okLogins(ts, 0) - before; got < 2 {
			t.Fatalf("curl -Z downloads logged in %d times, want several parallel control connections:\n%s", got, trace)
		}
		if n := refusals(ts); n != 0 {
			t.Fatalf("%d data connections of the downloads refused", n)
		}
		t.Logf("downloads: %d logins, %d TLS handshakes", okLogins(ts, 0)-before, curlHandshakes(trace))

		up, trace, err := upload(t, ts, "par-up")
		stored := 0
		for i := range n {
			p := filepath.Join(ts.AliceDir(), fmt.Sprintf("par-up-%d.bin", i))
			if _, statErr := os.Stat(p); statErr == nil {
				assertDiskFile(t, p, up[i])
				stored++
			}
		}
		refused := refusals(ts)
		got425 := strings.Count(trace, "curl: (18) server did not report OK, got 425")
		t.Logf("uploads: %d of %d stored, %d refused (curl: %v)", stored, n, refused, err)
		if stored+refused != n || got425 != refused || (err == nil) != (refused == 0) {
			t.Fatalf("uploads: %d stored, %d refused by the server, %d \"got 425\" in curl's output (curl: %v); want every file stored or refused with a 425 curl reports:\n%s",
				stored, refused, got425, err, tail(trace, 6000))
		}
		low := strings.ToLower(trace)
		for _, bad := range []string{"bad certificate", "broken pipe", "connection reset"} {
			if strings.Contains(low, bad) {
				t.Fatalf("uploads: a refusal shows as %q instead of a 425:\n%s", bad, tail(trace, 6000))
			}
		}
		assertNoTemps(t, ts.AliceDir())
		if n := okLogins(ts, tls.VersionTLS13); n != okLogins(ts, 0) {
			t.Fatalf("%d of %d logins at TLS 1.3", n, okLogins(ts, 0))
		}
	})

	t.Run("user reuse off", func(t *testing.T) {
		ts := startServer(t, withUserReuse(t, userName, false))
		up, trace, err := upload(t, ts, "par-up")
		if err != nil {
			t.Fatalf("curl -Z uploads with require_session_reuse = false: %v\n%s", err, tail(trace, 6000))
		}
		for i := range n {
			assertDiskFile(t, filepath.Join(ts.AliceDir(), fmt.Sprintf("par-up-%d.bin", i)), up[i])
		}
		assertNoTemps(t, ts.AliceDir())
		if n := refusals(ts); n != 0 {
			t.Fatalf("%d data connections refused", n)
		}
	})
}

// TestE2EClientsCurlTLS12: curl (OpenSSL) at TLS 1.2 never resumes a
// session with ftpsd: curl turns TLS 1.2 session tickets off, and Go's
// crypto/tls resumes TLS 1.2 only from tickets (it keeps no session-ID
// cache). Its control channel is therefore issued no ticket, and on the
// defaults its data connections are bound by the client's address
// instead: download, upload and listing work, and the session logs once
// why it accepted them.
func TestE2EClientsCurlTLS12(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	ts := startServer(t, nil)
	work := t.TempDir()
	base := "ftp://" + ts.Addr + "/"
	args := append(curlBase(userName, userPass), "--tls-max", "1.2")
	data := randomData(t, 300*1024+5)
	writeFile(t, ts.AliceDir(), "down.bin", data)

	out := filepath.Join(work, "down.bin")
	_, trace := runTool(t, work, curl, append(args, "-o", out, base+"down.bin")...)
	if !strings.Contains(trace, "* SSL connection using TLSv1.2") || strings.Contains(trace, "* SSL connection using TLSv1.3") {
		t.Fatalf("curl --tls-max 1.2 did not use TLS 1.2:\n%s", trace)
	}
	assertDiskFile(t, out, data)

	up := randomData(t, 256*1024+3)
	local := writeFile(t, work, "up.bin", up)
	runTool(t, work, curl, append(args, "-T", local, base+"up.bin")...)
	assertDiskFile(t, filepath.Join(ts.AliceDir(), "up.bin"), up)
	assertNoTemps(t, ts.AliceDir())

	list, _ := runTool(t, work, curl, append(args, base)...)
	if !strings.Contains(list, "down.bin") || !strings.Contains(list, "up.bin") {
		t.Fatalf("LIST at TLS 1.2: %q", list)
	}
	if n := refusals(ts); n != 0 {
		t.Fatalf("%d data connections refused", n)
	}
	byAddr := logsWith(ts.Logs, control.AcceptedByAddressMessage, nil)
	if len(byAddr) == 0 || !strings.Contains(fmt.Sprint(byAddr[0].ContextMap()["why"]), "no session ticket") {
		t.Fatalf("want one %q line saying the client took no session ticket, got %v", control.AcceptedByAddressMessage, byAddr)
	}
}

// ---- Apache Commons Net ----

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
	javac := needTool(t, "javac", "default-jdk-headless")
	java = needTool(t, "java", "default-jdk-headless")
	jar := needFile(t, commonsNetJar, "libcommons-net-java")
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
	host, port, err := net.SplitHostPort(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
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

// TestE2EClientsCommonsNet drives stock Apache Commons Net FTPSClient
// (explicit, PBSZ 0, PROT P, passive), which never resumes a TLS session on
// a data connection: its data sockets are new JSSE sessions for another
// port. Under the default policy each transfer gets a clear 425 (no
// exception: the data handshake completes and the connection is closed
// with close_notify; the upload is read to its end and discarded, so
// Commons Net is not cut off while writing); with the user's
// require_session_reuse = false everything works.
func TestE2EClientsCommonsNet(t *testing.T) {
	java, classpath := buildCommonsNetClient(t)
	reuse := startServer(t, nil)
	noreuse := startServer(t, withUserReuse(t, userName, false))
	for _, protocol := range []string{"TLSv1.3", "TLSv1.2"} {
		t.Run(protocol+" reuse required", func(t *testing.T) {
			ts := reuse
			work := t.TempDir()
			remote := "java-" + protocol + ".bin"
			old := []byte("the stored copy, which a refused STOR must not touch\n")
			writeFile(t, ts.AliceDir(), remote, old)
			upload := writeFile(t, work, "up.bin", randomData(t, 256*1024+9))
			download := filepath.Join(work, "back.bin")
			before := refusals(ts)

			res := runCommonsNet(t, java, classpath, ts, protocol, upload, remote, download)
			t.Logf("Commons Net %s: STOR %+v; NLST %+v; RETR %+v", protocol, res.Stor, res.List, res.Retr)
			for _, s := range []struct {
				what string
				step commonsNetStep
			}{{"STOR", res.Stor}, {"NLST", res.List}, {"RETR", res.Retr}} {
				if s.step.OK || !strings.HasPrefix(s.step.Reply, "425 "+clientRefusal) {
					t.Errorf("%s: ok=%v reply %q, want false and 425 %q", s.what, s.step.OK, s.step.Reply, clientRefusal)
				}
				if s.step.Error != "" {
					t.Errorf("%s: Commons Net threw %q, want a plain 425 (no bad_certificate, broken pipe or reset)", s.what, s.step.Error)
				}
				if s.step.DataProtocol != protocol {
					t.Errorf("%s: data connection protocol %q, want %q (the data handshake must complete)", s.what, s.step.DataProtocol, protocol)
				}
			}
			if len(res.List.Names) != 0 {
				t.Errorf("refused NLST delivered %v", res.List.Names)
			}
			if !strings.HasPrefix(res.Quit, "221") {
				t.Errorf("QUIT after the refusals: %q", res.Quit)
			}
			assertDiskFile(t, filepath.Join(ts.AliceDir(), remote), old)
			assertNoTemps(t, ts.AliceDir())
			assertNotExistOrEmpty(t, "RETR", download)
			waitRefusals(t, ts, before+3)
		})

		t.Run(protocol+" user reuse off", func(t *testing.T) {
			ts := noreuse
			work := t.TempDir()
			remote := "java-" + protocol + ".bin"
			data := randomData(t, 256*1024+9)
			upload := writeFile(t, work, "up.bin", data)
			download := filepath.Join(work, "back.bin")

			res := runCommonsNet(t, java, classpath, ts, protocol, upload, remote, download)
			for _, s := range []struct {
				what string
				step commonsNetStep
			}{{"STOR", res.Stor}, {"NLST", res.List}, {"RETR", res.Retr}} {
				if !s.step.OK || !strings.HasPrefix(s.step.Reply, "226") || s.step.Error != "" || s.step.DataProtocol != protocol {
					t.Fatalf("%s with require_session_reuse = false: %+v", s.what, s.step)
				}
			}
			if !slices.Contains(res.List.Names, remote) {
				t.Fatalf("NLST %v lacks %q", res.List.Names, remote)
			}
			assertDiskFile(t, filepath.Join(ts.AliceDir(), remote), data)
			assertDiskFile(t, download, data)
			assertNoTemps(t, ts.AliceDir())
			if n := refusals(ts); n != 0 {
				t.Fatalf("%d data connections refused", n)
			}
		})
	}
}

// ---- wget ----

// TestE2EClientsWget downloads with wget (GnuTLS), which resumes the
// control connection's session on its data connections by default, at
// TLS 1.3 and, through a GnuTLS priority string, at TLS 1.2.
func TestE2EClientsWget(t *testing.T) {
	wget := needTool(t, "wget", "wget")
	ts := startServer(t, nil)
	data := randomData(t, 400*1024+1)
	writeFile(t, ts.AliceDir(), "wget.bin", data)
	for _, v := range []struct {
		version uint16
		args    []string
	}{
		{tls.VersionTLS13, nil},
		{tls.VersionTLS12, []string{"--ciphers=NORMAL:-VERS-TLS1.3"}},
	} {
		t.Run(tls.VersionName(v.version), func(t *testing.T) {
			work := t.TempDir()
			out := filepath.Join(work, "wget.bin")
			before := okLogins(ts, v.version)
			args := append([]string{"--no-config", "--no-check-certificate", "--tries=1", "--timeout=15",
				"--user", userName, "--password", userPass, "-O", out}, v.args...)
			runTool(t, work, wget, append(args, "ftps://"+ts.Addr+"/wget.bin")...)
			assertDiskFile(t, out, data)
			if okLogins(ts, v.version) != before+1 {
				t.Fatalf("wget did not log in at %s", tls.VersionName(v.version))
			}
			if n := refusals(ts); n != 0 {
				t.Fatalf("%d data connections refused", n)
			}
		})
	}
}

// ---- whose tickets a data connection accepts (Go client) ----

// dialRawFrom is dialRaw over explicit FTPS from the local address localIP,
// with the client TLS config cfg, logged in with PROT P.
func dialRawFrom(t *testing.T, addr, localIP string, cfg *tls.Config, user, pass string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, localIP, err)
	}
	_ = raw.SetDeadline(time.Now().Add(e2eTimeout))
	c := &rawClient{t: t, addr: addr, raw: raw, conn: raw, tlsCfg: cfg}
	t.Cleanup(func() { _ = c.raw.Close() })
	c.r = textproto.NewReader(bufio.NewReader(raw))
	c.expect(220, "greeting")
	c.authTLS()
	c.login(user, pass)
	c.protP()
	return c
}

// dataAttempt is what one RETR saw whose data connection offered a chosen
// client TLS config.
type dataAttempt struct {
	code         int
	msg          string
	handshakeErr error
	resumed      bool
	plain        []byte
	readErr      error
	raw          []byte // everything the server sent on the data connection
}

// retrOffering sends RETR name on c, opening the passive data connection
// from localIP ("" = any) with the TLS config cfg (whose session cache
// decides which ticket is offered).
func retrOffering(t *testing.T, c *rawClient, cfg *tls.Config, localIP, name string) dataAttempt {
	t.Helper()
	return retrOfferingWhile(t, c, cfg, localIP, name, nil)
}

// retrOfferingWhile is retrOffering that runs during (when not nil) on the
// test goroutine while the data connection's TLS handshake and transfer
// run on another one.
func retrOfferingWhile(t *testing.T, c *rawClient, cfg *tls.Config, localIP, name string, during func()) dataAttempt {
	t.Helper()
	addr := c.pasv()
	d := net.Dialer{Timeout: dialTimeout}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial data %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(e2eTimeout))
	rec := &recorder{Conn: conn}
	var a dataAttempt
	c.send("RETR %s", name)
	a.code, a.msg = c.reply()
	if a.code != 150 {
		return a
	}
	// The lib announces the transfer before the data handshake runs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc := tls.Client(rec, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		a.handshakeErr = tc.Handshake()
		if a.handshakeErr == nil {
			a.resumed = tc.ConnectionState().DidResume
			a.plain, a.readErr = readAllBounded(tc, 10*time.Second)
		}
		_ = tc.Close()
	}()
	if during != nil {
		during()
	}
	<-done // bounded by the deadlines above
	a.code, a.msg = c.reply()
	a.raw = rec.bytes()
	return a
}

// lastRecord returns the type and length of the last complete TLS record
// in raw.
func lastRecord(raw []byte) (typ byte, length int, ok bool) {
	for len(raw) >= 5 {
		n := int(binary.BigEndian.Uint16(raw[3:5]))
		if len(raw) < 5+n {
			break
		}
		typ, length, ok = raw[0], n, true
		raw = raw[5+n:]
	}
	return typ, length, ok
}

// assertAccepted fails unless a resumed and delivered content with 226.
func assertAccepted(t *testing.T, what string, a dataAttempt, content []byte) {
	t.Helper()
	if a.code != 226 || a.handshakeErr != nil || a.readErr != nil {
		t.Fatalf("%s: reply %d %q, handshake error %v, read error %v; want 226", what, a.code, a.msg, a.handshakeErr, a.readErr)
	}
	if !a.resumed {
		t.Fatalf("%s: the data connection did not resume the offered session", what)
	}
	assertSameData(t, what, a.plain, content)
}

// assertCleanRefusal fails unless a is the clear refusal: the data
// handshake completed without resuming, the server sent no data and
// closed with close_notify (no alert such as bad_certificate), and the
// control connection got 425 "Data connection refused".
func assertCleanRefusal(t *testing.T, what string, a dataAttempt, version uint16) {
	t.Helper()
	if a.code != 425 || !strings.HasPrefix(a.msg, clientRefusal) {
		t.Errorf("%s: reply %d %q, want 425 %q", what, a.code, a.msg, clientRefusal)
	}
	if a.handshakeErr != nil {
		t.Fatalf("%s: data TLS handshake failed with %v, want it to complete and then close_notify", what, a.handshakeErr)
	}
	if a.resumed {
		t.Errorf("%s: the refused data connection resumed the offered session", what)
	}
	if len(a.plain) != 0 || a.readErr != nil {
		t.Errorf("%s: the refused data connection delivered %d bytes, read error %v; want nothing and close_notify", what, len(a.plain), a.readErr)
	}
	if bytes.Contains(a.raw, []byte(plainMarker)) {
		t.Errorf("%s: the file crossed the refused data connection in clear", what)
	}
	// The server's last record is its close_notify: an encrypted alert
	// record in TLS 1.2; in TLS 1.3 an application_data record of 19
	// bytes (2 bytes of alert, the inner content type, a 16-byte tag).
	typ, n, ok := lastRecord(a.raw)
	switch {
	case !ok:
		t.Errorf("%s: the server sent no complete TLS record", what)
	case version == tls.VersionTLS12 && (typ != 21 || n <= 2):
		t.Errorf("%s: the server's last record is type %d, %d bytes; want an encrypted alert (close_notify)", what, typ, n)
	case version == tls.VersionTLS13 && (typ != 23 || n != 19):
		t.Errorf("%s: the server's last record is type %d, %d bytes; want a 19-byte encrypted alert (close_notify)", what, typ, n)
	}
}

// TestE2EClientsTicketOwners checks with Go clients which tickets a data
// connection of alice accepts under the default policy: a ticket issued on
// another control connection of alice from her address (open or already
// closed, or logging in when the data connection starts) is accepted;
// reader's ticket, alice's ticket from another client address, and that of
// a connection whose login fails are refused, clearly.
func TestE2EClientsTicketOwners(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ts := startServer(t, nil)
			content := markerContent()
			writeFile(t, ts.AliceDir(), "marker.txt", content)
			writeFile(t, ts.ReaderDir(), "marker.txt", content)
			newCfg := func() *tls.Config {
				cfg := clientTLS()
				cfg.MaxVersion = version
				return cfg
			}
			// holder logs in as user from localIP and proves on its own
			// data connection that its ticket is valid; it returns its
			// client TLS config, whose cache holds that ticket.
			holder := func(t *testing.T, localIP, user, pass string) (*rawClient, *tls.Config) {
				t.Helper()
				cfg := newCfg()
				h := dialRawFrom(t, ts.Addr, localIP, cfg, user, pass)
				a := retrOffering(t, h, cfg, localIP, "marker.txt")
				assertAccepted(t, user+"'s own data connection from "+localIP, a, content)
				return h, cfg
			}
			alice := dialRawFrom(t, ts.Addr, "127.0.0.1", newCfg(), userName, userPass)

			t.Run("same user other control connection", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", userName, userPass)
				assertAccepted(t, "alice's RETR offering another alice connection's ticket",
					retrOffering(t, alice, cfg, "", "marker.txt"), content)
				h.quit()
			})

			t.Run("same user closed control connection", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", userName, userPass)
				h.quit()
				assertAccepted(t, "alice's RETR offering a ticket of a closed alice connection",
					retrOffering(t, alice, cfg, "", "marker.txt"), content)
			})

			// A client's newest ticket may come from a control connection
			// whose login is still under way (rclone and curl -Z open
			// several at once and share one cache; in TLS 1.3 the ticket
			// arrives right after AUTH TLS, and bcrypt makes a login take
			// a while): the binding must not judge such a ticket before
			// that login has succeeded or failed.
			pendingLogin := func(t *testing.T, pass string) dataAttempt {
				t.Helper()
				cfg := newCfg()
				h := dialRaw(t, ts.Addr, false)
				h.tlsCfg = cfg
				h.authTLS()
				h.must(331, "USER %s", userName) // a TLS 1.3 ticket arrives with this reply
				loggedIn := false
				a := retrOfferingWhile(t, alice, cfg, "", "marker.txt", func() {
					time.Sleep(200 * time.Millisecond) // the data handshake reaches the server first
					h.send("PASS %s", pass)
					code, msg := h.reply()
					loggedIn = code == 230
					t.Logf("PASS with the data handshake pending: %d %q", code, msg)
				})
				if loggedIn {
					h.quit()
				}
				return a
			}
			t.Run("same user login pending", func(t *testing.T) {
				assertAccepted(t, "alice's RETR offering the ticket of an alice connection logging in",
					pendingLogin(t, userPass), content)
			})
			t.Run("same user login pending fails", func(t *testing.T) {
				before := refusals(ts)
				assertCleanRefusal(t, "alice's RETR offering the ticket of a connection whose login then fails",
					pendingLogin(t, "wrong-password"), version)
				waitRefusals(t, ts, before+1)
			})

			t.Run("other user", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.1", readerName, readerPass)
				before := refusals(ts)
				assertCleanRefusal(t, "alice's RETR offering reader's ticket",
					retrOffering(t, alice, cfg, "", "marker.txt"), version)
				waitRefusals(t, ts, before+1)
				h.quit()
			})

			t.Run("same user other address", func(t *testing.T) {
				h, cfg := holder(t, "127.0.0.2", userName, userPass)
				before := refusals(ts)
				assertCleanRefusal(t, "alice's RETR from 127.0.0.1 offering her ticket from 127.0.0.2",
					retrOffering(t, alice, cfg, "", "marker.txt"), version)
				waitRefusals(t, ts, before+1)
				h.quit()
			})

			// alice's own session still works after the refusals.
			assertAccepted(t, "alice's own RETR", retrOffering(t, alice, alice.tlsCfg, "", "marker.txt"), content)
			alice.quit()
		})
	}
}
