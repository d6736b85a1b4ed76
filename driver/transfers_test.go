package driver_test

import (
	"bytes"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Transfers on the defaults, client by client: uploads, downloads and
// listings over explicit and implicit FTPS, each file compared by SHA-256,
// no partial upload left or listed.

func TestE2ECurlExplicit(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) { testCurlExplicit(t, backend) })
	}
}

func testCurlExplicit(t *testing.T, backend config.Backend) {
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFileOn(t, backend, nil, "down.bin", 700*1024+7)
	ts.PutFile(t, "other name.txt", []byte("x"))
	work := t.TempDir()
	base := "ftp://" + ts.Addr + "/"

	modes := []struct {
		name     string
		args     []string
		wantPASV bool // PASV only, never EPSV
	}{
		{name: "default", args: nil},
		{name: "ftp-pasv", args: []string{"--ftp-pasv"}},
		{name: "disable-epsv", args: []string{"--ftp-pasv", "--disable-epsv"}, wantPASV: true},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkMode := func(what, trace string) {
				t.Helper()
				cmds := sentCommands(trace)
				if !slices.Contains(cmds, "AUTH") || !slices.Contains(cmds, "PROT") {
					t.Fatalf("%s: curl did not send AUTH and PROT: %v", what, cmds)
				}
				if !strings.Contains(trace, "> PROT P") {
					t.Fatalf("%s: curl did not send PROT P:\n%s", what, trace)
				}
				if m.wantPASV {
					if !slices.Contains(cmds, "PASV") || slices.Contains(cmds, "EPSV") {
						t.Fatalf("%s: want PASV only, sent %v", what, cmds)
					}
				} else if !slices.Contains(cmds, "EPSV") {
					t.Fatalf("%s: want EPSV, sent %v", what, cmds)
				}
			}

			// Download.
			out := filepath.Join(work, m.name+"-down.bin")
			args := append(curlBase(userName, userPass), m.args...)
			_, trace := runTool(t, work, curl, append(args, "-o", out, base+"down.bin")...)
			ftptest.MustSameFile(t, out, data)
			checkMode("download", trace)

			// Upload with -T.
			up := ftptest.RandomData(t, 300*1024+1)
			local := ftptest.WriteFile(t, work, m.name+"-up.bin", up)
			remote := "up-" + m.name + ".bin"
			_, trace = runTool(t, work, curl, append(args, "-T", local, base+remote)...)
			ts.MustHaveFile(t, remote, up)
			checkMode("upload", trace)
			if !slices.Contains(sentCommands(trace), "STOR") {
				t.Fatalf("upload did not use STOR: %v", sentCommands(trace))
			}

			// Listing (LIST) and name listing (NLST).
			list, trace := runTool(t, work, curl, append(args, base)...)
			checkMode("list", trace)
			for _, name := range []string{"down.bin", "other name.txt", remote} {
				if !strings.Contains(list, name) {
					t.Fatalf("LIST output lacks %q:\n%s", name, list)
				}
			}
			names, _ := runTool(t, work, curl, append(args, "--list-only", base)...)
			lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(names, "\r", "")), "\n")
			for _, name := range []string{"down.bin", "other name.txt", remote} {
				if !slices.Contains(lines, name) {
					t.Fatalf("NLST output lacks the line %q:\n%s", name, names)
				}
			}
			if strings.Contains(list+names, ".ftpsd-upload-") {
				t.Fatalf("listing shows a partial upload:\n%s\n%s", list, names)
			}
		})
	}
	ts.MustNoPartialUploads(t)
}

func TestE2ECurlImplicit(t *testing.T) {
	curl := testenv.NeedTool(t, "curl", "curl")
	ts, data := serveFile(t, nil, "implicit.bin", 512*1024+3)
	if ts.Implicit == "" {
		t.Fatal("the test server has no implicit FTPS listener")
	}
	work := t.TempDir()
	base := "ftps://" + ts.Implicit + "/"
	args := curlBase(userName, userPass)

	list, trace := runTool(t, work, curl, append(args, base)...)
	if !strings.Contains(list, "implicit.bin") {
		t.Fatalf("LIST over implicit FTPS lacks implicit.bin:\n%s", list)
	}
	if slices.Contains(sentCommands(trace), "AUTH") {
		t.Fatalf("curl sent AUTH on the implicit port: %v", sentCommands(trace))
	}
	if !strings.Contains(trace, "> PROT P") {
		t.Fatalf("curl did not protect the data channel:\n%s", trace)
	}

	out := filepath.Join(work, "implicit.bin")
	runTool(t, work, curl, append(args, "-o", out, base+"implicit.bin")...)
	ftptest.MustSameFile(t, out, data)

	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok", "implicit": true}); len(got) != 2 {
		t.Fatalf("want two implicit logins in the log, got %d", len(got))
	}
}

func TestE2ELftp(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) { testLftp(t, backend) })
	}
}

func testLftp(t *testing.T, backend config.Backend) {
	lftp := testenv.NeedTool(t, "lftp", "lftp")
	ts := startServerOn(t, backend, nil)
	ts.PutFile(t, "before.txt", []byte("already there"))
	work := t.TempDir()
	data := ftptest.RandomData(t, 1<<20+5)
	local := ftptest.WriteFile(t, work, "local.bin", data)
	local2 := filepath.Join(work, "local2.bin")

	stdout, trace := runTool(t, work, lftp, "-c", lftpScript(ts.Addr, userName, userPass, false,
		"put "+local+" -o remote.bin",
		"get remote.bin -o "+local2,
		"cls -1"))

	ts.MustHaveFile(t, "remote.bin", data)
	ftptest.MustSameFile(t, local2, data)
	names := strings.Split(strings.TrimSpace(stdout), "\n")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if !slices.Contains(names, "remote.bin") || !slices.Contains(names, "before.txt") {
		t.Fatalf("cls -1: got %q, want remote.bin and before.txt\ntrace:\n%s", names, trace)
	}
	for _, want := range []string{"AUTH TLS", "PROT P", "STOR remote.bin", "RETR remote.bin"} {
		if !strings.Contains(trace, "---> "+want) {
			t.Fatalf("lftp trace lacks %q:\n%s", want, trace)
		}
	}
	ts.MustNoPartialUploads(t)
}

func TestE2EPythonFtplib(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) { testPythonFtplib(t, backend) })
	}
}

func testPythonFtplib(t *testing.T, backend config.Backend) {
	ts := startServerOn(t, backend, nil)
	res := ftplibRoundTrip(t, ts, "py.bin", 1<<20+17)
	if !strings.HasPrefix(res.ControlTLS, "TLSv1.") {
		t.Errorf("control channel TLS version %q", res.ControlTLS)
	}
	for _, n := range res.NLST {
		if strings.HasPrefix(n, ".ftpsd-upload-") {
			t.Fatalf("NLST shows a partial upload: %v", res.NLST)
		}
	}
}

// ftplibRoundTrip has ftplib_client.py, with options, upload size random
// bytes as remote beside an existing file, download it back and list: it
// checks every reply, both copies by SHA-256 and the listing.
func ftplibRoundTrip(t *testing.T, ts *testServer, remote string, size int, options ...string) ftplibResult {
	t.Helper()
	ts.PutFile(t, "existing.txt", []byte("hello"))
	work := t.TempDir()
	data := ftptest.RandomData(t, size)
	local := ftptest.WriteFile(t, work, "up.bin", data)
	back := filepath.Join(work, "back.bin")

	res := runFtplib(t, ts, userName, userPass, append([]string{"--upload", local, "--remote", remote, "--download", back, "--nlst"}, options...)...)
	assertFtplibReplies(t, res, []struct{ what, reply, code string }{
		{"welcome", res.Welcome, "220"},
		{"AUTH TLS", res.Auth, "234"},
		{"login", res.Login, "230"},
		{"PROT P", res.PBSZProt, "200"},
		{"STOR", res.Stor, "226"},
		{"RETR", res.Retr, "226"},
		{"QUIT", res.Quit, "221"},
	})
	if res.RetrSHA256 != ftptest.SHA256Hex(data) || res.RetrBytes != len(data) {
		t.Fatalf("RETR: python got %d bytes sha256 %s, want %d bytes %s",
			res.RetrBytes, res.RetrSHA256, len(data), ftptest.SHA256Hex(data))
	}
	ftptest.MustSameFile(t, back, data)
	ts.MustHaveFile(t, remote, data)
	if !slices.Contains(res.NLST, remote) || !slices.Contains(res.NLST, "existing.txt") {
		t.Fatalf("NLST: %v, want %s and existing.txt", res.NLST, remote)
	}
	return res
}

func TestE2EGoClientStorRetr(t *testing.T) {
	ts := startServer(t, nil)
	c := loginGo(t, ts.Addr, userName, userPass)
	data := ftptest.RandomData(t, 1<<20+123)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "big.bin"), data)

	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read RETR data: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("end of RETR: %v", err)
	}
	ftptest.MustSameData(t, "RETR big.bin", got, data)

	size, err := c.FileSize("big.bin")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("SIZE big.bin = %d, %v; want %d", size, err, len(data))
	}
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	if got := logsWith(ts.Logs, "transfer", map[string]any{
		"direction": "upload", "result": "ok", "bytes": len(data), "path": "/big.bin",
	}); len(got) != 1 {
		t.Fatalf("want one ok upload log line of %d bytes, got %v", len(data), ts.Logs.FilterMessage("transfer").All())
	}
	if got := logsWith(ts.Logs, "transfer", map[string]any{
		"direction": "download", "result": "ok", "bytes": len(data),
	}); len(got) != 1 {
		t.Fatalf("want one ok download log line of %d bytes, got %v", len(data), ts.Logs.FilterMessage("transfer").All())
	}
}

// TestE2EGoClientListEPSVAndPASV lists alice's home over EPSV (the
// client's default) and over PASV, and checks on the wire which one ran.
func TestE2EGoClientListEPSVAndPASV(t *testing.T) {
	ts := startServer(t, nil)
	ftptest.WriteFile(t, ts.AliceDir(), "a.txt", []byte("alpha"))
	ftptest.WriteFile(t, ts.AliceDir(), "b.txt", []byte("bravo!"))
	ftptest.WriteFile(t, ts.AliceDir(), ".ftpsd-upload-0123456789ab-c.txt", []byte("partial"))

	for _, mode := range []string{"EPSV", "PASV"} {
		t.Run(mode, func(t *testing.T) {
			debug := &testenv.SyncBuffer{}
			opts := []ftp.DialOption{ftp.DialWithDebugOutput(debug)}
			if mode == "PASV" {
				opts = append(opts, ftp.DialWithDisabledEPSV(true))
			}
			c := dialGo(t, ts.Addr, opts...)
			if err := c.Login(userName, userPass); err != nil {
				t.Fatal(err)
			}
			entries, err := c.List("/")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			sizes := map[string]uint64{}
			for _, e := range entries {
				sizes[e.Name] = e.Size
			}
			if sizes["a.txt"] != 5 || sizes["b.txt"] != 6 {
				t.Fatalf("List: got %v, want a.txt (5 bytes) and b.txt (6 bytes)", sizes)
			}
			for name := range sizes {
				if strings.HasPrefix(name, ".ftpsd-upload-") {
					t.Fatalf("List shows a partial upload: %s", name)
				}
			}
			names, err := c.NameList("/")
			if err != nil {
				t.Fatalf("NLST: %v", err)
			}
			for i := range names {
				names[i] = strings.TrimPrefix(names[i], "/")
			}
			if !slices.Contains(names, "a.txt") || !slices.Contains(names, "b.txt") {
				t.Fatalf("NLST: got %v", names)
			}

			wire := debug.String()
			used := strings.Contains(wire, "\nEPSV") || strings.HasPrefix(wire, "EPSV")
			pasvUsed := strings.Contains(wire, "\nPASV")
			switch mode {
			case "EPSV":
				if !used || !strings.Contains(wire, "229 ") || pasvUsed {
					t.Fatalf("EPSV mode: want EPSV/229 and no PASV on the wire:\n%s", wire)
				}
			case "PASV":
				if used || !pasvUsed || !strings.Contains(wire, "227 ") {
					t.Fatalf("PASV mode: want PASV/227 and no EPSV on the wire:\n%s", wire)
				}
			}
			if !strings.Contains(wire, "PROT P") {
				t.Fatalf("client did not protect the data channel:\n%s", wire)
			}
		})
	}
}
