package driver_test

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
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
// default-jdk-headless and libcommons-net-java. Which tickets a data
// connection accepts is checked with Go clients in reuse_test.go.

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

// okLogins returns the successful logins so far, at TLS version v when v is
// not 0.
func okLogins(ts *testServer, v uint16) int {
	fields := map[string]any{"result": "ok"}
	if v != 0 {
		fields["tls_version"] = tls.VersionName(v)
	}
	return len(logsWith(ts.Logs, "login", fields))
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
		files[rel] = ftptest.RandomData(t, (i+1)*13*1024+i*7)
		ftptest.WriteFile(t, dir, rel, files[rel])
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
		ftptest.MustSameFile(t, filepath.Join(dir, filepath.FromSlash(rel)), data)
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
	rcloneRoundTrips(t, func(t *testing.T) *testServer { return startServer(t, nil) })
}

// rcloneRoundTrips runs TestE2EClientsRclone's round trip, at TLS 1.3 and
// 1.2, against a server of start.
func rcloneRoundTrips(t *testing.T, start func(t *testing.T) *testServer) {
	rclone := testenv.NeedTool(t, "rclone", "rclone")
	for _, v := range []struct {
		version uint16
		opts    string // extra options of the on-the-fly remote
	}{
		{tls.VersionTLS13, ""},
		{tls.VersionTLS12, ",disable_tls13=true"},
	} {
		t.Run(tls.VersionName(v.version), func(t *testing.T) {
			ts := start(t)
			work := t.TempDir()
			conf := ftptest.WriteFile(t, work, "rclone.conf", nil)
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
			ftptest.MustNoPartialUploads(t, filepath.Join(ts.AliceDir(), "tree"))

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
			assertNoRefusals(t, ts)
			t.Logf("rclone used %d control connections", logins)
		})
	}
}

// ---- curl ----

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
	curl := testenv.NeedTool(t, "curl", "curl")
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
			up[i] = ftptest.RandomData(t, (n-i)*89*1024+i)
			name := fmt.Sprintf("%s-%d.bin", prefix, i)
			args = append(args, "-T", ftptest.WriteFile(t, work, name, up[i]), "ftp://"+ts.Addr+"/"+name)
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
			down[i] = ftptest.RandomData(t, (i+1)*97*1024+i)
			name := fmt.Sprintf("par-down-%d.bin", i)
			ftptest.WriteFile(t, ts.AliceDir(), name, down[i])
			args = append(args, "-o", filepath.Join(work, name), base+name)
		}
		before := okLogins(ts, 0)
		_, trace := runTool(t, work, curl, args...)
		for i := range n {
			ftptest.MustSameFile(t, filepath.Join(work, fmt.Sprintf("par-down-%d.bin", i)), down[i])
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
				ftptest.MustSameFile(t, p, up[i])
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
		ftptest.MustNoPartialUploads(t, ts.AliceDir())
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
			ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), fmt.Sprintf("par-up-%d.bin", i)), up[i])
		}
		ftptest.MustNoPartialUploads(t, ts.AliceDir())
		assertNoRefusals(t, ts)
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
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, nil, "down.bin", 300*1024+5)
	work := t.TempDir()
	base := "ftp://" + ts.Addr + "/"
	args := append(curlBase(userName, userPass), "--tls-max", "1.2")

	out := filepath.Join(work, "down.bin")
	_, trace := runTool(t, work, curl, append(args, "-o", out, base+"down.bin")...)
	if !strings.Contains(trace, "* SSL connection using TLSv1.2") || strings.Contains(trace, "* SSL connection using TLSv1.3") {
		t.Fatalf("curl --tls-max 1.2 did not use TLS 1.2:\n%s", trace)
	}
	ftptest.MustSameFile(t, out, data)

	up := ftptest.RandomData(t, 256*1024+3)
	local := ftptest.WriteFile(t, work, "up.bin", up)
	runTool(t, work, curl, append(args, "-T", local, base+"up.bin")...)
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "up.bin"), up)
	ftptest.MustNoPartialUploads(t, ts.AliceDir())

	list, _ := runTool(t, work, curl, append(args, base)...)
	if !strings.Contains(list, "down.bin") || !strings.Contains(list, "up.bin") {
		t.Fatalf("LIST at TLS 1.2: %q", list)
	}
	assertNoRefusals(t, ts)
	byAddr := logsWith(ts.Logs, control.AcceptedByAddressMessage, nil)
	if len(byAddr) == 0 || !strings.Contains(fmt.Sprint(byAddr[0].ContextMap()["why"]), "no session ticket") {
		t.Fatalf("want one %q line saying the client took no session ticket, got %v", control.AcceptedByAddressMessage, byAddr)
	}
}

// ---- Apache Commons Net ----

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
			ftptest.WriteFile(t, ts.AliceDir(), remote, old)
			upload := ftptest.WriteFile(t, work, "up.bin", ftptest.RandomData(t, 256*1024+9))
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
			ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), remote), old)
			ftptest.MustNoPartialUploads(t, ts.AliceDir())
			assertNotExistOrEmpty(t, "RETR", download)
			waitLogs(t, ts, "data connection refused", nil, before+3)
		})

		t.Run(protocol+" user reuse off", func(t *testing.T) {
			ts := noreuse
			work := t.TempDir()
			remote := "java-" + protocol + ".bin"
			data := ftptest.RandomData(t, 256*1024+9)
			upload := ftptest.WriteFile(t, work, "up.bin", data)
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
			ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), remote), data)
			ftptest.MustSameFile(t, download, data)
			ftptest.MustNoPartialUploads(t, ts.AliceDir())
			assertNoRefusals(t, ts)
		})
	}
}

// ---- wget ----

// TestE2EClientsWget downloads with wget (GnuTLS), which resumes the
// control connection's session on its data connections by default, at
// TLS 1.3 and, through a GnuTLS priority string, at TLS 1.2.
func TestE2EClientsWget(t *testing.T) {
	wget := testenv.NeedTool(t, "wget", "wget")
	ts, data := serveFile(t, nil, "wget.bin", 400*1024+1)
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
			ftptest.MustSameFile(t, out, data)
			if okLogins(ts, v.version) != before+1 {
				t.Fatalf("wget did not log in at %s", tls.VersionName(v.version))
			}
			assertNoRefusals(t, ts)
		})
	}
}
