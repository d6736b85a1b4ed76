package driver_test

import (
	"ftpsd/internal/testenv"
	"strings"
	"testing"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// internalTexts are pieces of error chains that a reply must never carry:
// the lib's wrappers, the system calls of os.Root, the hidden upload.
var internalTexts = []string{"driver error", "calling", "network error", "file access error",
	"openat", "statat", "mkdirat", "unlinkat", "renameat", ".ftpsd-upload-"}

// mustBeShort fails unless r names no internal error chain and no host
// path under root ("" for none).
func mustBeShort(t *testing.T, what string, r ftptest.Reply, root string) {
	t.Helper()
	for _, s := range internalTexts {
		if strings.Contains(r.Msg, s) {
			t.Errorf("%s: %v carries %q of an internal error chain", what, r, s)
		}
	}
	if root != "" && strings.Contains(r.Msg, root) {
		t.Errorf("%s: %v shows the host path %s", what, r, root)
	}
}

// TestE2EErrorRepliesAreShort: a failed request is answered with the
// user's path and a short reason, on every backend; the lib's error chain
// ("driver error: calling GetHandle: openat ...") stays in the log.
func TestE2EErrorRepliesAreShort(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			ts := startBackendUnlessShort(t, backend)
			root := ""
			if ts.S3 == nil {
				root = ts.Root
			}
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			c.Do(257, "MKD sub")
			c.Do(257, "MKD full")
			c.Stor("keep.bin", []byte("kept"))
			c.Stor("full/f", []byte("in full"))
			for _, tc := range []struct{ cmd, want string }{
				{"RETR missing.txt", "550 /missing.txt: No such file or directory"},
				{"RETR sub", "550 /sub: Is a directory"},
				{"STOR nodir/x.bin", "550 /nodir/x.bin: No such file or directory"},
				{"LIST missing", "450 /missing: No such file or directory"},
				{"CWD missing", "550 /missing: No such file or directory"},
				{"DELE sub", "550 /sub: Is a directory"},
				{"RMD keep.bin", "550 /keep.bin: Not a directory"},
				{"RMD full", "550 /full: Directory not empty"},
				{"MKD full", "550 /full: File exists"},
				{"RNFR missing", "550 /missing: No such file or directory"},
				{"SIZE missing", "550 /missing: No such file or directory"},
			} {
				data := c.DialData(c.EPSV())
				r := c.Cmd("%s", tc.cmd)
				_ = data.Close()
				if r.Code == 150 {
					t.Fatalf("%s: answered 150", tc.cmd)
				}
				if r.String() != tc.want {
					t.Errorf("%s: %q, want %q", tc.cmd, r, tc.want)
				}
				mustBeShort(t, tc.cmd, r, root)
			}
			if n := ts.countLogs("request refused", map[string]any{"path": "/missing.txt"}); n != 1 {
				t.Errorf("%d log lines for RETR missing.txt, want 1 that keeps the error chain", n)
			}
			c.Quit()
		})
	}
}

// TestE2EStorOntoDirectory: STOR (and APPE) of a name that is a directory
// is refused with 550 before the lib opens the transfer (no 150, no byte
// read), and the directory stays as it was.
func TestE2EStorOntoDirectory(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			ts := startBackendUnlessShort(t, backend)
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			c.Do(257, "MKD sub")
			inner := []byte("inside the directory")
			c.Stor("sub/inner.txt", inner)
			for _, cmd := range []string{"STOR sub", "APPE sub", "STOR /sub/", "STOR ."} {
				data := c.DialData(c.EPSV())
				// The client sends its data at once: nothing of it may be read.
				if _, err := data.Write(ftptest.RandomData(t, 1000)); err != nil {
					t.Fatal(err)
				}
				r := c.Cmd("%s", cmd)
				_ = data.Close()
				if r.Code == 150 {
					t.Errorf("%s onto a directory: answered 150 (the lib opened the transfer); then %v", cmd, c.Reply())
					continue
				}
				if r.Code != 550 {
					t.Errorf("%s onto a directory: %v, want 550", cmd, r)
				}
				if want := "550 /sub: Is a directory"; cmd == "STOR sub" && r.String() != want {
					t.Errorf("%s: %q, want %q", cmd, r, want)
				}
				mustBeShort(t, cmd, r, ts.Root)
			}
			if n := ts.countLogs("transfer", map[string]any{"direction": "upload"}); n != 1 {
				t.Errorf("%d upload log lines, want 1 (sub/inner.txt): an upload onto the directory was opened", n)
			}
			ts.MustHaveFile(t, "sub/inner.txt", inner)
			ts.MustNoPartialUploads(t)
			c.Quit()
		})
	}
}

// startBackendUnlessShort is startServerOn(backend), skipped under -short
// for backend "s3", which starts MinIO.
func startBackendUnlessShort(t *testing.T, backend config.Backend) *testServer {
	t.Helper()
	if backend == config.BackendS3 {
		testenv.FullTier(t, "MinIO, for backend s3")
	}
	return startServerOn(t, backend, nil)
}
