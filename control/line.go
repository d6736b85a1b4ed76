package control

import (
	"bytes"
	"strings"

	"go.uber.org/zap"
)

// MaxLineLength is the longest command line accepted, terminator included.
// It matches the read buffer of ftpserverlib, which would otherwise drop the
// client without a word.
const MaxLineLength = 4096

// recordTypeHandshake starts a TLS ClientHello; no FTP command does.
const recordTypeHandshake = 0x16

// maxBadLines is how many malformed lines in a row a client may send before
// it is disconnected.
const maxBadLines = 5

// readLine returns the next line, terminator included.
func (c *Conn) readLine() ([]byte, error) {
	for {
		src := &c.in.w.buf
		if c.tlsConn.Load() != nil || len(c.in.plain) > 0 {
			src = &c.in.plain
		}
		if src == &c.in.w.buf && c.in.lateTLS != nil {
			if err := c.settleLateAlert(); err != nil {
				return nil, err
			}
			continue
		}
		if src == &c.in.w.buf && len(*src) > 0 && (*src)[0] == recordTypeHandshake {
			return nil, c.drop(0, "", ErrTLSOnClear)
		}
		if line, ok, err := c.cutLine(src); ok || err != nil {
			return line, err
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// cutLine removes the first line from src and returns it, when a whole
// line is there; a line longer than MaxLineLength drops the client.
func (c *Conn) cutLine(src *[]byte) ([]byte, bool, error) {
	i := bytes.IndexByte(*src, '\n')
	if i >= 0 && i < MaxLineLength {
		line := bytes.Clone((*src)[:i+1])
		*src = (*src)[i+1:]
		if len(*src) == 0 {
			c.in.releaseEmpty()
		}
		c.in.reactions.commandCame()
		return line, true, nil
	}
	if i >= 0 || len(*src) >= MaxLineLength {
		return nil, false, c.drop(500, "Command line too long.", ErrLineTooLong)
	}
	return nil, false, nil
}

// fill reads more bytes from the socket, through TLS when it is on.
func (c *Conn) fill() error {
	t := c.tlsConn.Load()
	if t == nil {
		return c.in.w.fill()
	}
	if err := c.handshake(t); err != nil {
		return err
	}
	n, err := c.in.readTLS(t)
	if n > 0 {
		return nil
	}
	return err
}

// rejectMalformed answers a line with control characters and reports
// whether it did; after maxBadLines of them in a row it drops the client.
func (c *Conn) rejectMalformed(line []byte) (bool, error) {
	if validLine(line) {
		c.in.badLines = 0
		return false, nil
	}
	c.in.badLines++
	if c.in.badLines >= maxBadLines {
		return true, c.drop(421, "Too many malformed commands, closing control connection.", ErrTooManyJunk)
	}
	c.log().Warn("malformed command line", zap.Int("bytes", len(line)))
	return true, c.reply(500, "Malformed command line (control characters).")
}

// splitCommand returns the upper-case verb of a command line and its
// parameter, trimmed.
func splitCommand(line []byte) (verb, param string) {
	s := strings.TrimRight(string(line), "\r\n")
	verb, param, _ = strings.Cut(s, " ")
	return strings.ToUpper(verb), strings.TrimSpace(param)
}

// validLine reports whether a line holds no control characters besides
// the terminator and tabs. Bytes of 0x80 and above are allowed: file names
// are UTF-8, and Telnet IP/Synch sequences (IAC IP IAC DM) come before ABOR.
func validLine(line []byte) bool {
	body := bytes.TrimRight(line, "\r\n")
	for _, b := range body {
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
