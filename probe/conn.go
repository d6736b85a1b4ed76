package probe

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ctrl is the FTP control connection: clear, then TLS after AUTH TLS (or
// from the start when implicit), and clear again after CCC.
type ctrl struct {
	raw     net.Conn
	conn    net.Conn // raw, or tls over raw
	r       *bufio.Reader
	timeout time.Duration
	// broken is set when a reply did not come: the replies may be out of
	// step with the commands from then on.
	broken error
}

func newCtrl(raw net.Conn, timeout time.Duration) *ctrl {
	return &ctrl{raw: raw, conn: raw, r: bufio.NewReader(raw), timeout: timeout}
}

// reply reads one reply, single or multi-line, and returns its code and
// its text (lines joined by newlines, codes kept).
func (c *ctrl) reply() (int, string, error) {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, "", fmt.Errorf("set deadline: %w", err)
	}
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.broken = fmt.Errorf("read reply: %w", err)
			return 0, strings.Join(lines, "\n"), c.broken
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(lines[0]) < 4 {
			return 0, line, fmt.Errorf("malformed reply %q", line)
		}
		// The last line repeats the code followed by a space.
		if len(line) >= 4 && line[:3] == lines[0][:3] && line[3] == ' ' {
			break
		}
		if len(lines) == 1 && lines[0][3] != '-' {
			return 0, line, fmt.Errorf("malformed reply %q", line)
		}
	}
	code, err := strconv.Atoi(lines[0][:3])
	if err != nil {
		return 0, lines[0], fmt.Errorf("malformed reply %q", lines[0])
	}
	return code, strings.Join(lines, "\n"), nil
}

// send writes one command line.
func (c *ctrl) send(cmd string) error {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		verb, _, _ := strings.Cut(cmd, " ")
		return fmt.Errorf("send %s: %w", verb, err)
	}
	return nil
}

// cmd sends a command and reads its reply.
func (c *ctrl) cmd(cmd string) (int, string, error) {
	if err := c.send(cmd); err != nil {
		return 0, "", err
	}
	return c.reply()
}

// startTLS runs the client handshake on the raw connection.
func (c *ctrl) startTLS(cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(c.raw, cfg)
	if err := tc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return tc, nil
}

// clear ends TLS on the control connection after a 200 to CCC: it sends
// close_notify, reads the server's, and goes on in the clear (RFC 4217
// section 6). The server sends nothing after its close_notify until the
// next command, so nothing of the clear text is lost in TLS's buffers.
func (c *ctrl) clear() error {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return errors.New("the control channel is not TLS")
	}
	if err := tc.CloseWrite(); err != nil {
		return fmt.Errorf("send close_notify: %w", err)
	}
	if err := tc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := io.Copy(io.Discard, c.r); err != nil {
		return fmt.Errorf("await the server's close_notify: %w", err)
	}
	c.conn, c.r = c.raw, bufio.NewReader(c.raw)
	return nil
}

// parse227 returns the address and port of a 227 reply,
// "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func parse227(msg string) (string, int, error) {
	open, end := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("no (h1,h2,h3,h4,p1,p2) in %q", msg)
	}
	f := strings.Split(msg[open+1:end], ",")
	if len(f) != 6 {
		return "", 0, fmt.Errorf("want 6 numbers in %q", msg)
	}
	n := make([]int, 6)
	for i, s := range f {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > 255 {
			return "", 0, fmt.Errorf("bad number %q in %q", s, msg)
		}
		n[i] = v
	}
	return fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3]), n[4]<<8 | n[5], nil
}

// parse229 returns the port of a 229 reply, "229 ... (|||port|)".
func parse229(msg string) (int, error) {
	open, end := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if open < 0 || end < open+4 {
		return 0, fmt.Errorf("no (|||port|) in %q", msg)
	}
	port, err := strconv.Atoi(msg[open+4 : end])
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("bad port in %q", msg)
	}
	return port, nil
}
