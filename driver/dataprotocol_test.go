package driver_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
)

// The details of the data-channel commands: PROT's arguments (RFC 2228,
// RFC 4217), EPSV ALL (RFC 2428), PORT/EPRT to privileged ports, ABOR
// pipelined behind a transfer command, and CCC on implicit FTPS.

// TestE2EProtArguments: PROT P needs PBSZ first (503), S and E are levels
// TLS does not offer (536), anything else is no level (504), and the
// argument is case-insensitive: "PROT p" protects the transfer like "PROT
// P".
func TestE2EProtArguments(t *testing.T) {
	ts := startServer(t, nil)
	ftptest.WriteFile(t, ts.AliceDir(), "p.txt", []byte("lower-case p\n"))
	login := func(t *testing.T) *ftptest.MustClient {
		c := ftptest.MustDial(t, ts.Addr)
		c.AuthTLS()
		c.Login(userName, userPass)
		return c
	}

	t.Run("PROT P before PBSZ", func(t *testing.T) {
		c := login(t)
		if r := c.Cmd("PROT P"); r.Code != 503 || !strings.Contains(r.Msg, "PBSZ") {
			t.Fatalf("PROT P before PBSZ: got %v, want 503 naming PBSZ", r)
		}
		c.ProtP()
		c.Quit()
	})
	for _, tc := range []struct {
		level string
		code  int
	}{{"S", 536}, {"E", 536}, {"X", 504}, {"PP", 504}, {"", 504}} {
		t.Run("PROT "+tc.level, func(t *testing.T) {
			c := login(t)
			c.Do(200, "PBSZ 0")
			if r := c.Cmd("PROT %s", tc.level); r.Code != tc.code {
				t.Fatalf("PROT %q: got %v, want %d", tc.level, r, tc.code)
			}
			// The refused level changed nothing: PROT P still works.
			c.Do(200, "PROT P")
			if _, err := c.Client.Retr("p.txt"); err != nil {
				t.Fatal(err)
			}
			c.Quit()
		})
	}
	t.Run("PROT p", func(t *testing.T) {
		c := login(t)
		c.Do(200, "PBSZ 0")
		c.Do(200, "PROT p")
		got, err := c.Client.Retr("p.txt") // over TLS: the client's PROT p set it protected
		if err != nil {
			t.Fatalf("RETR after PROT p: %v", err)
		}
		ftptest.MustSameData(t, "RETR after PROT p", got, []byte("lower-case p\n"))
		c.Quit()
	})
}

// TestE2EEPSVAll: after EPSV ALL (RFC 2428) every data setup command but
// EPSV is refused, and EPSV goes on working.
func TestE2EEPSVAll(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Active.Enabled = true })
	ftptest.WriteFile(t, ts.AliceDir(), "all.txt", []byte("epsv all\n"))
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.Do(200, "EPSV ALL")
	l := activeListener(t, "127.0.0.1")
	for _, line := range append([]string{"PASV"}, activeCommands(l)...) {
		if r := c.Cmd("%s", line); r.Code != 503 || !strings.Contains(r.Msg, "EPSV ALL") {
			t.Errorf("%s after EPSV ALL: got %v, want 503 naming EPSV ALL", line, r)
		}
	}
	got, err := c.Client.Retr("all.txt")
	if err != nil {
		t.Fatalf("EPSV after EPSV ALL: %v", err)
	}
	ftptest.MustSameData(t, "RETR", got, []byte("epsv all\n"))
	c.Quit()
}

// TestE2EActivePrivilegedPorts: with active mode on, PORT and EPRT to a
// port below 1024 (or 0) of the client are refused with 504.
func TestE2EActivePrivilegedPorts(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Active.Enabled = true })
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	for _, port := range []int{0, 21, 80, 1023} {
		for _, line := range []string{
			fmt.Sprintf("PORT 127,0,0,1,%d,%d", port>>8, port&0xff),
			fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port),
		} {
			if r := c.Cmd("%s", line); r.Code != 504 && r.Code != 501 {
				t.Errorf("%s: got %v, want 504 (or 501)", line, r)
			} else if !strings.Contains(r.Msg, "1024") {
				t.Errorf("%s: reply %v does not say why (ports below 1024)", line, r)
			}
		}
	}
	l := activeListener(t, "127.0.0.1")
	c.Do(200, "%s", activeCommands(l)[0]) // an unprivileged port is fine
	c.Quit()
}

// TestE2EPipelinedAbort sends EPSV, STOR, ABOR and NOOP in one write: the
// STOR, aborted before its data connection opened, gets a reply of its
// own before ABOR's 226, and the session stays in step.
func TestE2EPipelinedAbort(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Passive.ConnectTimeout = config.Duration(2 * time.Second) })
	old := []byte("kept\n")
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	c := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	for i := range 3 {
		c.Write([]byte("EPSV\r\nSTOR keep.bin\r\nABOR\r\nNOOP\r\n"))
		var got []string
		for _, want := range []string{"229", "42x", "226", "200"} {
			r, err := c.Client.Reply()
			if err != nil {
				t.Fatalf("round %d: after %v, waiting for %s: %v", i, got, want, err)
			}
			got = append(got, r.String())
		}
		if !strings.HasPrefix(got[1], "426 ") && !strings.HasPrefix(got[1], "425 ") {
			t.Fatalf("round %d: replies %q, want the STOR's 426 (or 425) second", i, got)
		}
		if !strings.HasPrefix(got[2], "226 ") || !strings.HasPrefix(got[3], "200 ") {
			t.Fatalf("round %d: replies %q, want ABOR's 226, then NOOP's 200", i, got)
		}
	}
	c.Quit()
	ftptest.MustSameFile(t, keep, old)
}

// TestE2ECCCImplicit: CCC on implicit FTPS is refused (534) and the
// control channel stays TLS.
func TestE2ECCCImplicit(t *testing.T) {
	ts := startServer(t, nil)
	c := ftptest.Dialer{Implicit: true}.MustLogin(t, ts.Implicit, userName, userPass)
	if r := c.Cmd("CCC"); r.Code != 534 || !strings.Contains(strings.ToLower(r.Msg), "implicit") {
		t.Fatalf("CCC on implicit FTPS: got %v, want 534 naming implicit FTPS", r)
	}
	if _, ok := c.Client.TLSState(); !ok {
		t.Fatal("the client cleared its channel")
	}
	c.Do(257, "PWD") // still TLS: the server reads it
	c.Quit()
}

// TestE2EDataOnlyAtTheControlAddress: the lib listens for passive data on
// every interface; a connection that reaches another local address than
// the control connection's (127.0.0.2 here, the control connection is on
// 127.0.0.1) is closed, and the port goes on waiting for the client.
func TestE2EDataOnlyAtTheControlAddress(t *testing.T) {
	s := startServer(t, nil)
	content := []byte("only at the control connection's address\n")
	ftptest.WriteFile(t, s.AliceDir(), "f.txt", content)
	c := ftptest.Dialer{Timeout: 5 * time.Second}.MustLogin(t, s.Addr, userName, userPass)
	c.ProtP()
	p := c.Pasv(false)
	// The lib accepts on the passive port once RETR comes: this connection
	// is first in line.
	elsewhere, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", p.Port), 2*time.Second)
	if err != nil {
		t.Fatalf("dial the passive port at another local address: %v", err)
	}
	defer elsewhere.Close()
	got, err := c.OpenAt(p.Addr, "RETR f.txt").Receive()
	if err != nil {
		t.Fatal(err)
	}
	_ = elsewhere.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := elsewhere.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection to 127.0.0.2: read %d bytes, %v; want it closed", n, err)
	}
	ftptest.MustSameData(t, "RETR", got, content)
	if n := s.Logs.FilterMessage("data connection to another local address refused").Len(); n != 1 {
		t.Fatalf("%d log lines for the refused connection, want 1", n)
	}
}
