package control

import (
	"bytes"
	"strings"
)

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
