package ftptest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pires/go-proxyproto"
)

// DefaultTimeout bounds a Client's dial, each of its reads and writes, each
// TLS handshake and each data connection, unless its Timeout says
// otherwise.
const DefaultTimeout = 30 * time.Second

// Reply is one FTP reply. Msg is its text without the code: the lines of a
// multi-line reply are joined with "\n".
type Reply struct {
	Code int
	Msg  string
}

// String returns the reply as the server wrote its first line: "226 Done".
func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Msg) }

// Dialer holds the settings of new Clients. The zero value dials explicit
// FTPS from any local address with NewTLS and DefaultTimeout.
type Dialer struct {
	// TLS is the client's TLS configuration, for the control connection
	// and every data connection; NewTLS() when nil.
	TLS *tls.Config
	// Implicit starts TLS at once (implicit FTPS) instead of after AUTH TLS.
	Implicit bool
	// Local is the source address of the control and data connections
	// (zero: any).
	Local netip.Addr
	// Timeout bounds the dial and every exchange (DefaultTimeout when 0).
	Timeout time.Duration
	// DialContext opens the control and data connections instead of a
	// net.Dialer (Local is then unused), e.g. from a network namespace.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// RequireResume makes a data connection whose TLS session did not
	// resume an error (see Client.RequireResume).
	RequireResume bool
	// Proxy, when valid, plays a load balancer that speaks the PROXY
	// protocol: the control connection comes from Proxy and opens with a
	// PROXY v2 header naming Local (which must be set) as the client. Data
	// connections still come from Local, straight to the server, unless
	// ProxyData is set.
	Proxy netip.Addr
	// ProxyData makes the data connections come through Proxy too, each
	// opening with a header naming Local (passive.proxy_protocol).
	ProxyData bool
}

// NewTLS returns the TLS configuration of one test client of a server with
// a self-signed certificate. A client uses it for its control and its data
// connections: the fixed ServerName makes them share one entry of its
// session cache, so that data connections resume the control connection's
// TLS session, as ftpsd requires by default.
func NewTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", //nolint:gosec // test certificates
		ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// FreshTLS returns a TLS configuration without a session cache: its
// connections never resume a session.
func FreshTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} //nolint:gosec // test certificates
}

// Client is a raw FTP client. Its methods return errors; they are not safe
// for concurrent use, but separate Clients may run in separate goroutines.
type Client struct {
	// TLS is the configuration of the control connection's TLS and of
	// every data connection's: sharing it (and its ClientSessionCache)
	// lets data connections resume the control connection's session.
	// Replace it before AUTH TLS to change the control connection, or
	// before a transfer to offer another cache's ticket.
	TLS *tls.Config
	// Timeout bounds each read, write and handshake, and a data
	// connection's life.
	Timeout time.Duration
	// RequireResume makes Attach (and so Open, Retr, Stor...) fail when a
	// protected data connection did not resume a TLS session.
	RequireResume bool

	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	raw       net.Conn    // the control connection's socket
	ctl       *tls.Conn   // its TLS layer; nil while the channel is clear
	rec       *recordConn // ctl's socket below TLS, while TLS
	conn      net.Conn    // raw or ctl: where commands are written
	r         *textproto.Reader
	greeting  Reply
	protected bool // PROT P is in force
}

// Connect dials addr and reads the greeting, whatever its code (a server
// at its connection cap greets with 421): see Greeting.
func (d Dialer) Connect(addr string) (*Client, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dial := d.DialContext
	if dial == nil {
		nd := &net.Dialer{Timeout: timeout}
		if d.Local.IsValid() {
			nd.LocalAddr = &net.TCPAddr{IP: d.Local.AsSlice()}
		}
		dial = nd.DialContext
	}
	cfg := d.TLS
	if cfg == nil {
		cfg = NewTLS()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	control := dial
	if d.Proxy.IsValid() {
		control = d.viaProxy
		if d.ProxyData {
			dial = d.viaProxy
		}
	}
	raw, err := control(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &Client{TLS: cfg, Timeout: timeout, RequireResume: d.RequireResume, dial: dial, raw: raw, conn: raw,
		r: textproto.NewReader(bufio.NewReader(raw))}
	if d.Implicit {
		if err := c.startTLS(); err != nil {
			_ = raw.Close()
			return nil, err
		}
	}
	if c.greeting, err = c.Reply(); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("greeting of %s: %w", addr, err)
	}
	return c, nil
}

// viaProxy dials address from d.Proxy and sends a PROXY v2 header naming
// d.Local, with the proxy's port, as the client, and d.Proxy, with the
// server's port, as the address the client reached.
func (d Dialer) viaProxy(ctx context.Context, network, address string) (net.Conn, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: d.Proxy.AsSlice()}}
	conn, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	client := &net.TCPAddr{IP: d.Local.AsSlice(), Port: conn.LocalAddr().(*net.TCPAddr).Port}
	reached := &net.TCPAddr{IP: d.Proxy.AsSlice(), Port: conn.RemoteAddr().(*net.TCPAddr).Port} // the balancer's front
	if _, err := proxyproto.HeaderProxyFromAddrs(2, client, reached).WriteTo(conn); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	return conn, nil
}

// Dial is Connect that wants the 220 greeting.
func (d Dialer) Dial(addr string) (*Client, error) {
	c, err := d.Connect(addr)
	if err != nil {
		return nil, err
	}
	if g := c.Greeting(); g.Code != 220 {
		_ = c.Close()
		return nil, fmt.Errorf("greeting of %s: %q, want 220", addr, g)
	}
	return c, nil
}

// Login dials addr, protects the control channel with AUTH TLS (unless
// implicit), logs in and protects the data channel (PBSZ 0, PROT P).
func (d Dialer) Login(addr, user, pass string) (*Client, error) {
	c, err := d.Dial(addr)
	if err != nil {
		return nil, err
	}
	if !d.Implicit {
		err = c.AuthTLS()
	}
	if err == nil {
		err = c.Login(user, pass)
	}
	if err == nil {
		err = c.ProtP()
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Dial is Dialer{}.Dial: explicit FTPS, greeting 220.
func Dial(addr string) (*Client, error) { return Dialer{}.Dial(addr) }

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Greeting returns the server's first reply.
func (c *Client) Greeting() Reply { return c.greeting }

// Raw returns the control connection's socket, e.g. for its addresses.
func (c *Client) Raw() net.Conn { return c.raw }

// TLSState returns the control connection's TLS state, and false while the
// channel is clear.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	if c.ctl == nil {
		return tls.ConnectionState{}, false
	}
	return c.ctl.ConnectionState(), true
}

// Close closes the control connection.
func (c *Client) Close() error { return c.raw.Close() }

// Abort resets the control connection, as a client that vanishes does.
func (c *Client) Abort() error { return Reset(c.raw) }

// Reset closes conn with a TCP reset instead of an orderly close.
func Reset(conn net.Conn) error {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return conn.Close()
}

// Write writes b to the control connection as it is (TLS or clear): for
// malformed input, or for pipelined commands.
func (c *Client) Write(b []byte) error {
	_ = c.raw.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := c.conn.Write(b)
	return err
}

// Send writes one command line (CRLF added) in one write.
func (c *Client) Send(format string, args ...any) error {
	line := fmt.Sprintf(format, args...)
	if err := c.Write([]byte(line + "\r\n")); err != nil {
		return fmt.Errorf("send %s: %w", verb(line), err)
	}
	return nil
}

// Reply reads one (possibly multi-line) reply.
func (c *Client) Reply() (Reply, error) {
	_ = c.raw.SetReadDeadline(time.Now().Add(c.timeout()))
	code, msg, err := c.r.ReadResponse(0)
	return Reply{Code: code, Msg: msg}, err
}

// Expect reads one reply and returns an error unless it has code; what
// names the reply in the error.
func (c *Client) Expect(code int, what string) (Reply, error) {
	r, err := c.Reply()
	if err != nil {
		return r, fmt.Errorf("%s: read reply: %w", what, err)
	}
	if r.Code != code {
		return r, fmt.Errorf("%s: got %d %q, want %d", what, r.Code, r.Msg, code)
	}
	return r, nil
}

// Cmd sends a command and reads its reply, whatever its code. A PROT
// command that gets 200 switches the protection of later transfers.
func (c *Client) Cmd(format string, args ...any) (Reply, error) {
	if err := c.Send(format, args...); err != nil {
		return Reply{}, err
	}
	line := fmt.Sprintf(format, args...)
	r, err := c.Reply()
	if err != nil {
		return r, fmt.Errorf("reply to %s: %w", verb(line), err)
	}
	if level, ok := strings.CutPrefix(strings.ToUpper(line), "PROT "); ok && r.Code == 200 {
		c.protected = strings.TrimSpace(level) == "P"
	}
	return r, nil
}

// Do sends a command and returns an error unless the reply has code.
func (c *Client) Do(code int, format string, args ...any) (Reply, error) {
	r, err := c.Cmd(format, args...)
	if err != nil {
		return r, err
	}
	if r.Code != code {
		return r, fmt.Errorf("%s: got %d %q, want %d", verb(fmt.Sprintf(format, args...)), r.Code, r.Msg, code)
	}
	return r, nil
}

// verb returns the command word of line, so that errors never show a
// password.
func verb(line string) string {
	v, _, _ := strings.Cut(line, " ")
	return v
}

// AuthTLS sends AUTH TLS and runs the TLS handshake on the control
// connection.
func (c *Client) AuthTLS() error { return c.Auth("TLS") }

// Auth sends AUTH mechanism (TLS, TLS-C, SSL, in any case) and runs the
// TLS handshake on the control connection.
func (c *Client) Auth(mechanism string) error {
	if _, err := c.Do(234, "AUTH %s", mechanism); err != nil {
		return err
	}
	return c.startTLS()
}

// AuthPipelined sends AUTH TLS in the same write as the TLS ClientHello,
// without waiting for the 234, as some clients do. It wants the 234 before
// the server's first TLS record.
func (c *Client) AuthPipelined() error {
	c.rec = &recordConn{Conn: c.raw, pending: []byte("AUTH TLS\r\n"), wantLine: true}
	if err := c.handshake(); err != nil {
		return err
	}
	if !strings.HasPrefix(c.rec.line, "234 ") {
		return fmt.Errorf("reply to a pipelined AUTH TLS: %q, want 234", c.rec.line)
	}
	return nil
}

// startTLS runs the control connection's TLS client. It reads through a
// recordConn, so that after CCC no clear-text byte is left in the TLS
// layer.
func (c *Client) startTLS() error {
	c.rec = &recordConn{Conn: c.raw}
	return c.handshake()
}

func (c *Client) handshake() error {
	tc := tls.Client(c.rec, c.TLS)
	_ = c.raw.SetDeadline(time.Now().Add(c.timeout()))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("control TLS handshake: %w", err)
	}
	c.ctl, c.conn = tc, tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	return nil
}

// Login sends USER and PASS and wants 331 and 230.
func (c *Client) Login(user, pass string) error {
	if _, err := c.Do(331, "USER %s", user); err != nil {
		return err
	}
	_, err := c.Do(230, "PASS %s", pass)
	return err
}

// ProtP sends PBSZ 0 and PROT P.
func (c *Client) ProtP() error {
	if _, err := c.Do(200, "PBSZ 0"); err != nil {
		return err
	}
	_, err := c.Do(200, "PROT P")
	return err
}

// Quit sends QUIT, wants 221 and closes the connection.
func (c *Client) Quit() error {
	defer c.Close()
	_, err := c.Do(221, "QUIT")
	return err
}

// ExpectClosed reads once more and returns nil when the server has closed
// the connection, an error when a reply (or anything else) comes instead.
func (c *Client) ExpectClosed() error {
	r, err := c.Reply()
	var perr textproto.ProtocolError
	var nerr net.Error
	switch {
	case err == nil:
		return fmt.Errorf("connection still open: read %q", r)
	case errors.As(err, &perr):
		return fmt.Errorf("connection still open: %w", err)
	case errors.As(err, &nerr) && nerr.Timeout():
		return fmt.Errorf("connection not closed within %v", c.timeout())
	}
	return nil
}

// CloseOrder is the order in which a client ends TLS on the control
// channel after the 200 reply to CCC.
type CloseOrder int

const (
	// ClientFirst sends the client's close_notify at once, then reads the
	// server's (Python's ftplib, lftp, curl's active CCC mode).
	ClientFirst CloseOrder = iota
	// ServerOnly waits for the server's close_notify and never sends one
	// (curl's default, passive CCC mode).
	ServerOnly
	// ServerThenClient waits for the server's close_notify and answers it.
	ServerThenClient
)

func (o CloseOrder) String() string {
	return [...]string{"client first", "server only", "server then client"}[o]
}

// CCC clears the control channel, the client's close_notify first.
func (c *Client) CCC() error {
	_, err := c.ClearControl(ClientFirst)
	return err
}

// ClearControl sends CCC, wants 200, exchanges close_notify in the given
// order and goes on in clear text. It returns how long the client waited
// for the server's close_notify. Nothing may follow the 200 under TLS.
func (c *Client) ClearControl(order CloseOrder) (time.Duration, error) {
	return c.ClearControlThen(order, "")
}

// ClearControlThen is ClearControl that sends the clear-text command line
// next (when not empty) in the same write as the client's close_notify
// (right after the server's under ServerOnly), as a client that pipelines
// does. Its reply is left to read.
func (c *Client) ClearControlThen(order CloseOrder, next string) (time.Duration, error) {
	if c.ctl == nil {
		return 0, errors.New("CCC: the control channel is not TLS")
	}
	if _, err := c.Do(200, "CCC"); err != nil {
		return 0, err
	}
	if n := c.r.R.Buffered(); n != 0 {
		return 0, fmt.Errorf("CCC: %d bytes buffered after the 200 reply", n)
	}
	if next != "" {
		next += "\r\n"
	}
	// closeWrite sends the client's close_notify and next in one write.
	closeWrite := func() error {
		c.rec.hold()
		err := c.ctl.CloseWrite()
		// CloseWrite leaves the write deadline at "now".
		_ = c.raw.SetWriteDeadline(time.Now().Add(c.timeout()))
		if ferr := c.rec.flush([]byte(next)); err == nil {
			err = ferr
		}
		if err != nil {
			return fmt.Errorf("CCC: send close_notify: %w", err)
		}
		return nil
	}
	if order == ClientFirst {
		if err := closeWrite(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	_ = c.raw.SetReadDeadline(start.Add(c.timeout()))
	var buf [64]byte
	if n, err := c.ctl.Read(buf[:]); n != 0 || !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("CCC: want the server's close_notify, got %d bytes, %v", n, err)
	}
	waited := time.Since(start)
	switch order {
	case ServerThenClient:
		if err := closeWrite(); err != nil {
			return waited, err
		}
	case ServerOnly:
		if _, err := io.WriteString(c.raw, next); err != nil {
			return waited, fmt.Errorf("CCC: send %s: %w", verb(next), err)
		}
	}
	c.ctl, c.conn, c.rec = nil, c.raw, nil
	c.r = textproto.NewReader(bufio.NewReader(c.raw))
	return waited, nil
}

// Passive is the reply to PASV or EPSV.
type Passive struct {
	Reply
	Host string // the address announced by a 227; "" for a 229
	Port int    // the announced port; 0 unless 227 or 229
	Addr string // host:port to dial: a 227's address, or a 229's port on the control connection's peer
}

var (
	pasvRE = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
	epsvRE = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
)

// ParsePASV returns the address and port of a 227 reply's text.
func ParsePASV(msg string) (netip.AddrPort, error) {
	m := pasvRE.FindStringSubmatch(msg)
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("227 reply %q has no address", msg)
	}
	var n [6]byte
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > 255 {
			return netip.AddrPort{}, fmt.Errorf("227 reply %q: bad number %q", msg, m[i+1])
		}
		n[i] = byte(v)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(n[:4])), uint16(n[4])<<8|uint16(n[5])), nil
}

// Pasv sends EPSV (epsv) or PASV. A reply other than 227 or 229 is
// returned without an error; a 227 or 229 that cannot be parsed is one.
func (c *Client) Pasv(epsv bool) (Passive, error) {
	cmd := "PASV"
	if epsv {
		cmd = "EPSV"
	}
	r, err := c.Cmd("%s", cmd)
	p := Passive{Reply: r}
	if err != nil {
		return p, err
	}
	switch r.Code {
	case 227:
		ap, err := ParsePASV(r.Msg)
		if err != nil {
			return p, err
		}
		p.Host, p.Port, p.Addr = ap.Addr().String(), int(ap.Port()), ap.String()
	case 229:
		m := epsvRE.FindStringSubmatch(r.Msg)
		if m == nil {
			return p, fmt.Errorf("229 reply %q has no port", r.Msg)
		}
		p.Port, _ = strconv.Atoi(m[1])
		host, _, _ := net.SplitHostPort(c.raw.RemoteAddr().String())
		p.Addr = net.JoinHostPort(host, m[1])
	}
	return p, nil
}

// PASV sends PASV, wants 227 and returns the data address to dial.
func (c *Client) PASV() (string, error) { return c.passive(false, 227) }

// EPSV sends EPSV, wants 229 and returns the data address to dial.
func (c *Client) EPSV() (string, error) { return c.passive(true, 229) }

func (c *Client) passive(epsv bool, code int) (string, error) {
	p, err := c.Pasv(epsv)
	if err != nil {
		return "", err
	}
	if p.Code != code {
		return "", fmt.Errorf("got %d %q, want %d", p.Code, p.Msg, code)
	}
	return p.Addr, nil
}

// DialData opens a data connection to addr, from the control connection's
// local address when the Dialer named one. Its deadline is Timeout from
// now.
func (c *Client) DialData(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout())
	defer cancel()
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial data %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(c.timeout()))
	return conn, nil
}

// Transfer is the client side of one data connection.
type Transfer struct {
	Raw  net.Conn  // the data connection's socket
	Conn net.Conn  // what to read and write: TLS over Raw under PROT P, else Raw
	TLS  *tls.Conn // the TLS client; nil under PROT C
	c    *Client
	what string
}

// Attach takes over data, a data connection whose transfer command has
// been answered 150: under PROT P it completes the TLS handshake with the
// Client's TLS config. It closes data when it fails.
func (c *Client) Attach(data net.Conn, what string) (*Transfer, error) {
	x := &Transfer{Raw: data, Conn: data, c: c, what: what}
	_ = data.SetDeadline(time.Now().Add(c.timeout()))
	if !c.protected {
		return x, nil
	}
	tc := tls.Client(data, c.TLS)
	if err := tc.Handshake(); err != nil {
		_ = data.Close()
		return nil, fmt.Errorf("%s: data TLS handshake: %w", what, err)
	}
	if c.RequireResume && !tc.ConnectionState().DidResume {
		_ = data.Close()
		return nil, fmt.Errorf("%s: the data TLS session did not resume a session", what)
	}
	x.TLS, x.Conn = tc, tc
	return x, nil
}

// OpenAt dials the data address addr (from an earlier PASV or EPSV), sends
// command (RETR, STOR, LIST...), wants 150 (or 125) and attaches the data
// connection.
func (c *Client) OpenAt(addr, command string) (*Transfer, error) {
	data, err := c.DialData(addr)
	if err != nil {
		return nil, err
	}
	r, err := c.Cmd("%s", command)
	if err == nil && r.Code != 150 && r.Code != 125 {
		err = fmt.Errorf("%s: got %d %q, want 150", verb(command), r.Code, r.Msg)
	}
	if err != nil {
		_ = data.Close()
		return nil, err
	}
	return c.Attach(data, verb(command))
}

// Open is OpenAt with the address of an EPSV.
func (c *Client) Open(command string) (*Transfer, error) {
	addr, err := c.EPSV()
	if err != nil {
		return nil, err
	}
	return c.OpenAt(addr, command)
}

// Resumed reports whether the data connection's TLS session resumed one.
func (x *Transfer) Resumed() bool { return x.TLS != nil && x.TLS.ConnectionState().DidResume }

// Finish closes the data connection (with close_notify under TLS) and
// reads the transfer's final reply.
func (x *Transfer) Finish() (Reply, error) {
	if err := x.Conn.Close(); err != nil {
		return Reply{}, fmt.Errorf("%s: close data connection: %w", x.what, err)
	}
	return x.c.Reply()
}

// Receive reads the data connection to its end, closes it and wants 226.
func (x *Transfer) Receive() ([]byte, error) {
	got, err := io.ReadAll(x.Conn)
	if err != nil {
		_ = x.Raw.Close()
		return got, fmt.Errorf("%s: read data: %w", x.what, err)
	}
	return got, x.finish226()
}

// Send writes content, closes the data connection and wants 226.
func (x *Transfer) Send(content []byte) error {
	if _, err := x.Conn.Write(content); err != nil {
		_ = x.Raw.Close()
		return fmt.Errorf("%s: write data: %w", x.what, err)
	}
	return x.finish226()
}

func (x *Transfer) finish226() error {
	r, err := x.Finish()
	if err == nil && r.Code != 226 {
		err = fmt.Errorf("end of %s: got %d %q, want 226", x.what, r.Code, r.Msg)
	}
	return err
}

// Retr downloads name over EPSV.
func (c *Client) Retr(name string) ([]byte, error) { return c.RetrAt("", name) }

// RetrAt downloads name over the data address addr ("": a new EPSV).
func (c *Client) RetrAt(addr, name string) ([]byte, error) {
	x, err := c.open(addr, "RETR "+name)
	if err != nil {
		return nil, err
	}
	return x.Receive()
}

// Stor uploads content as name over EPSV.
func (c *Client) Stor(name string, content []byte) error {
	x, err := c.Open("STOR " + name)
	if err != nil {
		return err
	}
	return x.Send(content)
}

func (c *Client) open(addr, command string) (*Transfer, error) {
	if addr == "" {
		return c.Open(command)
	}
	return c.OpenAt(addr, command)
}

// recordConn hands its reader at most the rest of the current TLS record,
// so that a tls.Client over it never reads past the record that ends TLS
// on the control channel (the close_notify after CCC): whatever follows on
// the socket is clear text.
//
// It also writes as a pipelining client does: while held, writes collect
// until flush sends them with more in one write (one segment on loopback);
// a pending line goes out with the first write, and with wantLine the
// first reply line is taken off the stream before TLS reads it.
type recordConn struct {
	net.Conn
	header    []byte // rest of the current record's header, not yet handed out
	remaining int    // bytes of the current record's body not yet read

	held     []byte // writes collected while holding
	holding  bool
	pending  []byte // clear text to send before the first write
	wantLine bool   // read one clear-text reply line before any record
	line     string // that line
}

func (c *recordConn) hold() { c.holding = true }

// flush sends what was held and more in one write.
func (c *recordConn) flush(more []byte) error {
	buf := append(c.held, more...)
	c.held, c.holding = nil, false
	if len(buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(buf)
	return err
}

func (c *recordConn) Write(p []byte) (int, error) {
	if c.holding {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if c.pending != nil {
		buf := append(c.pending, p...)
		c.pending = nil
		if _, err := c.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *recordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for c.wantLine && !strings.HasSuffix(c.line, "\n") {
		var one [1]byte
		if _, err := c.Conn.Read(one[:]); err != nil {
			return 0, err
		}
		c.line += string(one[:])
	}
	c.wantLine = false
	if len(c.header) == 0 && c.remaining == 0 {
		h := make([]byte, 5)
		if _, err := io.ReadFull(c.Conn, h); err != nil {
			return 0, err
		}
		c.header, c.remaining = h, int(h[3])<<8|int(h[4])
	}
	if len(c.header) > 0 {
		n := copy(p, c.header)
		c.header = c.header[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p[:min(len(p), c.remaining)])
	c.remaining -= n
	return n, err
}

// EndBare ends the data connection's stream with a TCP FIN and no TLS
// close_notify, as a connection cut on the path does. The socket stays
// open for reading; close Raw when done.
func (x *Transfer) EndBare() error {
	tcp, ok := x.Raw.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("%s: end bare: not a TCP connection", x.what)
	}
	return tcp.CloseWrite()
}

// EndInOneSegment ends the data connection's stream with close_notify and
// the FIN in one TCP segment (see CloseWriteInOneSegment); under PROT C
// it is EndBare.
func (x *Transfer) EndInOneSegment() error {
	if x.TLS == nil {
		return x.EndBare()
	}
	return CloseWriteInOneSegment(x.TLS, x.Raw)
}
