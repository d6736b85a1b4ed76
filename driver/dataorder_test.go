package driver_test

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/internal/ftptest"
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
func TestE2EDataProtectionOrder(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Active.Enabled = true
		c.Passive.Wait = 0
	})
	content := []byte("protected content\n")
	ftptest.WriteFile(t, ts.AliceDir(), "order.txt", content)
	old := []byte("the stored copy\n")
	keep := ftptest.WriteFile(t, ts.AliceDir(), "keep.bin", old)
	active := activeListener(t, "127.0.0.1")

	for _, setup := range []string{"PASV", "EPSV", "PORT", "EPRT"} {
		for _, steps := range protectionOrders() {
			for _, transfer := range []string{"RETR order.txt", "STOR keep.bin", "LIST"} {
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
	}
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
