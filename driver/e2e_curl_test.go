package driver_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ftpsd/config"
)

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

func TestE2ECurlExplicit(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	ts := startServer(t, nil)
	data := randomData(t, 700*1024+7)
	writeFile(t, ts.AliceDir(), "down.bin", data)
	writeFile(t, ts.AliceDir(), "other name.txt", []byte("x"))
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
			assertDiskFile(t, out, data)
			checkMode("download", trace)

			// Upload with -T.
			up := randomData(t, 300*1024+1)
			local := writeFile(t, work, m.name+"-up.bin", up)
			remote := "up-" + m.name + ".bin"
			_, trace = runTool(t, work, curl, append(args, "-T", local, base+remote)...)
			assertDiskFile(t, filepath.Join(ts.AliceDir(), remote), up)
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
	if left := uploadTemps(t, ts.AliceDir()); len(left) != 0 {
		t.Fatalf("partial uploads left: %v", left)
	}
}

func TestE2ECurlImplicit(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	ts := startServer(t, nil)
	if ts.Implicit == "" {
		t.Fatal("the test server has no implicit FTPS listener")
	}
	data := randomData(t, 512*1024+3)
	writeFile(t, ts.AliceDir(), "implicit.bin", data)
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
	assertDiskFile(t, out, data)

	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok", "implicit": true}); len(got) != 2 {
		t.Fatalf("want two implicit logins in the log, got %d", len(got))
	}
}

// TestE2EEPSVDisabled: with passive.epsv = false, EPSV gets 502, FEAT does
// not list it, and curl falls back to PASV and downloads.
func TestE2EEPSVDisabled(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	ts := startServer(t, func(cfg *config.Config) { cfg.Passive.EPSV = false })
	data := randomData(t, 64*1024+7)
	writeFile(t, ts.AliceDir(), "epsv.bin", data)
	work := t.TempDir()
	out := filepath.Join(work, "epsv.bin")
	_, trace := runTool(t, work, curl, append(curlBase(userName, userPass), "-o", out, "ftp://"+ts.Addr+"/epsv.bin")...)
	if !strings.Contains(trace, "< 502 EPSV is disabled") || !slices.Contains(sentCommands(trace), "PASV") {
		t.Fatalf("curl did not get 502 for EPSV and fall back to PASV:\n%s", trace)
	}
	assertDiskFile(t, out, data)

	c := dialRaw(t, ts.Addr, false)
	c.authTLS()
	c.login(userName, userPass)
	for _, line := range featLines(t, c) {
		if strings.TrimSpace(line) == "EPSV" {
			t.Fatalf("FEAT lists EPSV with passive.epsv = false")
		}
	}
	c.quit()
}
