package driver_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
)

// plainMarker is file content that must never cross the network in clear
// once PROT P is on.
const plainMarker = "FTPSD-PLAINTEXT-MARKER-7f3a9c"

func markerContent() []byte {
	return bytes.Repeat([]byte(plainMarker+"\n"), 2000)
}

// protectedData runs one data command (RETR, LIST...) over a PROT P data
// connection: it records the raw bytes the server sends and returns them
// with the decrypted stream.
func protectedData(t *testing.T, c *rawClient, command string) (raw, plain []byte) {
	t.Helper()
	data := c.dialData(c.pasv())
	rec := &recorder{Conn: data}
	c.must(150, "%s", command)
	tc := tls.Client(rec, c.tlsCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("%s: data TLS handshake: %v", command, err)
	}
	if st := tc.ConnectionState(); st.Version < tls.VersionTLS12 {
		t.Fatalf("%s: data channel negotiated %s", command, tls.VersionName(st.Version))
	}
	plain, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("%s: read protected data: %v", command, err)
	}
	c.expect(226, command)
	_ = tc.Close()
	return rec.bytes(), plain
}

// assertTLSRecords fails unless raw is a TLS stream that does not show
// secret in clear.
func assertTLSRecords(t *testing.T, what string, raw []byte, secret string) {
	t.Helper()
	if len(raw) < 5 || raw[0] != 0x16 || raw[1] != 0x03 {
		t.Fatalf("%s: server's first data bytes are not a TLS handshake record: % x", what, raw[:min(len(raw), 16)])
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("%s: %q crossed the data connection in clear", what, secret)
	}
}

// TestE2EProtPEncryptsData shows that with PROT P the data connection
// carries TLS records only: the server answers the client's ClientHello
// with a handshake record, the marker never appears in the raw bytes, and
// the decrypted stream is the file (and the listing).
func TestE2EProtPEncryptsData(t *testing.T) {
	ts := startServer(t, nil)
	content := markerContent()
	writeFile(t, ts.AliceDir(), "marker.txt", content)
	secretName := "secret-name-5b1e.txt"
	writeFile(t, ts.AliceDir(), secretName, []byte("x"))

	for _, implicit := range []bool{false, true} {
		name := "explicit"
		addr := ts.Addr
		if implicit {
			name, addr = "implicit", ts.Implicit
		}
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, addr, implicit)
			if !implicit {
				c.authTLS()
			}
			c.login(userName, userPass)
			c.protP()

			raw, plain := protectedData(t, c, "RETR marker.txt")
			assertTLSRecords(t, "RETR", raw, plainMarker)
			assertSameData(t, "decrypted RETR", plain, content)

			raw, plain = protectedData(t, c, "LIST")
			assertTLSRecords(t, "LIST", raw, secretName)
			if !bytes.Contains(plain, []byte(secretName)) || !bytes.Contains(plain, []byte("marker.txt")) {
				t.Fatalf("decrypted LIST lacks the files:\n%s", plain)
			}

			// An upload over PROT P lands on disk intact.
			up := append([]byte(plainMarker), randomData(t, 100_000)...)
			data := c.dialData(c.pasv())
			c.must(150, "STOR up-%s.bin", name)
			tc := tls.Client(data, c.tlsCfg)
			if _, err := tc.Write(up); err != nil {
				t.Fatalf("STOR write: %v", err)
			}
			if err := tc.Close(); err != nil {
				t.Fatalf("STOR close: %v", err)
			}
			c.expect(226, "STOR")
			assertDiskFile(t, filepath.Join(ts.AliceDir(), "up-"+name+".bin"), up)
			c.quit()
		})
	}
}

// TestE2ERequireControl runs with tls.require = "control": USER on a clear
// control channel is refused, but once the control channel is protected a
// transfer in clear (PROT C, or no PROT at all) works.
func TestE2ERequireControl(t *testing.T) {
	ts := startServer(t, func(cfg *config.Config) { cfg.TLS.Require = config.RequireControl })
	content := markerContent()
	writeFile(t, ts.AliceDir(), "marker.txt", content)

	t.Run("USER before AUTH TLS", func(t *testing.T) {
		c := dialRaw(t, ts.Addr, false)
		code, msg := c.cmd("USER %s", userName)
		if code != 530 || !strings.Contains(msg, "TLS") {
			t.Fatalf("USER on a clear control channel: got %d %q, want 530 mentioning TLS", code, msg)
		}
		// The lib drops the session after refusing USER.
		if _, _, err := c.replyErr(); err == nil {
			t.Fatal("the session is still open after the refused USER")
		}
		refused := logsWith(ts.Logs, "login refused", map[string]any{"user": userName, "reason": "USER before AUTH TLS"})
		if len(refused) != 1 {
			t.Fatalf("want one %q log line, got %v", "login refused", ts.Logs.FilterMessage("login refused").All())
		}
		if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok"}); len(got) != 0 {
			t.Fatalf("refused USER led to a login: %v", got)
		}
	})

	t.Run("PROT C transfer", func(t *testing.T) {
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		c.login(userName, userPass)
		c.must(200, "PBSZ 0")
		c.must(200, "PROT C")

		data := c.dialData(c.pasv())
		c.must(150, "RETR marker.txt")
		got, err := readAllBounded(data, 10*time.Second)
		if err != nil {
			t.Fatalf("read clear data: %v", err)
		}
		c.expect(226, "RETR")
		assertSameData(t, "RETR in clear", got, content)
		if !bytes.HasPrefix(got, []byte(plainMarker)) {
			t.Fatal("clear data connection does not start with the file's bytes")
		}

		up := randomData(t, 200_000)
		data = c.dialData(c.pasv())
		c.must(150, "STOR clear.bin")
		if _, err := data.Write(up); err != nil {
			t.Fatalf("STOR write: %v", err)
		}
		_ = data.Close()
		c.expect(226, "STOR")
		assertDiskFile(t, filepath.Join(ts.AliceDir(), "clear.bin"), up)
		c.quit()
	})

	t.Run("no PROT", func(t *testing.T) {
		c := dialRaw(t, ts.Addr, false)
		c.authTLS()
		c.login(userName, userPass)
		data := c.dialData(c.pasv())
		c.must(150, "NLST")
		got, err := readAllBounded(data, 10*time.Second)
		if err != nil {
			t.Fatalf("read clear listing: %v", err)
		}
		c.expect(226, "NLST")
		if !bytes.Contains(got, []byte("marker.txt")) {
			t.Fatalf("clear NLST lacks marker.txt: %q", got)
		}
		c.quit()
	})
}

// TestE2ERequireAllRefusesClearData runs with the default tls.require =
// "all": a data command without PROT P is refused and no byte of the file
// or listing reaches the client, and USER before AUTH TLS is refused too.
func TestE2ERequireAllRefusesClearData(t *testing.T) {
	ts := startServer(t, nil)
	if ts.Cfg.TLS.Require != config.RequireAll {
		t.Fatalf("default tls.require is %q, want %q", ts.Cfg.TLS.Require, config.RequireAll)
	}
	content := markerContent()
	writeFile(t, ts.AliceDir(), "marker.txt", content)
	old := []byte("old content of keep.bin")
	keep := writeFile(t, ts.AliceDir(), "keep.bin", old)

	t.Run("USER before AUTH TLS", func(t *testing.T) {
		c := dialRaw(t, ts.Addr, false)
		code, msg := c.cmd("USER %s", userName)
		if code != 530 || !strings.Contains(msg, "TLS") {
			t.Fatalf("USER on a clear control channel: got %d %q, want 530 mentioning TLS", code, msg)
		}
		if len(logsWith(ts.Logs, "login refused", map[string]any{"user": userName})) != 1 {
			t.Fatal("no login refused log line")
		}
	})

	cases := []struct {
		name    string
		prot    string // "" sends no PROT
		command string
	}{
		{"no PROT RETR", "", "RETR marker.txt"},
		{"PROT C RETR", "C", "RETR marker.txt"},
		{"PROT C LIST", "C", "LIST"},
		{"PROT C NLST", "C", "NLST"},
		{"PROT C STOR", "C", "STOR keep.bin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.Addr, false)
			c.authTLS()
			c.login(userName, userPass)
			if tc.prot != "" {
				c.must(200, "PBSZ 0")
				c.must(200, "PROT %s", tc.prot)
			}
			data := c.dialData(c.pasv())
			code, msg := c.cmd("%s", tc.command)
			if code != 521 { // RFC 4217: data connection cannot be opened with this PROT setting
				t.Fatalf("%s without PROT P: got %d %q, want 521", tc.command, code, msg)
			}
			if !strings.Contains(msg, "TLS") {
				t.Fatalf("%s refusal %d %q does not mention TLS", tc.command, code, msg)
			}
			t.Logf("%s refused: %d %s", tc.command, code, msg)
			if strings.HasPrefix(tc.command, "STOR") {
				// The upload never started: a clear upload cannot reach the disk.
				_, _ = data.Write([]byte("clear upload that must be refused"))
			}

			// The session is still usable: PROT P then the same command works.
			c.must(200, "PBSZ 0")
			c.must(200, "PROT P")
			if !strings.HasPrefix(tc.command, "STOR") {
				_, plain := protectedData(t, c, tc.command)
				if len(plain) == 0 {
					t.Fatalf("%s over PROT P returned nothing", tc.command)
				}
			}
			c.quit()

			got, _ := readAllBounded(data, 3*time.Second)
			if len(got) != 0 {
				t.Fatalf("%d bytes arrived on the clear data connection: %q", len(got), got[:min(len(got), 64)])
			}
			assertDiskFile(t, keep, old)
			if !eventually(5*time.Second, func() bool { return len(uploadTemps(t, ts.AliceDir())) == 0 }) {
				t.Fatalf("partial uploads left: %v", uploadTemps(t, ts.AliceDir()))
			}
		})
	}
}

// Compile-time check that recorder is a net.Conn.
var _ net.Conn = (*recorder)(nil)
