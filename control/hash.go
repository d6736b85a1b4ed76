package control

import (
	"bytes"
	"slices"
	"strings"
)

// The lib's lines about HASH (draft-bryan-ftpext-hash), which ftpsd
// answers through the lib when server.hash_command is on:
//
//   - FEAT names the algorithms without the command, in the order of a
//     map, and every one it knows: " CRC32;MD5;SHA-1;SHA-256*;SHA-512;".
//     The draft's line is " HASH SHA-1;SHA-256*;SHA-512", the current
//     algorithm starred.
//   - FEAT lists the lib's other hash commands one per line (" XCRC",
//     " MD5", " XMD5", " XSHA", " XSHA1", " XSHA256", " XSHA512").
//   - The reply to HASH opens with a line of its own, "213-Computing
//     SHA-256 digest", before the draft's one line; that of XSHA256 (and
//     the others) likewise, "250-Computing SHA-256 digest", before the
//     "250 <hex>" that clients of these commands read.

// libHashCommands are the lib's hash commands besides HASH and the
// algorithm each computes.
var libHashCommands = map[string]string{
	"XCRC": "CRC32", "MD5": "MD5", "XMD5": "MD5",
	"XSHA": "SHA-1", "XSHA1": "SHA-1", "XSHA256": "SHA-256", "XSHA512": "SHA-512",
}

// libHashFirstLines start the first line of the lib's reply to HASH and
// to the other hash commands.
var libHashFirstLines = [][]byte{[]byte("213-Computing "), []byte("250-Computing ")}

// isLibHashLine reports whether p is one of the lib's lines above.
func isLibHashLine(p []byte) bool {
	switch {
	case bytes.HasSuffix(p, []byte(" digest\r\n")) && slices.ContainsFunc(libHashFirstLines, func(l []byte) bool { return bytes.HasPrefix(p, l) }):
		return true
	case len(p) < 3 || p[0] != ' ' || !bytes.HasSuffix(p, []byte("\r\n")):
		return false
	}
	word := string(p[1 : len(p)-2])
	_, command := libHashCommands[word]
	return command || strings.HasSuffix(word, ";") && strings.Contains(word, "SHA-256")
}

// rewriteHash returns what to send instead of the lib's line p about HASH
// (isLibHashLine) when the driver computes the algorithms offered: FEAT's
// line of algorithms as the draft writes it with the offered ones alone,
// the commands of other algorithms and the reply's first line dropped.
func rewriteHash(p []byte, offered []string) []byte {
	if p[0] != ' ' {
		return nil // the reply's first line: the draft's reply is one line
	}
	word := string(p[1 : len(p)-2])
	if algo, ok := libHashCommands[word]; ok {
		if slices.Contains(offered, algo) {
			return p
		}
		return nil
	}
	current := ""
	for a := range strings.SplitSeq(word, ";") {
		if name, ok := strings.CutSuffix(a, "*"); ok {
			current = name
		}
	}
	var b strings.Builder
	b.WriteString(" HASH ")
	for i, a := range offered {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(a)
		if a == current {
			b.WriteByte('*')
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
