package driver_test

import (
	"crypto/tls"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

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
		snap[rel] = "file " + sha256Hex(b)
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
	shared := randomData(t, 200_000)
	writeFile(t, ts.ReaderDir(), "shared.bin", shared)
	if err := os.Mkdir(filepath.Join(ts.ReaderDir(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ts.ReaderDir(), "sub"), "inner.txt", []byte("inner"))
	before := treeSnapshot(t, ts.ReaderDir())

	c := dialRaw(t, ts.Addr, false)
	c.authTLS()
	c.login(readerName, readerPass)
	c.protP()

	// Uploads: STOR of a new file, STOR over an existing file, APPE. The
	// client connects the data channel first, as a real client would.
	for _, cmd := range []string{"STOR new.bin", "STOR shared.bin", "APPE shared.bin"} {
		data := c.dialData(c.pasv())
		code, msg := c.cmd("%s", cmd)
		if code != 550 {
			t.Fatalf("%s as the read-only user: got %d %q, want 550", cmd, code, msg)
		}
		if !strings.Contains(msg, "read-only") {
			t.Errorf("%s refusal %q does not say why", cmd, msg)
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
		code, msg := c.cmd("%s", step.cmd)
		t.Logf("%s -> %d %s", step.cmd, code, msg)
		if !slices.Contains(step.want, code) {
			t.Fatalf("%s as the read-only user: got %d %q, want one of %v", step.cmd, code, msg, step.want)
		}
		if strings.HasPrefix(step.cmd, "RNTO") && code != 550 {
			t.Fatalf("%s: got %d %q, want 550 (RNFR was accepted before)", step.cmd, code, msg)
		}
	}

	// SITE CHMOD is disabled altogether.
	if code, msg := c.cmd("SITE CHMOD 777 shared.bin"); code/100 != 5 {
		t.Fatalf("SITE CHMOD: got %d %q, want 5xx", code, msg)
	}

	// Reading works.
	data := c.dialData(c.pasv())
	c.must(150, "RETR shared.bin")
	tc := tls.Client(data, c.tlsCfg)
	_ = tc.SetDeadline(time.Now().Add(e2eTimeout))
	got, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("RETR as the read-only user: %v", err)
	}
	c.expect(226, "RETR")
	assertSameData(t, "RETR shared.bin as reader", got, shared)
	c.quit()

	after := treeSnapshot(t, ts.ReaderDir())
	if !maps.Equal(before, after) {
		t.Fatalf("read-only home changed:\nbefore %v\nafter  %v", before, after)
	}
}
