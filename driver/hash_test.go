package driver_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// HASH (draft-bryan-ftpext-hash) with [server] hash_command: off by
// default; on, the digest of the stored bytes for SHA-256, SHA-512 and
// SHA-1 in the draft's one-line reply, relative names from the current
// directory, 550 for a directory or a missing file, 504 for the algorithms
// ftpsd does not offer, a read-only account included, commands pipelined
// behind a HASH answered in order.

func TestHashDisabledByDefault(t *testing.T) {
	ts := startServer(t, nil)
	ts.PutFile(t, "f.bin", []byte("data"))
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	if feat := c.Do(211, "FEAT"); strings.Contains(feat.Msg, "HASH") {
		t.Fatalf("FEAT offers HASH while hash_command is off:\n%s", feat.Msg)
	}
	c.Do(502, "HASH /f.bin")
	c.Do(500, "OPTS HASH SHA-256") // the protocol engine's reply to an option it does not know
	c.Do(502, "XSHA256 /f.bin")
}

func TestHash(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) { testHash(t, backend) })
	}
}

func testHash(t *testing.T, backend config.Backend) {
	ts := startServerOn(t, backend, func(c *config.Config) { c.Server.HashCommand = true })
	data := ftptest.RandomData(t, 700*1024+5)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Do(257, "MKD /sub")
	c.Stor("/sub/data.bin", data)
	want256 := sha256.Sum256(data)
	want512 := sha512.Sum512(data)
	want1 := sha1.Sum(data)
	digest := func(algo string, sum []byte, name string) string {
		return fmt.Sprintf("%s 0-%d %s %s", algo, len(data), hex.EncodeToString(sum), name)
	}

	feat := c.Do(211, "FEAT").Msg
	if !strings.Contains(feat, "\n HASH SHA-1;SHA-256*;SHA-512\n") {
		t.Errorf("FEAT's HASH line: want \" HASH SHA-1;SHA-256*;SHA-512\" in\n%s", feat)
	}
	for _, gone := range []string{" XCRC\n", " MD5\n", " XMD5\n", "CRC32", "MD5;"} {
		if strings.Contains(feat, gone) {
			t.Errorf("FEAT offers %q, which ftpsd refuses:\n%s", strings.TrimSpace(gone), feat)
		}
	}
	if r := c.Do(213, "HASH /sub/data.bin"); r.Msg != digest("SHA-256", want256[:], "/sub/data.bin") {
		t.Fatalf("HASH: %q, want the one line %q", r.Msg, digest("SHA-256", want256[:], "/sub/data.bin"))
	}
	c.Do(250, "CWD /sub")
	if r := c.Do(213, "HASH data.bin"); r.Msg != digest("SHA-256", want256[:], "data.bin") {
		t.Fatalf("HASH of a name relative to /sub: %q", r.Msg)
	}
	c.Do(200, "OPTS HASH SHA-512")
	if r := c.Do(200, "OPTS HASH"); r.Msg != "SHA-512" {
		t.Fatalf("OPTS HASH after choosing SHA-512: %q", r.Msg)
	}
	if r := c.Do(213, "HASH data.bin"); r.Msg != digest("SHA-512", want512[:], "data.bin") {
		t.Fatalf("HASH under SHA-512: %q", r.Msg)
	}
	c.Do(200, "OPTS HASH SHA-1")
	if r := c.Do(213, "HASH data.bin"); r.Msg != digest("SHA-1", want1[:], "data.bin") {
		t.Fatalf("HASH under SHA-1: %q", r.Msg)
	}
	if r := c.Do(250, "XSHA256 data.bin"); r.Msg != hex.EncodeToString(want256[:]) {
		t.Fatalf("XSHA256: %q, want the one line of the digest", r.Msg)
	}
	c.Do(200, "OPTS HASH SHA-256")
	// A name with a space: quoted, as the protocol engine splits at spaces.
	c.Stor("/sub/a b.bin", data)
	if r := c.Do(213, `HASH "a b.bin"`); r.Msg != digest("SHA-256", want256[:], "a b.bin") {
		t.Fatalf("HASH of a quoted name: %q", r.Msg)
	}
	c.Do(550, "HASH a b.bin") // "a": no such file

	// Refusals.
	c.Do(550, "HASH /sub")                // a directory
	c.Do(550, "HASH /missing.bin")        // no such file
	c.Do(550, "HASH missing.bin")         // relative, no such file
	c.Do(504, "XMD5 data.bin")            // an algorithm ftpsd does not offer
	c.Do(504, "XCRC data.bin")            //
	c.Do(550, "HASH ../../../etc/passwd") // confined to the home: /etc/passwd there is missing

	// Two HASH commands and a NOOP in one write: answered in order, each
	// HASH after the one before it ended (the session runs one at a time).
	c.Write([]byte("HASH data.bin\r\nHASH /sub/data.bin\r\nNOOP\r\n"))
	for _, want := range []string{digest("SHA-256", want256[:], "data.bin"), digest("SHA-256", want256[:], "/sub/data.bin")} {
		if r := c.Expect(213, "pipelined HASH"); r.Msg != want {
			t.Fatalf("pipelined HASH: %q, want %q", r.Msg, want)
		}
	}
	c.Expect(200, "NOOP after the pipelined HASHes")

	// A read-only account may HASH.
	if backend == config.BackendOS {
		ftptest.WriteFile(t, ts.ReaderDir(), "r.bin", data)
		r := ftptest.MustLogin(t, ts.Addr, readerName, readerPass)
		if got := r.Do(213, "HASH r.bin"); got.Msg != digest("SHA-256", want256[:], "r.bin") {
			t.Fatalf("read-only HASH: %q", got.Msg)
		}
		r.Quit()
	}
	c.Quit()
}

// TestHashMatchesSha256sum: the HASH of an uploaded file is what
// coreutils' sha256sum prints for the stored file.
func TestHashMatchesSha256sum(t *testing.T) {
	tool := testenv.NeedTool(t, "sha256sum", "coreutils")
	ts := startServer(t, func(c *config.Config) { c.Server.HashCommand = true })
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Stor("up.bin", ftptest.RandomData(t, 1<<20+17))
	out, err := exec.Command(tool, filepath.Join(ts.AliceDir(), "up.bin")).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(out))[0]
	if r := c.Do(213, "HASH up.bin"); !strings.Contains(r.Msg, " "+want+" ") {
		t.Fatalf("HASH: %q, sha256sum: %s", r.Msg, want)
	}
	c.Quit()
}
