package runcmd

import (
	"bytes"
	"fmt"
	"strings"
)

// tailLimit bounds the end of the output a Capped keeps for LastLine.
const tailLimit = 512

// Capped keeps the first Limit bytes written to it and the last
// tailLimit, and counts the rest. Its zero Limit keeps nothing but the
// count and the tail.
type Capped struct {
	Limit   int
	buf     bytes.Buffer
	tail    []byte
	dropped int
}

// Write keeps what fits and never fails.
func (c *Capped) Write(p []byte) (int, error) {
	keep := max(0, min(len(p), c.Limit-c.buf.Len()))
	c.buf.Write(p[:keep])
	c.dropped += len(p) - keep
	if len(p) >= tailLimit {
		c.tail = append(c.tail[:0], p[len(p)-tailLimit:]...)
	} else {
		c.tail = append(c.tail, p...)
		if over := len(c.tail) - tailLimit; over > 0 {
			c.tail = append(c.tail[:0], c.tail[over:]...)
		}
	}
	return len(p), nil
}

// Len is how many bytes were written, kept or not.
func (c *Capped) Len() int { return c.buf.Len() + c.dropped }

// String is what was kept, and how many bytes were not.
func (c *Capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s... (%d more bytes)", c.buf.String(), c.dropped)
	}
	return c.buf.String()
}

// LastLine is the last line that is not blank of what was written (of
// its last 512 bytes), without its line end.
func (c *Capped) LastLine() string {
	s := strings.TrimRight(string(c.tail), " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
