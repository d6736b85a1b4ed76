package driver_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// The TLS policy end to end: tls.require = "all" (the default) and
// "control", and what PROT P does to the bytes on the data connection.

// TestE2EProtPEncryptsData shows that with PROT P the data connection
// carries TLS records only: the server answers the client's ClientHello
// with a handshake record, the marker never appears in the raw bytes, and
// the decrypted stream is the file (and the listing).
func TestE2EProtPEncryptsData(t *testing.T) {
	ts, content := serveMarker(t, nil)
	secretName := "secret-name-5b1e.txt"
	ftptest.WriteFile(t, ts.AliceDir(), secretName, []byte("x"))

	for _, implicit := range []bool{false, true} {
		name := "explicit"
		addr := ts.Addr
		if implicit {
			name, addr = "implicit", ts.Implicit
		}
		t.Run(name, func(t *testing.T) {
			c := ftptest.Dialer{Implicit: implicit}.MustLogin(t, addr, userName, userPass)

			raw, plain, _ := recordedTransfer(t, c, "RETR marker.txt")
			assertTLSRecords(t, "RETR", raw, plainMarker)
			ftptest.MustSameData(t, "decrypted RETR", plain, content)

			raw, plain, _ = recordedTransfer(t, c, "LIST")
			assertTLSRecords(t, "LIST", raw, secretName)
			if !bytes.Contains(plain, []byte(secretName)) || !bytes.Contains(plain, []byte("marker.txt")) {
				t.Fatalf("decrypted LIST lacks the files:\n%s", plain)
			}

			// An upload over PROT P lands on disk intact.
			up := append([]byte(plainMarker), ftptest.RandomData(t, 100_000)...)
			c.Stor("up-"+name+".bin", up)
			ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "up-"+name+".bin"), up)
			c.Quit()
		})
	}
}

// TestE2ERequireControl runs with tls.require = "control": USER on a clear
// control channel is refused, but once the control channel is protected a
// transfer in clear (PROT C, or no PROT at all) works.
func TestE2ERequireControl(t *testing.T) {
	ts, content := serveMarker(t, func(cfg *config.Config) { cfg.TLS.Require = config.RequireControl })

	t.Run("USER before AUTH TLS", func(t *testing.T) {
		c := ftptest.MustDial(t, ts.Addr)
		if r := c.Cmd("USER %s", userName); r.Code != 530 || !strings.Contains(r.Msg, "TLS") {
			t.Fatalf("USER on a clear control channel: got %d %q, want 530 mentioning TLS", r.Code, r.Msg)
		}
		// The lib drops the session after refusing USER.
		c.ExpectClosed()
		refused := logsWith(ts.Logs, "login refused", map[string]any{"user": userName, "reason": "USER before AUTH TLS"})
		if len(refused) != 1 {
			t.Fatalf("want one %q log line, got %v", "login refused", ts.Logs.FilterMessage("login refused").All())
		}
		if got := logsWith(ts.Logs, "login", map[string]any{"result": "ok"}); len(got) != 0 {
			t.Fatalf("refused USER led to a login: %v", got)
		}
	})

	t.Run("PROT C transfer", func(t *testing.T) {
		c := ftptest.MustDial(t, ts.Addr)
		c.AuthTLS()
		c.Login(userName, userPass)
		c.Do(200, "PBSZ 0")
		c.Do(200, "PROT C")

		got := clearTransfer(t, c, "RETR marker.txt")
		ftptest.MustSameData(t, "RETR in clear", got, content)
		if !bytes.HasPrefix(got, []byte(plainMarker)) {
			t.Fatal("clear data connection does not start with the file's bytes")
		}

		up := ftptest.RandomData(t, 200_000)
		x := c.OpenAt(c.PASV(), "STOR clear.bin")
		if err := x.Send(up); err != nil {
			t.Fatalf("STOR in clear: %v", err)
		}
		ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "clear.bin"), up)
		c.Quit()
	})

	t.Run("no PROT", func(t *testing.T) {
		c := ftptest.MustDial(t, ts.Addr)
		c.AuthTLS()
		c.Login(userName, userPass)
		if got := clearTransfer(t, c, "NLST"); !bytes.Contains(got, []byte("marker.txt")) {
			t.Fatalf("clear NLST lacks marker.txt: %q", got)
		}
		c.Quit()
	})
}

// clearTransfer runs command over a clear data connection after PASV and
// returns what it delivered.
func clearTransfer(t *testing.T, c *ftptest.MustClient, command string) []byte {
	t.Helper()
	got, err := c.OpenAt(c.PASV(), command).Receive()
	if err != nil {
		t.Fatalf("%s in clear: %v", command, err)
	}
	return got
}

// TestE2ERequireAllRefusesClearData runs with the default tls.require =
// "all": without PROT P, PASV and EPSV are refused (521), and so is a
// transfer command after PROT C on a listener set up under PROT P; no byte
// of the file or listing reaches the client, and USER before AUTH TLS is
// refused too.
func TestE2ERequireAllRefusesClearData(t *testing.T) {
	ts, _ := serveMarker(t, nil)
	if ts.Cfg.TLS.Require != config.RequireAll {
		t.Fatalf("default tls.require is %q, want %q", ts.Cfg.TLS.Require, config.RequireAll)
	}
	old := []byte("old content of keep.bin")
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)

	t.Run("USER before AUTH TLS", func(t *testing.T) {
		c := ftptest.MustDial(t, ts.Addr)
		if r := c.Cmd("USER %s", userName); r.Code != 530 || !strings.Contains(r.Msg, "TLS") {
			t.Fatalf("USER on a clear control channel: got %d %q, want 530 mentioning TLS", r.Code, r.Msg)
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
			c := ftptest.MustDial(t, ts.Addr)
			c.AuthTLS()
			c.Login(userName, userPass)
			c.Do(200, "PBSZ 0")
			if tc.prot != "" {
				c.Do(200, "PROT %s", tc.prot)
			}
			// The data connection is refused where it is set up ...
			for _, setup := range []string{"PASV", "EPSV"} {
				if r := c.Cmd("%s", setup); r.Code != 521 || !strings.Contains(r.Msg, "TLS") {
					t.Fatalf("%s without PROT P: got %d %q, want 521 mentioning TLS", setup, r.Code, r.Msg)
				}
			}
			// ... and a transfer on a listener set up under PROT P is
			// refused once PROT C is back.
			c.Do(200, "PROT P")
			data := c.DialData(c.PASV())
			c.Do(200, "PROT C")
			r := c.Cmd("%s", tc.command)
			if r.Code != 521 { // RFC 4217: data connection cannot be opened with this PROT setting
				t.Fatalf("%s without PROT P: got %d %q, want 521", tc.command, r.Code, r.Msg)
			}
			if !strings.Contains(r.Msg, "TLS") {
				t.Fatalf("%s refusal %d %q does not mention TLS", tc.command, r.Code, r.Msg)
			}
			t.Logf("%s refused: %v", tc.command, r)
			if strings.HasPrefix(tc.command, "STOR") {
				// The upload never started: a clear upload cannot reach the disk.
				_, _ = data.Write([]byte("clear upload that must be refused"))
			}

			// The session is still usable: PROT P then the same command works.
			c.ProtP()
			if !strings.HasPrefix(tc.command, "STOR") {
				_, plain, _ := recordedTransfer(t, c, tc.command)
				if len(plain) == 0 {
					t.Fatalf("%s over PROT P returned nothing", tc.command)
				}
			}
			c.Quit()

			got, _ := readAllBounded(data, 3*time.Second)
			if len(got) != 0 {
				t.Fatalf("%d bytes arrived on the clear data connection: %q", len(got), got[:min(len(got), 64)])
			}
			ftptest.MustSameFile(t, keep, old)
			ftptest.MustEventually(t, 5*time.Second, "no partial upload", func() bool { return len(ftptest.PartialUploads(t, ts.AliceDir())) == 0 })
		})
	}
}
