package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// xferlogLine is the layout of xferlog(5), field by field, as wu-ftpd,
// ProFTPD and vsftpd write it: current-time ("Mon Dec  7 15:00:00 2026"),
// transfer-time (whole seconds), remote-host, file-size, filename (no
// spaces), transfer-type, special-action-flag, direction, access-mode,
// username, service-name, authentication-method, authenticated-user-id,
// completion-status.
var xferlogLine = regexp.MustCompile(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ` +
	`(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4} ` +
	`([0-9]+) (\S+) ([0-9]+) (\S+) ([ab]) (_|[CUT]+) ([io]) ([agr]) (\S+) (ftp) ([01]) (\S+) ([ci])$`)

// xferEntry is one parsed xferlog line.
type xferEntry struct {
	seconds   int
	remote    string
	size      int64
	file      string
	direction string
	user      string
	status    string
}

// readXferlog parses every line of the file at path with the strict
// layout; a line that does not match fails the test.
func readXferlog(t *testing.T, path string) []xferEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []xferEntry
	for line := range strings.Lines(string(b)) {
		m := xferlogLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil || !strings.HasSuffix(line, "\n") {
			t.Fatalf("xferlog line not in the standard layout: %q", line)
		}
		secs, _ := strconv.Atoi(m[1])
		size, _ := strconv.ParseInt(m[3], 10, 64)
		out = append(out, xferEntry{seconds: secs, remote: m[2], size: size, file: m[4], direction: m[7],
			user: m[9], status: m[13]})
	}
	return out
}

// waitXferlog waits until the file at path has n lines and returns them.
func waitXferlog(t *testing.T, path string, n int) []xferEntry {
	t.Helper()
	ftptest.MustEventually(t, 10*time.Second, "xferlog lines", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n") >= n
	})
	got := readXferlog(t, path)
	if len(got) != n {
		t.Fatalf("xferlog has %d lines, want %d: %+v", len(got), n, got)
	}
	return got
}

// TestXferlog: [log] xferlog gets one standard line per transfer, with the
// size, the direction, the completion and the user; a name with spaces
// stays one field; after the file is renamed (a rotation), SIGHUP opens a
// new one and the next line goes there. Outside -short, curl's transfers
// get their lines too.
func TestXferlog(t *testing.T) {
	f := newFixture(t, 4)
	xferlog := filepath.Join(f.dir, "xferlog")
	text := f.config("", "", "alice")
	text = strings.Replace(text, "[log]\n", "[log]\nxferlog = \""+xferlog+"\"\n", 1)
	f.write(text)
	s, addr := f.start()

	up := ftptest.RandomData(t, 100*1024+3)
	c := ftptest.MustLogin(t, addr, "alice", password("alice"))
	c.Stor("in box.bin", up)
	if got := c.Retr("in box.bin"); len(got) != len(up) {
		t.Fatalf("downloaded %d bytes, want %d", len(got), len(up))
	}
	// An upload cut by a bare FIN: incomplete, the stored copy kept.
	storCut(t, c, "in box.bin", up[:5000], "a bare FIN", (*ftptest.Transfer).EndBare)

	lines := waitXferlog(t, xferlog, 3)
	want := []struct {
		direction, status string
		size              int64
	}{
		{"i", "c", int64(len(up))},
		{"o", "c", int64(len(up))},
		{"i", "i", -1}, // what the server read before the FIN: up to 5000
	}
	for i, w := range want {
		l := lines[i]
		if l.direction != w.direction || l.status != w.status || l.user != "alice" ||
			l.remote != "127.0.0.1" || l.file != "/in_box.bin" || l.seconds < 1 {
			t.Errorf("line %d: %+v, want direction %s, status %s, alice from 127.0.0.1, /in_box.bin", i, l, w.direction, w.status)
		}
		if w.size >= 0 && l.size != w.size {
			t.Errorf("line %d: size %d, want %d", i, l.size, w.size)
		}
		if w.size < 0 && (l.size < 0 || l.size > 5000) {
			t.Errorf("line %d: size %d, want at most the 5000 bytes sent", i, l.size)
		}
	}

	// Rotation: rename, SIGHUP, and the next line is in a new file.
	rotated := xferlog + ".1"
	if err := os.Rename(xferlog, rotated); err != nil {
		t.Fatal(err)
	}
	s.reload(t)
	s.waitLog(t, "configuration reloaded", 1, 10*time.Second)
	c.Stor("after.bin", []byte("after rotation"))
	got := waitXferlog(t, xferlog, 1)
	if got[0].file != "/after.bin" || got[0].size != int64(len("after rotation")) || got[0].direction != "i" {
		t.Fatalf("first line after the rotation: %+v", got[0])
	}
	if old := readXferlog(t, rotated); len(old) != 3 {
		t.Fatalf("the rotated file has %d lines, want the 3 from before", len(old))
	}
	c.Quit()

	// curl, a client of its own: an upload and a download, one line each.
	if !testing.Short() {
		curl := testenv.NeedTool(t, "curl", "curl")
		work := t.TempDir()
		local := ftptest.WriteFile(t, work, "curl up.bin", up)
		url := "ftp://" + addr + "/curl%20up.bin"
		args := []string{"--ssl-reqd", "-k", "-sS", "--max-time", "25", "-u", "alice:" + password("alice")}
		cmd := ftptest.Cmd{Dir: work, Timeout: commandTimeout}
		cmd.MustRun(t, curl, append(args, "-T", local, url)...)
		cmd.MustRun(t, curl, append(args, "-o", filepath.Join(work, "back.bin"), url)...)
		got := waitXferlog(t, xferlog, 3)
		for i, dir := range []string{"i", "o"} {
			l := got[1+i]
			if l.file != "/curl_up.bin" || l.size != int64(len(up)) || l.direction != dir || l.status != "c" || l.user != "alice" {
				t.Errorf("curl's transfer %d: %+v, want /curl_up.bin, %d bytes, direction %s, complete, alice", i, l, len(up), dir)
			}
		}
	}
	s.terminate(t)
}

// TestXferlogCheckAndStart: a log.xferlog in a missing directory is
// refused by `ftpsd check` and at start, naming the key; check creates
// nothing.
func TestXferlogCheckAndStart(t *testing.T) {
	f := newFixture(t, 2)
	bad := filepath.Join(f.dir, "missing", "xferlog")
	f.write(strings.Replace(f.config("", "", "alice"), "[log]\n", "[log]\nxferlog = \""+bad+"\"\n", 1))
	for _, cmd := range []string{"check", "serve"} {
		r := runFtpsd(t, "", cmd, "-config", f.path)
		if r.code == 0 || !strings.Contains(r.stderr, "log.xferlog") {
			t.Errorf("ftpsd %s with xferlog in a missing directory: %v", cmd, r)
		}
	}
	good := filepath.Join(f.dir, "xferlog")
	f.write(strings.Replace(f.config("", "", "alice"), "[log]\n", "[log]\nxferlog = \""+good+"\"\n", 1))
	if r := runFtpsd(t, "", "check", "-config", f.path); r.code != 0 {
		t.Fatalf("check: %v", r)
	}
	if _, err := os.Stat(good); err == nil {
		t.Fatal("check created the xferlog file")
	}
}

// TestXferlogBehindProxy: behind the PROXY protocol the line names the
// client the balancer's header named, not the balancer.
func TestXferlogBehindProxy(t *testing.T) {
	f := newFixture(t, 2)
	xferlog := filepath.Join(f.dir, "xferlog")
	text := f.config(fmt.Sprintf("proxy_protocol = true\ntrusted_proxies = [\"%s/32\"]\n", ftptest.BalancerAddr), "", "alice")
	f.write(strings.Replace(text, "[log]\n", "[log]\nxferlog = \""+xferlog+"\"\n", 1))
	s, addr := f.start()
	client := netip.MustParseAddr("127.0.0.13") // on loopback: the data connection comes from it
	c := ftptest.Dialer{Proxy: ftptest.BalancerAddr, Local: client}.MustLogin(t, addr, "alice", password("alice"))
	c.Stor("p.bin", []byte("via the balancer"))
	c.Quit()
	if l := waitXferlog(t, xferlog, 1)[0]; l.remote != client.String() {
		t.Fatalf("remote-host %q, want the header's client %s (the balancer is %s)", l.remote, client, ftptest.BalancerAddr)
	}
	s.terminate(t)
}
