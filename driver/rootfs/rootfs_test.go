package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"ftpsd/internal/ftptest"
)

const secret = "SECRET-OUTSIDE"

// env is a temp layout: <base>/root is the Fs root, <base>/outside.txt and
// <base>/outdir/outside.txt live outside it.
type env struct {
	fs      *Fs
	base    string
	rootDir string
	outFile string
	outDir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{
		base:    base,
		rootDir: filepath.Join(base, "root"),
		outFile: filepath.Join(base, "outside.txt"),
		outDir:  filepath.Join(base, "outdir"),
	}
	mustMkdir(t, e.rootDir)
	ftptest.WriteFile(t, base, "outside.txt", []byte(secret))
	ftptest.WriteFile(t, e.outDir, "outside.txt", []byte(secret))
	fs, err := New(e.rootDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	e.fs = fs
	return e
}

// links creates symlinks inside the root that point outside it.
func (e *env) links(t *testing.T) {
	t.Helper()
	mustSymlink(t, e.outFile, filepath.Join(e.rootDir, "abslink"))
	mustSymlink(t, "../outside.txt", filepath.Join(e.rootDir, "rellink"))
	mustSymlink(t, e.outDir, filepath.Join(e.rootDir, "dirlink"))
	mustSymlink(t, "../outdir", filepath.Join(e.rootDir, "reldirlink"))
}

// checkOutside fails the test if the outside files were modified.
func (e *env) checkOutside(t *testing.T) {
	t.Helper()
	for _, p := range []string{e.outFile, filepath.Join(e.outDir, "outside.txt")} {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != secret {
			t.Errorf("outside file %s changed: %q, %v", p, b, err)
		}
	}
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fs afero.Fs, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func writeFile(t *testing.T, fs afero.Fs, name, data string) {
	t.Helper()
	f, err := fs.Create(name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

func TestNewMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := New(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("New(%q) = %v, want wrapped not-exist error naming dir", dir, err)
	}
}

func TestRel(t *testing.T) {
	tests := map[string]string{
		"":                  ".",
		"/":                 ".",
		".":                 ".",
		"..":                ".",
		"/../..":            ".",
		"a":                 "a",
		"/a/b/":             "a/b",
		"/a/../b":           "b",
		"/../../etc/passwd": "etc/passwd",
		"../x":              "x",
		"a//b/./c":          "a/b/c",
	}
	for in, want := range tests {
		if got := rel(in); got != want {
			t.Errorf("rel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestName(t *testing.T) {
	e := newEnv(t)
	if !strings.Contains(e.fs.Name(), e.rootDir) {
		t.Errorf("Name() = %q", e.fs.Name())
	}
}

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	fs := e.fs
	writeFile(t, fs, "/a.txt", "hello")
	if got := readAll(t, fs, "/a.txt"); got != "hello" {
		t.Fatalf("read back %q", got)
	}
	fi, err := fs.Stat("/a.txt")
	if err != nil || fi.Size() != 5 || fi.Name() != "a.txt" || fi.IsDir() {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if err := fs.MkdirAll("/d/e/f", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.Mkdir("/d/g", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.Mkdir("/d/g", 0o755); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Mkdir: %v", err)
	}
	if err := fs.Rename("/a.txt", "/d/b.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat("/a.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old name after rename: %v", err)
	}
	if got := readAll(t, fs, "d/b.txt"); got != "hello" {
		t.Fatalf("renamed content %q", got)
	}
	if got := listDir(t, fs, "/d"); !slices.Equal(got, []string{"b.txt", "e", "g"}) {
		t.Fatalf("Readdir(/d) = %v", got)
	}
	if err := fs.Remove("/d/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove("/d"); err == nil {
		t.Fatal("Remove of non-empty dir succeeded")
	}
	if err := fs.RemoveAll("/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat("/d"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after RemoveAll: %v", err)
	}
	if got := listDir(t, fs, "/"); len(got) != 0 {
		t.Fatalf("root not empty: %v", got)
	}
}

func listDir(t *testing.T, fs afero.Fs, name string) []string {
	t.Helper()
	d, err := fs.Open(name)
	if err != nil {
		t.Fatalf("open dir %s: %v", name, err)
	}
	defer d.Close()
	infos, err := d.Readdir(-1)
	if err != nil {
		t.Fatalf("readdir %s: %v", name, err)
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	slices.Sort(names)
	return names
}

func TestOpenFileAppendAndPerm(t *testing.T) {
	fs := newEnv(t).fs
	for _, chunk := range []string{"ab", "cd"} {
		// ModeDir etc. are outside 0o777; os.Root would reject them unmasked.
		f, err := fs.OpenFile("/log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, os.ModePerm|os.ModeSetgid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	if got := readAll(t, fs, "/log"); got != "abcd" {
		t.Fatalf("append: %q", got)
	}
	if err := fs.Mkdir("/dir", os.ModeDir|0o755); err != nil {
		t.Fatalf("Mkdir with ModeDir: %v", err)
	}
	if err := fs.MkdirAll("/dir/x/y", os.ModeDir|0o755); err != nil {
		t.Fatalf("MkdirAll with ModeDir: %v", err)
	}
}

func TestChmodChtimesChownLstat(t *testing.T) {
	e := newEnv(t)
	fs := e.fs
	writeFile(t, fs, "/f", "x")
	if err := fs.Chmod("/f", 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := fs.Chtimes("/f", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := fs.Stat("/f")
	if err != nil || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mtime) {
		t.Fatalf("after chmod/chtimes: %v %v", fi, err)
	}
	if err := fs.Chown("/f", os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "f", filepath.Join(e.rootDir, "inlink"))
	fi, ok, err := fs.LstatIfPossible("/inlink")
	if err != nil || !ok || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("Lstat: %v %v %v", fi, ok, err)
	}
	if got := readAll(t, fs, "/inlink"); got != "x" {
		t.Fatalf("relative in-root symlink: %q", got)
	}
}

func TestRootItselfIsProtected(t *testing.T) {
	e := newEnv(t)
	writeFile(t, e.fs, "/keep", "k")
	for _, name := range []string{"/", "/..", "../..", ""} {
		if err := e.fs.RemoveAll(name); err == nil {
			t.Errorf("RemoveAll(%q) succeeded", name)
		}
		if err := e.fs.Remove(name); err == nil {
			t.Errorf("Remove(%q) succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(e.rootDir, "keep")); err != nil {
		t.Fatalf("root content lost: %v", err)
	}
}

func TestEscapesCannotRead(t *testing.T) {
	e := newEnv(t)
	e.links(t)
	names := []string{
		"../outside.txt",
		"/../../outside.txt",
		"/../outdir/outside.txt",
		e.outFile, // absolute host path maps inside the root
		"/abslink",
		"/rellink",
		"/dirlink/outside.txt",
		"/reldirlink/outside.txt",
		"/dirlink",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if f, err := e.fs.Open(name); err == nil {
				b, _ := io.ReadAll(f)
				_ = f.Close()
				t.Fatalf("Open succeeded, read %q", b)
			}
			if fi, err := e.fs.Stat(name); err == nil {
				t.Fatalf("Stat succeeded: %v size %d", fi.Name(), fi.Size())
			}
		})
	}
}

// TestEscapeIsPermissionError: a name that leads out of the root fails
// with a permission error that names the caller's path, so that a reply
// can say "Permission denied" for it.
func TestEscapeIsPermissionError(t *testing.T) {
	e := newEnv(t)
	e.links(t)
	for _, name := range []string{"/abslink", "/dirlink/outside.txt", "/reldirlink/outside.txt"} {
		_, err := e.fs.Open(name)
		var pe *os.PathError
		if !errors.Is(err, os.ErrPermission) || !errors.As(err, &pe) || pe.Path != name {
			t.Errorf("Open(%q): %v, want a permission error of %s", name, err, name)
		}
	}
}

func TestDotDotMapsInsideRoot(t *testing.T) {
	e := newEnv(t)
	ftptest.WriteFile(t, e.rootDir, "outside.txt", []byte("inside"))
	for _, name := range []string{"/../../outside.txt", "../outside.txt", "/a/../../outside.txt"} {
		if got := readAll(t, e.fs, name); got != "inside" {
			t.Errorf("Open(%q) read %q, want the in-root file", name, got)
		}
	}
}

func TestEscapesCannotWrite(t *testing.T) {
	e := newEnv(t)
	e.links(t)
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	tests := []struct {
		name string
		op   func(fs *Fs) error
	}{
		{"OpenFile abslink", func(fs *Fs) error { return openClose(fs.OpenFile("/abslink", flags, 0o644)) }},
		{"OpenFile rellink", func(fs *Fs) error { return openClose(fs.OpenFile("rellink", flags, 0o644)) }},
		{"Create dirlink/outside.txt", func(fs *Fs) error { return openClose(fs.Create("/dirlink/outside.txt")) }},
		{"Create dirlink/new", func(fs *Fs) error { return openClose(fs.Create("/dirlink/new")) }},
		{"Mkdir dirlink/new", func(fs *Fs) error { return fs.Mkdir("/dirlink/newdir", 0o755) }},
		{"MkdirAll reldirlink/a/b", func(fs *Fs) error { return fs.MkdirAll("/reldirlink/a/b", 0o755) }},
		{"Chmod abslink", func(fs *Fs) error { return fs.Chmod("/abslink", 0o777) }},
		{"Chtimes rellink", func(fs *Fs) error { return fs.Chtimes("/rellink", time.Unix(0, 0), time.Unix(0, 0)) }},
		{"Remove dirlink/outside.txt", func(fs *Fs) error { return fs.Remove("/dirlink/outside.txt") }},
		{"RemoveAll dirlink/outside.txt", func(fs *Fs) error { return fs.RemoveAll("/dirlink/outside.txt") }},
		{"Rename out of dirlink", func(fs *Fs) error { return fs.Rename("/dirlink/outside.txt", "/stolen") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(e.fs); err == nil {
				t.Fatal("operation through escaping symlink succeeded")
			}
			e.checkOutside(t)
			assertOutsideUnchanged(t, e)
		})
	}
}

// assertOutsideUnchanged checks nothing new appeared in the outside dirs
// and the outside file keeps its mode and mtime-independent content.
func assertOutsideUnchanged(t *testing.T, e *env) {
	t.Helper()
	for dir, want := range map[string][]string{
		e.base:   {"outdir", "outside.txt", "root"},
		e.outDir: {"outside.txt"},
	} {
		if got := ftptest.DirNames(t, dir); !slices.Equal(got, want) {
			t.Errorf("host dir %s = %v, want %v", dir, got, want)
		}
	}
	if fi, err := os.Stat(e.outFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("outside file mode: %v %v", fi, err)
	}
}

func openClose(f afero.File, err error) error {
	if err != nil {
		return err
	}
	return f.Close()
}

// TestEscapingNamesStayInside checks operations whose names try to climb out
// are remapped inside the root instead.
func TestEscapingNamesStayInside(t *testing.T) {
	e := newEnv(t)
	fs := e.fs
	writeFile(t, fs, "/inside.txt", "in")
	if err := fs.Rename("/inside.txt", "/../../outside-new"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Mkdir("/../../escdir", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.MkdirAll("../a/../../b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fs, "/../../../created.txt", "c")
	if got := ftptest.DirNames(t, e.rootDir); !slices.Equal(got, []string{"b", "created.txt", "escdir", "outside-new"}) {
		t.Fatalf("root contents = %v", got)
	}
	if err := fs.Remove("/../outside.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Remove(/../outside.txt) = %v, want not-exist", err)
	}
	e.checkOutside(t)
	assertOutsideUnchanged(t, e)
}

// TestReplaceOrRemoveLinkOnly checks that renaming onto, or removing, an
// escaping symlink acts on the link itself, never on its target.
func TestReplaceOrRemoveLinkOnly(t *testing.T) {
	e := newEnv(t)
	e.links(t)
	writeFile(t, e.fs, "/inside.txt", "in")
	if err := e.fs.Rename("/inside.txt", "/abslink"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, e.fs, "/abslink"); got != "in" {
		t.Fatalf("after rename onto link: %q", got)
	}
	if err := e.fs.RemoveAll("/dirlink"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Remove("/rellink"); err != nil {
		t.Fatal(err)
	}
	e.checkOutside(t)
	assertOutsideUnchanged(t, e)
}

func TestConcurrent(t *testing.T) {
	fs := newEnv(t).fs
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() { churn(t, fs, g) })
	}
	wg.Wait()
	if got := listDir(t, fs, "/shared"); len(got) != 0 {
		t.Fatalf("leftover files: %v", got)
	}
}

func churn(t *testing.T, fs *Fs, g int) {
	if err := fs.MkdirAll("/shared", 0o755); err != nil {
		t.Error(err)
		return
	}
	for i := range 25 {
		name := fmt.Sprintf("/shared/g%d-%d", g, i)
		data := strings.Repeat("x", g+i)
		f, err := fs.Create(name)
		if err != nil {
			t.Error(err)
			return
		}
		_, err = f.WriteString(data)
		_ = f.Close()
		fi, serr := fs.Stat(name)
		if err != nil || serr != nil || fi.Size() != int64(len(data)) {
			t.Errorf("%s: write %v stat %v", name, err, serr)
		}
		if err := fs.Remove(name); err != nil {
			t.Error(err)
		}
	}
}
