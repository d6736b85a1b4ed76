package driver

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"ftpsd/config"
	"ftpsd/driver/s3fs"
	"ftpsd/internal/miniotest"
)

// TestStorageFeatures checks on every backend that what a home says it
// can do (features) is what it does: the driver refuses or allows by
// them, and the next features (quotas, hooks) will count on them.
func TestStorageFeatures(t *testing.T) {
	eachBackendHome(t, func(t *testing.T, name string, st backend, h home) {
		f := h.features()
		if name == "memory" != f.listWhole {
			t.Errorf("listWhole = %v on %s", f.listWhole, name)
		}
		checkResume(t, h, f.resume)
		checkDirRename(t, h, f.dirRename)
		checkAtomicUpload(t, h, f.atomicUpload)
	})
}

// writeFile stores data at name through the home's upload.
func writeFile(t *testing.T, h home, name, data string) {
	t.Helper()
	u, err := h.upload(name)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	if _, err := u.Write([]byte(data)); err != nil { // s3fs.Upload's WriteString is refused
		t.Fatalf("write %s: %v", name, err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// readFile returns the content of name.
func readFile(t *testing.T, h home, name string) string {
	t.Helper()
	b, err := afero.ReadFile(h, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// checkResume appends to a file: it must work when resume says so, and
// be refused as errNoAppend, leaving the file, when not.
func checkResume(t *testing.T, h home, resume bool) {
	t.Helper()
	writeFile(t, h, "/r", "stored")
	f, err := h.OpenFile("/r", os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = io.WriteString(f, "+more")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	switch got := readFile(t, h, "/r"); {
	case resume && (err != nil || got != "stored+more"):
		t.Errorf("resume: append: %v, file %q, want stored+more", err, got)
	case !resume && (!errors.Is(err, errNoAppend) || got != "stored"):
		t.Errorf("no resume: append: %v, file %q, want %v and the file as stored", err, got, errNoAppend)
	}
}

// checkDirRename renames a directory with a file in it: it must move
// when dirRename says so, and be refused as s3fs.ErrDirRename when not.
func checkDirRename(t *testing.T, h home, dirRename bool) {
	t.Helper()
	if err := h.Mkdir("/d", 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, h, "/d/f", "in d")
	err := h.Rename("/d", "/e")
	switch {
	case dirRename && err != nil:
		t.Errorf("dirRename: rename: %v", err)
	case dirRename && readFile(t, h, "/e/f") != "in d":
		t.Errorf("dirRename: /e/f is not what /d/f was")
	case !dirRename && !errors.Is(err, s3fs.ErrDirRename):
		t.Errorf("no dirRename: rename: %v, want %v", err, s3fs.ErrDirRename)
	case !dirRename && readFile(t, h, "/d/f") != "in d":
		t.Errorf("no dirRename: /d/f changed")
	}
}

// checkAtomicUpload looks at the home while an upload over a stored file
// is open: the target is the stored copy on every backend; a hidden
// partial file is listed beside it unless atomicUpload says the store
// keeps the upload out of the home. After Close the target is the upload.
func checkAtomicUpload(t *testing.T, h home, atomic bool) {
	t.Helper()
	writeFile(t, h, "/a", "old")
	u, err := h.upload("/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, h, "/a"); got != "old" {
		t.Errorf("during the upload, /a is %q, want the stored copy", got)
	}
	names, err := afero.ReadDir(h, "/")
	if err != nil {
		t.Fatal(err)
	}
	hidden := slices.ContainsFunc(names, func(fi os.FileInfo) bool { return strings.HasPrefix(fi.Name(), uploadPrefix) })
	if hidden == atomic {
		t.Errorf("atomicUpload = %v, but a hidden partial upload is listed: %v", atomic, hidden)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, h, "/a"); got != "new" {
		t.Errorf("after the upload, /a is %q, want new", got)
	}
}

// testBackends returns, by name, the storage config of each backend under
// test (s3 is skipped with -short).
// eachBackendHome runs f, as a subtest per backend, with the storage and
// the open home of a user "u" (closed when f returns).
func eachBackendHome(t *testing.T, f func(t *testing.T, name string, st backend, h home)) {
	backends := testBackends()
	for _, name := range []string{"os", "memory", "s3"} {
		t.Run(name, func(t *testing.T) {
			st, err := newStorage(backends[name](t), []config.User{{Name: "u", Home: "u"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := st.open("u")
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			f(t, name, st, h)
		})
	}
}

func testBackends() map[string]func(t *testing.T) config.Storage {
	return map[string]func(t *testing.T) config.Storage{
		"os":     func(t *testing.T) config.Storage { return config.Storage{Backend: config.BackendOS, Root: t.TempDir()} },
		"memory": func(*testing.T) config.Storage { return config.Storage{Backend: config.BackendMemory} },
		"s3": func(t *testing.T) config.Storage {
			if testing.Short() {
				t.Skip("-short: backend s3 needs a MinIO server")
			}
			m := miniotest.New(t)
			st := config.Default().Storage
			ep, err := config.ParseEndpoint(m.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			st.Backend, st.Root, st.Endpoint = config.BackendS3, "", ep
			st.Bucket, st.Prefix, st.PathStyle = miniotest.Bucket, "ftp", true
			st.CredentialsFile = m.CredentialsFile()
			st.Timeout = config.Duration(5 * time.Second)
			return st
		},
	}
}

// TestCheckHome: on every backend checkHome refuses a home exactly where
// makeHome fails (os and s3 refuse a file in the way; afero's MemMapFs
// makes a directory over it), and accepts one makeHome would create,
// creating nothing.
func TestCheckHome(t *testing.T) {
	eachBackendHome(t, func(t *testing.T, name string, st backend, h home) {
		writeFile(t, h, "/f", "a file")
		for _, dir := range []string{"u/f", "u/f/below"} {
			checkErr := st.checkHome(dir)
			makeErr := st.makeHome(dir)
			if (checkErr == nil) != (makeErr == nil) {
				t.Errorf("checkHome(%q) = %v, but makeHome: %v", dir, checkErr, makeErr)
			}
			if name != "memory" && checkErr == nil {
				t.Errorf("checkHome(%q) = nil; a file is in the way", dir)
			}
		}
		for _, dir := range []string{"u", "u/new/deeper", "other"} {
			if err := st.checkHome(dir); err != nil {
				t.Errorf("checkHome(%q): %v", dir, err)
			}
		}
		if _, err := h.Stat("/new"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("checkHome created u/new (stat: %v)", err)
		}
	})
}

// TestStorePath: where a name of a home is on each store, as the events
// name it: an absolute path on disk even when storage.root is relative,
// the object key under storage.prefix, the path in memory; ".." stops at
// the home.
func TestStorePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("root", 0o750); err != nil {
		t.Fatal(err)
	}
	s3 := config.Storage{
		Backend: config.BackendS3, Endpoint: mustEndpoint(t, "http://127.0.0.1:1"), Bucket: "b", Prefix: "ftp",
		AccessKey: "k", SecretKey: "s", PathStyle: true, PartSize: config.BytesOf(5 << 20),
	}
	for _, tc := range []struct {
		cfg  config.Storage
		want string
	}{
		{config.Storage{Backend: config.BackendOS, Root: "root"}, filepath.Join(dir, "root", "alice", "in", "a.csv")},
		{config.Storage{Backend: config.BackendMemory}, "/alice/in/a.csv"},
		{s3, "ftp/alice/in/a.csv"},
	} {
		b, err := newBackend(tc.cfg, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if tc.cfg.Backend != config.BackendS3 { // a bucket needs no directory
			if err := b.makeHome("alice"); err != nil {
				t.Fatal(err)
			}
		}
		h, err := b.open("alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"/in/a.csv", "/../in/./a.csv"} {
			if got := h.storePath(name); got != tc.want {
				t.Errorf("%s: storePath(%q) = %q, want %q", tc.cfg.Backend, name, got, tc.want)
			}
		}
		_ = h.close()
	}
}

func mustEndpoint(t *testing.T, s string) config.Endpoint {
	t.Helper()
	ep, err := config.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}
