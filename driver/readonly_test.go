package driver_test

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The read-only user: every write refused with 550, the home unchanged,
// reading allowed.

// treeSnapshot maps every path under dir to its type and content hash.
func treeSnapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			snap[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		snap[rel] = "file " + ftptest.SHA256Hex(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestE2EReadOnlyUser checks that every write of the read-only account is
// refused with 550 and leaves its home unchanged, while RETR works.
func TestE2EReadOnlyUser(t *testing.T) {
	ts := startServer(t, nil)
	shared := ftptest.RandomData(t, 200_000)
	ftptest.WriteFile(t, ts.ReaderDir(), "shared.bin", shared)
	ftptest.WriteFile(t, ts.ReaderDir(), "sub/inner.txt", []byte("inner"))
	before := treeSnapshot(t, ts.ReaderDir())

	c := ftptest.MustLogin(t, ts.Addr, readerName, readerPass)

	// Uploads: STOR of a new file, STOR over an existing file, APPE. The
	// client connects the data channel first, as a real client would.
	for _, cmd := range []string{"STOR new.bin", "STOR shared.bin", "APPE shared.bin"} {
		data := c.DialData(c.PASV())
		r := c.Cmd("%s", cmd)
		if r.Code != 550 {
			t.Fatalf("%s as the read-only user: got %d %q, want 550", cmd, r.Code, r.Msg)
		}
		if !strings.Contains(r.Msg, "read-only") {
			t.Errorf("%s refusal %q does not say why", cmd, r.Msg)
		}
		_ = data.Close()
	}

	for _, step := range []struct {
		cmd  string
		want []int
	}{
		{"DELE shared.bin", []int{550}},
		{"DELE sub/inner.txt", []int{550}},
		{"MKD newdir", []int{550}},
		{"RMD sub", []int{550}},
		{"RNFR shared.bin", []int{350, 550}},  // the lib accepts RNFR of an existing file...
		{"RNTO renamed.bin", []int{550, 503}}, // ...and RNTO must then fail
		{"RNFR sub/inner.txt", []int{350, 550}},
		{"RNTO inner-moved.txt", []int{550, 503}},
	} {
		r := c.Cmd("%s", step.cmd)
		t.Logf("%s -> %v", step.cmd, r)
		if !slices.Contains(step.want, r.Code) {
			t.Fatalf("%s as the read-only user: got %d %q, want one of %v", step.cmd, r.Code, r.Msg, step.want)
		}
		if strings.HasPrefix(step.cmd, "RNTO") && r.Code != 550 {
			t.Fatalf("%s: got %d %q, want 550 (RNFR was accepted before)", step.cmd, r.Code, r.Msg)
		}
	}

	// SITE CHMOD is disabled altogether.
	if r := c.Cmd("SITE CHMOD 777 shared.bin"); r.Code/100 != 5 {
		t.Fatalf("SITE CHMOD: got %d %q, want 5xx", r.Code, r.Msg)
	}

	// Reading works.
	ftptest.MustSameData(t, "RETR shared.bin as reader", c.Retr("shared.bin"), shared)
	c.Quit()

	after := treeSnapshot(t, ts.ReaderDir())
	if !maps.Equal(before, after) {
		t.Fatalf("read-only home changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestE2ELftpReadOnly checks that lftp's upload as the read-only user
// fails and leaves the disk alone, while its download works.
func TestE2ELftpReadOnly(t *testing.T) {
	lftp := testenv.NeedTool(t, "lftp", "lftp")
	ts := startServer(t, nil)
	shared := ftptest.RandomData(t, 64*1024)
	ftptest.WriteFile(t, ts.ReaderDir(), "shared.bin", shared)
	work := t.TempDir()
	local := ftptest.WriteFile(t, work, "local.bin", []byte("must not arrive"))
	got := filepath.Join(work, "got.bin")

	runTool(t, work, lftp, "-c", lftpScript(ts.Addr, readerName, readerPass, false, "get shared.bin -o "+got))
	ftptest.MustSameFile(t, got, shared)

	_, stderr, err := runToolErr(t, work, lftp, "-c", lftpScript(ts.Addr, readerName, readerPass, false, "put "+local+" -o new.bin"))
	if err == nil {
		t.Fatalf("lftp put as the read-only user succeeded:\n%s", stderr)
	}
	if !strings.Contains(stderr, "<--- 550") || !strings.Contains(stderr, "read-only") {
		t.Fatalf("lftp put as the read-only user: no 550 reply in the trace:\n%s", stderr)
	}
	entries, err := filepath.Glob(filepath.Join(ts.ReaderDir(), "*"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("read-only home changed: %v %v", entries, err)
	}
}
