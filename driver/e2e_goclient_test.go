package driver_test

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"

	"ftpsd/internal/testenv"
)

// syncBuffer collects output written from another goroutine.
type syncBuffer = testenv.SyncBuffer

// dialGo connects the jlaffaye client with explicit FTPS.
func dialGo(t *testing.T, addr string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(dialTimeout), ftp.DialWithExplicitTLS(clientTLS())}, opts...)
	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

func TestE2EGoClientLogin(t *testing.T) {
	ts := startServer(t, nil)
	c := dialGo(t, ts.Addr)
	if err := c.Login(userName, userPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("NOOP after login: %v", err)
	}
	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok", "user": userName}); len(got) != 1 {
		t.Fatalf("want one successful login log line for %s, got %d", userName, len(got))
	}
}

func TestE2EGoClientBadPassword(t *testing.T) {
	ts := startServer(t, nil)
	c := dialGo(t, ts.Addr)
	err := c.Login(userName, "not-the-password")
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), "530") {
		t.Fatalf("login error %q does not carry 530", err)
	}
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != 530 {
		t.Fatalf("login error %v: want a 530 reply", err)
	}
	failed := logsWith(ts.Logs, "login failed", map[string]any{"user": userName, "reason": "bad password"})
	if len(failed) != 1 {
		t.Fatalf("want one %q log line with reason \"bad password\", got %d: %v",
			"login failed", len(failed), ts.Logs.FilterMessage("login failed").All())
	}
	if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok"}); len(got) != 0 {
		t.Fatalf("a failed login logged a successful one: %v", got)
	}

	// An unknown user gets the same reply, with its own reason in the log.
	c2 := dialGo(t, ts.Addr)
	if err := c2.Login("mallory", "x"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("login of an unknown user: %v, want a 530 reply", err)
	}
	if got := logsWith(ts.Logs, "login failed", map[string]any{"user": "mallory", "reason": "unknown user"}); len(got) != 1 {
		t.Fatalf("want one login failed line for the unknown user, got %d", len(got))
	}
}

func TestE2EGoClientStorRetr(t *testing.T) {
	ts := startServer(t, nil)
	c := dialGo(t, ts.Addr)
	if err := c.Login(userName, userPass); err != nil {
		t.Fatal(err)
	}
	data := randomData(t, 1<<20+123)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	assertDiskFile(t, filepath.Join(ts.AliceDir(), "big.bin"), data)

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
	assertSameData(t, "RETR big.bin", got, data)

	size, err := c.FileSize("big.bin")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("SIZE big.bin = %d, %v; want %d", size, err, len(data))
	}
	if left := uploadTemps(t, ts.AliceDir()); len(left) != 0 {
		t.Fatalf("partial uploads left after a complete STOR: %v", left)
	}
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
	writeFile(t, ts.AliceDir(), "a.txt", []byte("alpha"))
	writeFile(t, ts.AliceDir(), "b.txt", []byte("bravo!"))
	writeFile(t, ts.AliceDir(), ".ftpsd-upload-0123456789ab-c.txt", []byte("partial"))

	for _, mode := range []string{"EPSV", "PASV"} {
		t.Run(mode, func(t *testing.T) {
			debug := &syncBuffer{}
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
