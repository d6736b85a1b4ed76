package driver_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// Under tls.require = "all" a data connection is protected and bound to
// its session whatever order the client sends PBSZ, PROT P and the command
// that sets up the data connection (PASV, EPSV, PORT, EPRT) in: ftpsd
// refuses a data setup before PROT P with 521, and PROT P before PBSZ with
// 503. The tests here run every order and check that the data either went
// through TLS that resumed the control connection's session, or that a
// step was refused and no data was sent.

// orderStep is one command of a data-protection order.
type orderStep string

const (
	stepPBSZ  orderStep = "PBSZ 0"
	stepPROT  orderStep = "PROT P"
	stepSetup orderStep = "setup" // PASV, EPSV, PORT or EPRT
)

// protectionOrders returns every order of the data setup command with any
// subset of PBSZ and PROT P.
func protectionOrders() [][]orderStep {
	var out [][]orderStep
	var permute func(prefix, rest []orderStep)
	permute = func(prefix, rest []orderStep) {
		if len(rest) == 0 {
			out = append(out, prefix)
			return
		}
		for i := range rest {
			next := append(append([]orderStep{}, rest[:i]...), rest[i+1:]...)
			permute(append(append([]orderStep{}, prefix...), rest[i]), next)
		}
	}
	for _, set := range [][]orderStep{
		{stepSetup}, {stepPBSZ, stepSetup}, {stepPROT, stepSetup}, {stepPBSZ, stepPROT, stepSetup},
	} {
		permute(nil, set)
	}
	return out
}

// protectedInOrder reports whether steps is PBSZ, then PROT P, then the
// setup: the one order that may carry data.
func protectedInOrder(steps []orderStep) bool {
	return len(steps) == 3 && steps[0] == stepPBSZ && steps[1] == stepPROT && steps[2] == stepSetup
}

func orderName(setup string, steps []orderStep, transfer string) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = strings.Fields(string(s))[0]
		if s == stepSetup {
			names[i] = setup
		}
	}
	return strings.Join(names, ",") + ">" + strings.Fields(transfer)[0]
}

// TestE2EDataProtectionOrder runs every order of PBSZ, PROT P and
// PASV/EPSV/PORT/EPRT before RETR, STOR and LIST under tls.require = "all".
// The four data setups run in parallel, each with its own PORT listener
// and its own file to STOR: a refused order waits 100 ms to see that the
// server does not connect, so one after the other they took 13 s.
func TestE2EDataProtectionOrder(t *testing.T) {
	testenv.FullTier(t, "6 s of data connections in every order")
	ts := startServer(t, func(c *config.Config) {
		c.Active.Enabled = true
		c.Passive.Wait = 0
	})
	content := []byte("protected content\n")
	ftptest.WriteFile(t, ts.AliceDir(), "order.txt", content)
	old := []byte("the stored copy\n")

	t.Run("setups", func(t *testing.T) {
		for _, setup := range []string{"PASV", "EPSV", "PORT", "EPRT"} {
			t.Run(setup, func(t *testing.T) {
				t.Parallel()
				name := "keep-" + setup + ".bin"
				keep := ftptest.WriteFile(t, ts.AliceDir(), name, old)
				active := activeListener(t, "127.0.0.1")
				for _, steps := range protectionOrders() {
					for _, transfer := range []string{"RETR order.txt", "STOR " + name, "LIST"} {
						t.Run(orderName(setup, steps, transfer), func(t *testing.T) {
							c := ftptest.Dialer{Timeout: 10 * time.Second, RequireResume: true}.MustDial(t, ts.Addr)
							defer c.Close()
							c.AuthTLS()
							c.Login(userName, userPass)
							refused, data := runOrder(t, c, setup, steps, active)
							if data != nil {
								defer data.Close()
							}
							if protectedInOrder(steps) != (refused == "") {
								t.Errorf("steps refused: %q; want a refusal unless PBSZ, PROT P, %s in that order", refused, setup)
							}
							if refused != "" {
								assertNoTransfer(t, c, transfer, data, active)
								ftptest.MustSameFile(t, keep, old)
								return
							}
							assertProtectedTransfer(t, c, transfer, data, active, content, old)
						})
					}
				}
			})
		}
	})
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "order.txt"), content)
}

// runOrder sends steps and reports which were refused (their replies), and
// for a passive setup that succeeded, the dialled data connection.
func runOrder(t *testing.T, c *ftptest.MustClient, setup string, steps []orderStep, active *net.TCPListener) (string, net.Conn) {
	t.Helper()
	var refused []string
	var data net.Conn
	for _, s := range steps {
		line := string(s)
		if s == stepSetup {
			line = setupCommand(setup, active)
		}
		r := c.Cmd("%s", line)
		switch {
		case r.Code == 521 || r.Code == 503:
			refused = append(refused, fmt.Sprintf("%s: %v", line, r))
		case r.Code != 200 && r.Code != 227 && r.Code != 229:
			t.Fatalf("%s: got %v, want 200/227/229, or a refusal 521/503", line, r)
		}
		if s == stepSetup && (r.Code == 227 || r.Code == 229) {
			data = c.DialData(announced(t, c, r))
		}
	}
	return strings.Join(refused, "; "), data
}

// setupCommand returns the line of a data setup command; PORT and EPRT
// name the test's active listener.
func setupCommand(setup string, active *net.TCPListener) string {
	switch setup {
	case "PORT":
		return activeCommands(active)[0]
	case "EPRT":
		return activeCommands(active)[1]
	}
	return setup
}

// announced returns the data address of a 227 or 229 reply.
func announced(t *testing.T, c *ftptest.MustClient, r ftptest.Reply) string {
	t.Helper()
	if r.Code == 227 {
		ap, err := ftptest.ParsePASV(r.Msg)
		if err != nil {
			t.Fatal(err)
		}
		return ap.String()
	}
	var port int
	if _, err := fmt.Sscanf(r.Msg[strings.Index(r.Msg, "(|||"):], "(|||%d|)", &port); err != nil {
		t.Fatalf("229 reply %q: %v", r.Msg, err)
	}
	host, _, _ := net.SplitHostPort(c.Raw().RemoteAddr().String())
	return net.JoinHostPort(host, fmt.Sprint(port))
}

// assertNoTransfer sends transfer after a refused step: it must not start
// (no 150), and no byte may cross a data connection in clear.
func assertNoTransfer(t *testing.T, c *ftptest.MustClient, transfer string, data net.Conn, active *net.TCPListener) {
	t.Helper()
	r := c.Cmd("%s", transfer)
	if r.Code == 150 || r.Code == 125 {
		t.Fatalf("%s after a refused step: got %v, want a refusal", transfer, r)
	}
	if conn, err := acceptWithin(active, 100*time.Millisecond); err == nil {
		_ = conn.Close()
		t.Fatalf("%s after a refused step: the server connected to the PORT address", transfer)
	}
	if data != nil {
		if got, _ := readAllBounded(data, 200*time.Millisecond); len(got) != 0 {
			t.Fatalf("%s: %d bytes arrived on the data connection", transfer, len(got))
		}
	}
	c.Do(200, "NOOP") // the session is in step
}

// assertProtectedTransfer runs transfer on the data connection set up
// (data, or the server's connection to active) and wants TLS that resumed
// the control connection's session.
// A STOR uploads stored, the content the file already has.
func assertProtectedTransfer(t *testing.T, c *ftptest.MustClient, transfer string, data net.Conn, active *net.TCPListener, content, stored []byte) {
	t.Helper()
	c.Do(150, "%s", transfer)
	if data == nil {
		conn, err := acceptWithin(active, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: the server did not connect to the PORT address: %v", transfer, err)
		}
		data = conn
		defer conn.Close()
	}
	x, err := c.Client.Attach(data, transfer) // RequireResume: TLS that resumed, i.e. bound
	if err != nil {
		t.Fatalf("%s: %v", transfer, err)
	}
	switch verb := strings.Fields(transfer)[0]; verb {
	case "STOR":
		if err := x.Send(stored); err != nil {
			t.Fatal(err)
		}
	default:
		got, err := x.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if verb == "RETR" && !bytes.Equal(got, content) {
			t.Fatalf("RETR: got %q, want %q", got, content)
		}
		if verb == "LIST" && !bytes.Contains(got, []byte("order.txt")) {
			t.Fatalf("LIST lacks order.txt: %q", got)
		}
	}
}

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
		// Over TLS: the client's PROT p set it protected.
		ftptest.MustSameData(t, "RETR after PROT p", c.Retr("p.txt"), []byte("lower-case p\n"))
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
	ftptest.MustSameData(t, "RETR over EPSV after EPSV ALL", c.Retr("all.txt"), []byte("epsv all\n"))
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

// Deadlines on passive data connections (passive.connect_timeout,
// server.transfer_stall_timeout) and the cap on the ports of one address
// (passive.max_ports_per_ip): a client that never connects, never
// completes its handshake, never reads or never sends loses its port, and
// one address cannot take the whole range.

// deadlineServer runs a server with one passive port, short deadlines and
// passive.wait = 0, so that a held port shows as a 425 at once.
func deadlineServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, 1))
		c.Passive.Wait = 0
		c.Passive.ConnectTimeout = config.Duration(time.Second)
		c.Server.TransferStallTimeout = config.Duration(time.Second)
	})
}

// mustGetPort fails unless a new session's PASV gets the port of the
// one-port range within 10s (the deadline of its holder released it), and
// returns that session.
func mustGetPort(t *testing.T, ts *testServer) *ftptest.MustClient {
	t.Helper()
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	var r ftptest.Passive
	if !ftptest.Eventually(10*time.Second, func() bool {
		r = c.Pasv(false)
		return r.Code == 227
	}) {
		t.Fatalf("the passive port was not released: a new session's PASV still gets %v", r.Reply)
	}
	if !ts.Cfg.Passive.Ports.Contains(r.Port) {
		t.Fatalf("PASV announced %d, outside %s", r.Port, ts.Cfg.Passive.Ports)
	}
	return c
}

// expectReply reads a reply within the client's timeout and wants code and
// text in it.
func expectReply(t *testing.T, c *ftptest.MustClient, code int, text string) {
	t.Helper()
	r := c.Reply()
	if r.Code != code || !strings.Contains(r.Msg, text) {
		t.Fatalf("got %v, want %d naming %s", r, code, text)
	}
}

// TestE2EConnectTimeoutIdleListener: a session that sends PASV and then
// only NOOP loses the port after passive.connect_timeout; its later RETR
// gets 425 that says why.
func TestE2EConnectTimeoutIdleListener(t *testing.T) {
	t.Parallel()
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("f\n"))
	a := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	a.PASV()
	a.Do(200, "NOOP")
	b := mustGetPort(t, ts)
	a.Send("RETR f.txt")
	expectReply(t, a, 425, "passive.connect_timeout")
	b.Quit()
	assertRangeFree(t, ts)             // b's session lets go of its port after its 221
	got, err := a.Client.Retr("f.txt") // a new EPSV works again
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR", got, []byte("f\n"))
	a.Quit()
}

// TestE2EConnectTimeoutHandshake: a data connection that never starts its
// TLS handshake is closed after passive.connect_timeout; the transfer
// fails with 426 and the port is released.
func TestE2EConnectTimeoutHandshake(t *testing.T) {
	t.Parallel()
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "f.txt", []byte("f\n"))
	a := ftptest.Dialer{Timeout: 10 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV()) // TCP only: no ClientHello
	defer data.Close()
	a.Do(150, "RETR f.txt")
	expectReply(t, a, 426, "passive.connect_timeout")
	if got, _ := readAllBounded(data, 5*time.Second); len(got) != 0 {
		t.Fatalf("%d bytes on a data connection without TLS", len(got))
	}
	mustGetPort(t, ts).Quit()
	a.Quit()
}

// TestE2EStallDownload: a client that stops reading a download loses it
// after server.transfer_stall_timeout (426) and the port is released.
func TestE2EStallDownload(t *testing.T) {
	t.Parallel()
	ts := deadlineServer(t)
	ftptest.WriteFile(t, ts.AliceDir(), "big.bin", ftptest.RandomData(t, 24<<20)) // more than the socket buffers hold
	a := ftptest.Dialer{Timeout: 15 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV())
	a.Do(150, "RETR big.bin")
	x, err := a.Client.Attach(data, "RETR") // the handshake, then no read
	if err != nil {
		t.Fatal(err)
	}
	defer x.Raw.Close()
	expectReply(t, a, 426, "server.transfer_stall_timeout")
	mustGetPort(t, ts).Quit()
	a.Quit()
}

// TestE2EStallUpload: an upload that stops sending fails after
// server.transfer_stall_timeout (426), the stored file keeps its content
// and the port is released.
func TestE2EStallUpload(t *testing.T) {
	t.Parallel()
	ts := deadlineServer(t)
	old := ftptest.RandomData(t, 4096)
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	a := ftptest.Dialer{Timeout: 15 * time.Second}.MustLogin(t, ts.Addr, userName, userPass)
	data := a.DialData(a.PASV())
	a.Do(150, "STOR keep.bin")
	x, err := a.Client.Attach(data, "STOR")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Raw.Close()
	if _, err := x.Conn.Write(ftptest.RandomData(t, 1000)); err != nil {
		t.Fatal(err)
	}
	expectReply(t, a, 426, "server.transfer_stall_timeout")
	ftptest.MustSameFile(t, keep, old)
	ftptest.MustNoPartialUploads(t, ts.AliceDir())
	mustGetPort(t, ts).Quit()
	a.Quit()
	ftptest.MustSameFile(t, filepath.Join(ts.AliceDir(), "keep.bin"), old)
}

// TestE2EPortsPerAddress: by default the sessions of one address hold at
// most a quarter of the range (passive.max_ports_per_ip = 0): the next
// PASV/EPSV from that address gets 425 naming the key. Two addresses that
// each take all they may leave half of the range, and a third address is
// served (with half the range each, two addresses held it all and the
// third got 425). A port given back is available again.
func TestE2EPortsPerAddress(t *testing.T) {
	const ports = 8
	ts := startServer(t, func(c *config.Config) {
		setPassivePorts(c, ftptest.PortRange(t, ports))
		c.Passive.MaxPortsPerIP = 0 // a quarter: 2
		c.Passive.Wait = 0
	})
	capped := ts.Cfg.Passive.PortsPerIP()
	// takeAll opens sessions from addr until one is refused, and returns
	// those that hold a port and the refused one.
	takeAll := func(addr string) (holders []*ftptest.MustClient, refused *ftptest.MustClient) {
		d := ftptest.Dialer{Local: netip.MustParseAddr(addr)}
		for range ports + 1 {
			c := d.MustLogin(t, ts.Addr, userName, userPass)
			r := c.Pasv(false)
			if r.Code == 227 {
				holders = append(holders, c)
				continue
			}
			if r.Code != 425 || !strings.Contains(r.Msg, "passive.max_ports_per_ip") {
				t.Fatalf("session %d of %s: got %v, want 227, or 425 naming passive.max_ports_per_ip", len(holders)+1, addr, r.Reply)
			}
			return holders, c
		}
		t.Fatalf("the sessions of %s hold %d ports, more than the range", addr, len(holders))
		return nil, nil
	}
	var holders []*ftptest.MustClient
	var third *ftptest.MustClient
	for _, addr := range []string{"127.0.0.1", "127.0.0.2"} {
		h, refused := takeAll(addr)
		if len(h) != capped {
			t.Fatalf("the sessions of %s hold %d ports, want passive.max_ports_per_ip's %d", addr, len(h), capped)
		}
		if r := refused.Pasv(true); r.Code != 425 || !strings.Contains(r.Msg, "passive.max_ports_per_ip") {
			t.Fatalf("EPSV of a session of %s beyond the cap: got %v, want 425 naming passive.max_ports_per_ip", addr, r.Reply)
		}
		holders = append(holders, h...)
		if third == nil {
			third = refused
		} else {
			refused.Quit()
		}
	}
	other := ftptest.Dialer{Local: netip.MustParseAddr("127.0.0.3")}.MustLogin(t, ts.Addr, userName, userPass)
	if r := other.Pasv(false); r.Code != 227 {
		t.Fatalf("session of a third address, while two hold %d of %d ports: got %v, want 227", len(holders), ports, r.Reply)
	}
	holders[0].Quit()
	var r ftptest.Passive
	if !ftptest.Eventually(5*time.Second, func() bool { r = third.Pasv(false); return r.Code == 227 }) {
		t.Fatalf("after a holder quit, the refused session of 127.0.0.1 still gets %v", r.Reply)
	}
	for _, c := range append(holders[1:], third, other) {
		c.Quit()
	}
	assertRangeFree(t, ts)
}

// TestE2EAbortAfterTheTransferEnded: ABOR that arrives after the whole
// file was sent gets 226 after the transfer's own 226 (RFC 959 4.1.3: the
// service completed), not 426; lftp shows this as "226 then 226" when it
// aborts a download whose last bytes were already on their way. ABOR of a
// running transfer gets 426, then 226.
func TestE2EAbortAfterTheTransferEnded(t *testing.T) {
	ts := startServer(t, nil)
	small := []byte("sent whole before ABOR\n")
	ftptest.WriteFile(t, ts.AliceDir(), "small.txt", small)
	ftptest.WriteFile(t, ts.AliceDir(), "big.bin", ftptest.RandomData(t, 32<<20))
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	c.ProtP()

	x := c.Open("RETR small.txt")
	got, err := io.ReadAll(x.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "RETR", got, small)
	c.Expect(226, "the transfer's reply")
	c.Do(226, "ABOR")

	x = c.Open("RETR big.bin")
	if _, err := io.ReadFull(x.Conn, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Send("ABOR")
	c.Expect(426, "the aborted transfer's reply")
	c.Expect(226, "ABOR's reply")
	c.Quit()
}
