package driver_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"go.uber.org/zap"

	"ftpsd/control"
	"ftpsd/internal/ftptest"
	"ftpsd/tlsconf"
)

// The control connection rewrites some of ftpserverlib's replies by their
// text (control/rewrite.go): the 421 to PASV when no port is free, the 421
// to PORT/EPRT when active mode is off, FEAT's " PROT" and " EPSV" lines,
// and the error reply that follows a refused data connection. The tests
// here pin those replies of the real lib, as its clientHandler writes them
// (one Write per line), and check that control still recognises them, so
// that a lib upgrade that changes one fails here and not in production.
//
// They live in driver because driver is the one package that imports the
// lib, so its tests may drive it (control stays free of it, and its own
// tests feed it copies of these texts), and because they reuse the e2e
// tests' raw FTP client. The lib runs here behind control's real listener
// with a tap in between, so each test sees both the lib's raw reply and
// what control makes of it.

// libWrites records every Write of the lib to its control connection,
// before control rewrites it.
type libWrites struct {
	mu     sync.Mutex
	writes []string
}

// take returns the writes since the last take.
func (w *libWrites) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.writes
	w.writes = nil
	return got
}

// tapListener hands the lib control's connections, tapped.
type tapListener struct {
	net.Listener
	w *libWrites
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tapConn{Conn: c, w: l.w}, nil
}

type tapConn struct {
	net.Conn
	w *libWrites
}

func (c tapConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes = append(c.w.writes, string(p))
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

// noPorts is a passive port range with no free port.
type noPorts struct{}

func (noPorts) FetchNext() (int, int, bool) { return 0, 0, false }
func (noPorts) NumberAttempts() int         { return 1 }

// libDriver is the least MainDriver that reaches those replies: any login
// succeeds onto a memory filesystem holding the file "f".
type libDriver struct {
	settings *ftpserver.Settings
	tls      *tls.Config
}

func (d libDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }
func (d libDriver) GetTLSConfig() (*tls.Config, error)        { return d.tls, nil }
func (libDriver) ClientDisconnected(ftpserver.ClientContext)  {}
func (libDriver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "lib texts", nil
}

func (libDriver) AuthUser(ftpserver.ClientContext, string, string) (ftpserver.ClientDriver, error) {
	fs := afero.NewMemMapFs()
	return fs, afero.WriteFile(fs, "/f", []byte("data"), 0o644)
}

// startLib runs the lib behind control's listener (with CCC allowed and
// EPSV disabled, so that FEAT is rewritten both ways), with active mode
// off and ports as its passive range, and returns its address, the lib's
// writes and control's registry.
func startLib(t *testing.T, ports ftpserver.PasvPortGetter) (string, *libWrites, *control.Registry) {
	t.Helper()
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := control.NewRegistry()
	ctl := control.NewListener(inner, control.Options{
		TLSConfig: store.Config(), AllowCCC: true, DisableEPSV: true,
		Registry: reg, Logger: zap.NewNop(),
	})
	w := &libWrites{}
	lib := ftpserver.NewFtpServer(libDriver{tls: store.Config(), settings: &ftpserver.Settings{
		Listener:                 tapListener{Listener: ctl, w: w},
		DisableActiveMode:        true,
		PassiveTransferPortRange: ports,
		ConnectionTimeout:        10,
	}})
	lib.Logger = slog.New(slog.DiscardHandler)
	if err := lib.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = lib.Serve() }()
	t.Cleanup(func() { _ = lib.Stop() })
	return inner.Addr().String(), w, reg
}

// startLibProtected starts the lib (startLib), logs in over TLS with
// PROT P and dials a data connection after PASV; the lib's writes so far
// are taken.
func startLibProtected(t *testing.T) (*ftptest.MustClient, net.Conn, *libWrites, *control.Registry) {
	t.Helper()
	addr, w, reg := startLib(t, nil)
	c := ftptest.MustDial(t, addr)
	c.AuthTLS()
	c.Login("u", "p")
	c.ProtP()
	data := c.DialData(c.PASV())
	w.take()
	return c, data, w, reg
}

// wantLibWrite fails unless the lib wrote want, as one Write, for cmd.
func wantLibWrite(t *testing.T, cmd string, writes []string, want string) {
	t.Helper()
	if !slices.Contains(writes, want) {
		t.Errorf("the lib's reply to %s no longer has the line %q, which control/rewrite.go rewrites; it wrote %q", cmd, want, writes)
	}
}

func TestLibTextsFEAT(t *testing.T) {
	addr, w, _ := startLib(t, nil)
	c := ftptest.MustDial(t, addr)
	w.take()
	r := c.Cmd("FEAT")
	code, msg := r.Code, r.Msg
	writes := w.take()
	wantLibWrite(t, "FEAT", writes, " PROT\r\n")
	wantLibWrite(t, "FEAT", writes, " EPSV\r\n")
	lines := strings.Split(msg, "\n")
	if code != 211 || !slices.Contains(lines, " CCC") || slices.Contains(lines, " EPSV") {
		t.Errorf("FEAT as control sends it (CCC allowed, EPSV disabled): %d\n%s", code, msg)
	}
}

func TestLibTextsPASVWithoutPort(t *testing.T) {
	addr, w, _ := startLib(t, noPorts{})
	c := ftptest.MustDial(t, addr)
	c.Login("u", "p")
	w.take()
	r := c.Cmd("PASV")
	code, msg := r.Code, r.Msg
	wantLibWrite(t, "PASV", w.take(), fmt.Sprintf("%d Could not listen for passive connection: %v\r\n",
		ftpserver.StatusServiceNotAvailable, ftpserver.ErrNoAvailableListeningPort))
	if code != 425 || !strings.Contains(msg, busyText) {
		t.Errorf("PASV without a free port: control sent %d %q, want the 425 busy reply", code, msg)
	}
}

func TestLibTextsActiveModeOff(t *testing.T) {
	addr, w, _ := startLib(t, nil)
	c := ftptest.MustDial(t, addr)
	c.Login("u", "p")
	for _, cmd := range []string{"PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|"} {
		verb, _, _ := strings.Cut(cmd, " ")
		w.take()
		r := c.Cmd("%s", cmd)
		code, msg := r.Code, r.Msg
		wantLibWrite(t, verb, w.take(), fmt.Sprintf("%d %s command is disabled\r\n", ftpserver.StatusServiceNotAvailable, verb))
		if code != 502 || !strings.HasPrefix(msg, "Active mode (PORT/EPRT) is disabled") {
			t.Errorf("%s with active mode off: control sent %d %q, want its 502", verb, code, msg)
		}
	}
}

// A refused data connection fails the lib's TLS handshake: the lib must
// answer the transfer with one error reply (4xx or 5xx), after any 1xx,
// which control replaces by the refusal's 425 (see Conn.NoteDataRefused).
func TestLibTextsErrorAfterFailedDataHandshake(t *testing.T) {
	c, data, w, reg := startLibProtected(t)
	c.Send("RETR f")
	// The lib waits for the data connection's handshake: the refusal is
	// noted before the handshake fails, as the screen does.
	reg.Conns()[0].NoteDataRefused(control.DataRefusal{Err: errors.New("refused by the test")})
	if _, err := data.Write([]byte("not a TLS handshake\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	r := c.Reply()
	for r.Code < 200 {
		r = c.Reply()
	}
	code, msg := r.Code, r.Msg
	writes := w.take()
	errs := slices.DeleteFunc(slices.Clone(writes), func(s string) bool { return s[0] == '1' })
	if len(errs) != 1 || (errs[0][0] != '4' && errs[0][0] != '5') {
		t.Errorf("RETR over a failed data handshake: the lib wrote %q, want one 4xx or 5xx line after any 1xx", writes)
	}
	if code != 425 || !strings.HasPrefix(msg, "Data connection refused") {
		t.Errorf("RETR over a refused data connection: control sent %d %q, want its 425", code, msg)
	}
}

// The lib writes a literal "%s" before each line of its reply to STAT of
// a directory; control strips it.
func TestLibTextsSTATDirectory(t *testing.T) {
	addr, w, _ := startLib(t, nil)
	c := ftptest.MustDial(t, addr)
	c.Login("u", "p")
	w.take()
	r := c.Cmd("STAT /")
	writes := w.take()
	if !slices.ContainsFunc(writes, func(s string) bool { return strings.HasPrefix(s, " %s-rw-r--r-- ") }) {
		t.Errorf("the lib's reply to STAT / no longer has lines starting \" %%s\", which control/rewrite.go strips: %q", writes)
	}
	if r.Code != 212 || strings.Contains(r.Msg, "%s") || !strings.Contains(r.Msg, "\n -rw-r--r-- 1 ftp ftp") {
		t.Errorf("STAT / as control sends it: %d %q, want 212 with \" -rw-r--r--\" lines", r.Code, r.Msg)
	}
}

// A transfer broken on its data connection (here: its TLS fails) gets the
// lib's "550 Issue during transfer: network error: ...", which control
// answers 426.
func TestLibTextsTransferNetworkError(t *testing.T) {
	c, data, w, _ := startLibProtected(t)
	c.Do(150, "STOR g")
	if _, err := data.Write([]byte("not a TLS handshake\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	r := c.Reply()
	writes := w.take()
	if !slices.ContainsFunc(writes, func(s string) bool { return strings.HasPrefix(s, "550 Issue during transfer: network error: ") }) {
		t.Errorf("the lib's reply to a reset upload no longer starts as control/rewrite.go expects: %q", writes)
	}
	if r.Code != 426 {
		t.Errorf("reset upload as control answers it: %d %q, want 426", r.Code, r.Msg)
	}
}
