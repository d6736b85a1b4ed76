package driver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/internal/ftptest"
)

// TestE2ERemoveCommandsKeepToTheirKind: RMD removes directories only and
// DELE files only; the other kind is refused with 550 and stays.
func TestE2ERemoveCommandsKeepToTheirKind(t *testing.T) {
	ts, content := serveFile(t, nil, "f.txt", 100)
	dir := filepath.Join(ts.AliceDir(), "empty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if r := c.Cmd("RMD f.txt"); r.Code != 550 {
		t.Errorf("RMD of a file: %v, want 550", r)
	}
	if r := c.Cmd("DELE empty"); r.Code != 550 {
		t.Errorf("DELE of a directory: %v, want 550", r)
	}
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "f.txt"), content)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("the directory did not survive DELE: %v", err)
	}
	c.Do(250, "DELE f.txt")
	c.Do(250, "RMD empty")
	if got := ftptest.DirNames(t, ts.AliceDir()); len(got) != 0 {
		t.Fatalf("left after DELE and RMD: %v", got)
	}
	c.Quit()
}

// TestE2EStatDirectory: STAT of a directory lists one entry a line, each
// as LIST does, without the lib's stray "%s".
func TestE2EStatDirectory(t *testing.T) {
	ts, _ := serveFile(t, nil, "f.txt", 100)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	r := c.Do(212, "STAT /")
	lines := strings.Split(r.Msg, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], " -rw-r--r-- 1 ftp ftp ") || !strings.HasSuffix(lines[1], " f.txt") {
		t.Fatalf("STAT /: %q, want one line for f.txt starting \" -rw-r--r--\"", r.Msg)
	}
	c.Quit()
}
