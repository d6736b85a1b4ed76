package driver_test

import (
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ftplibResult is the JSON printed by testdata/ftplib_client.py.
type ftplibResult struct {
	Welcome    string   `json:"welcome"`
	Auth       string   `json:"auth"`
	ControlTLS string   `json:"control_tls_version"`
	Login      string   `json:"login"`
	LoginError string   `json:"login_error"`
	PBSZProt   string   `json:"pbsz_prot"`
	Stor       string   `json:"stor"`
	Retr       string   `json:"retr"`
	RetrSHA256 string   `json:"retr_sha256"`
	RetrBytes  int      `json:"retr_bytes"`
	NLST       []string `json:"nlst"`
	Quit       string   `json:"quit"`
}

func runFtplib(t *testing.T, ts *testServer, user, pass, upload, remote, download string) ftplibResult {
	t.Helper()
	py := needTool(t, "python3", "python3")
	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := runTool(t, t.TempDir(), py, script, "--host", host, "--port", port,
		"--user", user, "--password", pass, "--upload", upload, "--remote", remote, "--download", download)
	var res ftplibResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("ftplib_client.py output is not JSON: %v\n%s", err, stdout)
	}
	return res
}

func TestE2EPythonFtplib(t *testing.T) {
	ts := startServer(t, nil)
	writeFile(t, ts.AliceDir(), "existing.txt", []byte("hello"))
	work := t.TempDir()
	data := randomData(t, 1<<20+17)
	local := writeFile(t, work, "up.bin", data)
	back := filepath.Join(work, "back.bin")

	res := runFtplib(t, ts, userName, userPass, local, "py.bin", back)
	for _, c := range []struct{ what, reply, code string }{
		{"welcome", res.Welcome, "220"},
		{"AUTH TLS", res.Auth, "234"},
		{"login", res.Login, "230"},
		{"PROT P", res.PBSZProt, "200"},
		{"STOR", res.Stor, "226"},
		{"RETR", res.Retr, "226"},
		{"QUIT", res.Quit, "221"},
	} {
		if !strings.HasPrefix(c.reply, c.code) {
			t.Errorf("%s: reply %q, want %s (result %+v)", c.what, c.reply, c.code, res)
		}
	}
	if !strings.HasPrefix(res.ControlTLS, "TLSv1.") {
		t.Errorf("control channel TLS version %q", res.ControlTLS)
	}
	if res.RetrSHA256 != sha256Hex(data) || res.RetrBytes != len(data) {
		t.Fatalf("RETR: python got %d bytes sha256 %s, want %d bytes %s",
			res.RetrBytes, res.RetrSHA256, len(data), sha256Hex(data))
	}
	assertDiskFile(t, back, data)
	assertDiskFile(t, filepath.Join(ts.AliceDir(), "py.bin"), data)
	if !slices.Contains(res.NLST, "py.bin") || !slices.Contains(res.NLST, "existing.txt") {
		t.Fatalf("NLST: %v, want py.bin and existing.txt", res.NLST)
	}
	for _, n := range res.NLST {
		if strings.HasPrefix(n, ".ftpsd-upload-") {
			t.Fatalf("NLST shows a partial upload: %v", res.NLST)
		}
	}
}

func TestE2EPythonFtplibBadPassword(t *testing.T) {
	ts := startServer(t, nil)
	work := t.TempDir()
	local := writeFile(t, work, "up.bin", []byte("never stored"))
	res := runFtplib(t, ts, userName, "wrong", local, "nope.bin", filepath.Join(work, "back.bin"))
	if !strings.HasPrefix(res.LoginError, "530") {
		t.Fatalf("login with a wrong password: %+v, want a 530 error", res)
	}
	if got := logsWith(ts.Logs, "login failed", map[string]any{"user": userName, "reason": "bad password"}); len(got) != 1 {
		t.Fatalf("want one login failed log line, got %d", len(got))
	}
}
