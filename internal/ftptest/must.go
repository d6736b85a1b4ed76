package ftptest

import (
	"net"
	"testing"
	"time"
)

// MustClient is a Client bound to a test: its methods are the Client's,
// but fail the test (t.Fatal) where those return an error. Call them from
// the test's goroutine only; the embedded Client's methods return errors.
type MustClient struct {
	*Client
	t testing.TB
}

// Must binds c to the test t.
func (c *Client) Must(t testing.TB) *MustClient { return &MustClient{Client: c, t: t} }

// MustDial is Dial that fails the test; the connection is closed when the
// test ends.
func (d Dialer) MustDial(t testing.TB, addr string) *MustClient {
	t.Helper()
	c, err := d.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.Must(t)
}

// MustLogin is Login that fails the test; the connection is closed when
// the test ends.
func (d Dialer) MustLogin(t testing.TB, addr, user, pass string) *MustClient {
	t.Helper()
	c, err := d.Login(addr, user, pass)
	if err != nil {
		t.Fatalf("login %s at %s: %v", user, addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.Must(t)
}

// MustDial is Dialer{}.MustDial.
func MustDial(t testing.TB, addr string) *MustClient {
	t.Helper()
	return Dialer{}.MustDial(t, addr)
}

// MustLogin is Dialer{}.MustLogin.
func MustLogin(t testing.TB, addr, user, pass string) *MustClient {
	t.Helper()
	return Dialer{}.MustLogin(t, addr, user, pass)
}

func (m *MustClient) check(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

// The wrappers, in the order of a session.

// Write is Client.Write.
func (m *MustClient) Write(b []byte) { m.t.Helper(); m.check(m.Client.Write(b)) }

// Send is Client.Send.
func (m *MustClient) Send(format string, args ...any) {
	m.t.Helper()
	m.check(m.Client.Send(format, args...))
}

// Reply is Client.Reply.
func (m *MustClient) Reply() Reply {
	m.t.Helper()
	r, err := m.Client.Reply()
	m.check(err)
	return r
}

// Expect is Client.Expect.
func (m *MustClient) Expect(code int, what string) Reply {
	m.t.Helper()
	r, err := m.Client.Expect(code, what)
	m.check(err)
	return r
}

// Cmd is Client.Cmd.
func (m *MustClient) Cmd(format string, args ...any) Reply {
	m.t.Helper()
	r, err := m.Client.Cmd(format, args...)
	m.check(err)
	return r
}

// Do is Client.Do.
func (m *MustClient) Do(code int, format string, args ...any) Reply {
	m.t.Helper()
	r, err := m.Client.Do(code, format, args...)
	m.check(err)
	return r
}

// AuthTLS is Client.AuthTLS.
func (m *MustClient) AuthTLS() { m.t.Helper(); m.check(m.Client.AuthTLS()) }

// Auth is Client.Auth.
func (m *MustClient) Auth(mechanism string) { m.t.Helper(); m.check(m.Client.Auth(mechanism)) }

// AuthPipelined is Client.AuthPipelined.
func (m *MustClient) AuthPipelined() { m.t.Helper(); m.check(m.Client.AuthPipelined()) }

// Login is Client.Login.
func (m *MustClient) Login(user, pass string) { m.t.Helper(); m.check(m.Client.Login(user, pass)) }

// ProtP is Client.ProtP.
func (m *MustClient) ProtP() { m.t.Helper(); m.check(m.Client.ProtP()) }

// Pasv is Client.Pasv.
func (m *MustClient) Pasv(epsv bool) Passive {
	m.t.Helper()
	p, err := m.Client.Pasv(epsv)
	m.check(err)
	return p
}

// PASV is Client.PASV.
func (m *MustClient) PASV() string {
	m.t.Helper()
	a, err := m.Client.PASV()
	m.check(err)
	return a
}

// EPSV is Client.EPSV.
func (m *MustClient) EPSV() string {
	m.t.Helper()
	a, err := m.Client.EPSV()
	m.check(err)
	return a
}

// DialData is Client.DialData; the connection is closed when the test
// ends.
func (m *MustClient) DialData(addr string) net.Conn {
	m.t.Helper()
	conn, err := m.Client.DialData(addr)
	m.check(err)
	m.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Open is Client.Open; the data connection is closed when the test ends.
func (m *MustClient) Open(command string) *Transfer {
	m.t.Helper()
	return m.closing(m.Client.Open(command))
}

// OpenAt is Client.OpenAt; the data connection is closed when the test
// ends.
func (m *MustClient) OpenAt(addr, command string) *Transfer {
	m.t.Helper()
	return m.closing(m.Client.OpenAt(addr, command))
}

func (m *MustClient) closing(x *Transfer, err error) *Transfer {
	m.t.Helper()
	m.check(err)
	m.t.Cleanup(func() { _ = x.Raw.Close() })
	return x
}

// Retr is Client.Retr.
func (m *MustClient) Retr(name string) []byte {
	m.t.Helper()
	b, err := m.Client.Retr(name)
	m.check(err)
	return b
}

// Stor is Client.Stor.
func (m *MustClient) Stor(name string, content []byte) {
	m.t.Helper()
	m.check(m.Client.Stor(name, content))
}

// CCC is Client.CCC.
func (m *MustClient) CCC() { m.t.Helper(); m.check(m.Client.CCC()) }

// ClearControl is Client.ClearControl.
func (m *MustClient) ClearControl(order CloseOrder) time.Duration {
	m.t.Helper()
	d, err := m.Client.ClearControl(order)
	m.check(err)
	return d
}

// ClearControlThen is Client.ClearControlThen.
func (m *MustClient) ClearControlThen(order CloseOrder, next string) time.Duration {
	m.t.Helper()
	d, err := m.Client.ClearControlThen(order, next)
	m.check(err)
	return d
}

// Quit is Client.Quit.
func (m *MustClient) Quit() { m.t.Helper(); m.check(m.Client.Quit()) }

// ExpectClosed is Client.ExpectClosed.
func (m *MustClient) ExpectClosed() { m.t.Helper(); m.check(m.Client.ExpectClosed()) }
