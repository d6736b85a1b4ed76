package driver_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
)

// TestE2EListingLinesAsReleased: on the os backend, the lines of LIST,
// MLSD, NLST and STAT of a directory of odd entries (spaces, UTF-8, a name
// of 255 bytes, names that look like format verbs, symbolic links, a fifo,
// a socket, set-id and sticky modes, a sparse file over 4 GiB, modification
// times years old, recent and in the future) are exactly the lines the
// release of the lib formats with fmt (its format strings are copied
// here), from the entries' lstat.
func TestE2EListingLinesAsReleased(t *testing.T) {
	ts := startServer(t, nil)
	dir := filepath.Join(ts.AliceDir(), "odd")
	makeOddTree(t, dir)
	connectedAt := time.Now().UTC()
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The release's fileStat and writeMLSxEntry.
		layout := "Jan _2 15:04"
		if connectedAt.Sub(fi.ModTime()) > time.Hour*24*30*6 {
			layout = "Jan _2  2006"
		}
		list := fmt.Sprintf("%s 1 %s %s %12d %s %s", fi.Mode(), "ftp", "ftp", fi.Size(), fi.ModTime().Format(layout), fi.Name())
		listType := "file"
		if fi.IsDir() {
			listType = "dir"
		}
		want["LIST"] = append(want["LIST"], list)
		want["STAT"] = append(want["STAT"], " "+list) // the control channel drops the lib's stray "%s"
		want["MLSD"] = append(want["MLSD"], fmt.Sprintf("Type=%s;Size=%d;Modify=%s; %s", listType, fi.Size(), fi.ModTime().UTC().Format("20060102150405"), fi.Name()))
		want["NLST"] = append(want["NLST"], path.Join("odd", fi.Name()))
	}
	for _, cmd := range []string{"LIST", "MLSD", "NLST", "STAT"} {
		var got []string
		if cmd == "STAT" {
			r := c.Cmd("STAT odd")
			if r.Code != 213 && r.Code != 212 {
				t.Fatalf("STAT odd: %v", r)
			}
			lines := strings.Split(strings.ReplaceAll(r.Msg, "\r\n", "\n"), "\n")
			got = slices.DeleteFunc(lines[1:], func(l string) bool { return !strings.HasPrefix(l, " ") })
		} else {
			data, err := c.Open(cmd + " odd").Receive()
			if err != nil {
				t.Fatalf("%s odd: %v", cmd, err)
			}
			if !strings.HasSuffix(string(data), "\r\n") {
				t.Fatalf("%s odd: the listing does not end with CRLF: %q", cmd, data)
			}
			got = strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want[cmd]))
		if !slices.Equal(got, w) {
			t.Errorf("%s odd: lines differ from the release's formatting\n got: %q\nwant: %q", cmd, got, w)
		}
	}
	// MLST of one file and STAT of one file: the same lines on the
	// control connection.
	for _, e := range entries {
		if e.Name() != "plain.txt" && e.Name() != "with  two spaces .txt" {
			continue
		}
		i := slices.IndexFunc(want["NLST"], func(n string) bool { return n == path.Join("odd", e.Name()) })
		for cmd, line := range map[string]string{"MLST": " " + want["MLSD"][i], "STAT": want["STAT"][i]} {
			r := c.Cmd("%s odd/%s", cmd, e.Name())
			if lines := strings.Split(strings.ReplaceAll(r.Msg, "\r\n", "\n"), "\n"); !slices.Contains(lines, line) {
				t.Errorf("%s odd/%s: %v, want the line %q", cmd, e.Name(), r, line)
			}
		}
	}
	c.Quit()
}

// makeOddTree makes dir with entries of every kind a listing shows
// differently.
func makeOddTree(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	files := map[string]time.Time{
		"plain.txt":                       now.Add(-time.Hour),
		"with  two spaces .txt":           now.Add(-48 * time.Hour),
		" leading space":                  now,
		"ünïcødé 文件 ✓.txt":                now.Add(-400 * 24 * time.Hour),
		strings.Repeat("l", 251) + ".txt": now.Add(-time.Minute),
		"100% done %s %d %v":              time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC),
		"epoch":                           time.Unix(0, 0),
		"future":                          now.Add(72 * time.Hour),
		"old-year":                        time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		"setuid":                          now.Add(-10 * 24 * time.Hour),
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := filepath.Join(dir, "sparse 5 GiB")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 5<<30+7); err != nil {
		t.Fatal(err)
	}
	files["sparse 5 GiB"] = now.Add(-300 * 24 * time.Hour)
	if err := os.Chmod(filepath.Join(dir, "setuid"), 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"sub": 0o755, "sticky": 0o777 | os.ModeSticky, "setgid dir": 0o750 | os.ModeSetgid} {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		files[name] = now.Add(-5 * time.Hour)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	files["fifo"] = now.Add(-2 * time.Hour)
	if err := syscall.Mknod(filepath.Join(dir, "sock"), syscall.S_IFSOCK|0o755, 0); err != nil {
		t.Fatal(err)
	}
	for name, mtime := range files {
		if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// Symbolic links: to a file, to a directory, to nowhere; their own
	// mtime is when they were made.
	for name, target := range map[string]string{"link": "plain.txt", "dirlink": "sub", "dangling": "nowhere"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}
