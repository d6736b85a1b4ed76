package control

import (
	"strings"
	"testing"
)

// TestRewriteHash: FEAT's line of the lib's algorithms, in any order,
// becomes the draft's HASH line of the offered ones with the current one
// starred; the lib's commands of other algorithms and the first line of
// its hash replies go; other lines stay.
func TestRewriteHash(t *testing.T) {
	offered := []string{"SHA-1", "SHA-256", "SHA-512"}
	for _, tc := range []struct{ in, want string }{
		{" CRC32;MD5;SHA-1;SHA-256*;SHA-512;\r\n", " HASH SHA-1;SHA-256*;SHA-512\r\n"},
		{" SHA-512*;MD5;CRC32;SHA-256;SHA-1;\r\n", " HASH SHA-1;SHA-256;SHA-512*\r\n"},
		{" MD5*;SHA-256;CRC32;SHA-1;SHA-512;\r\n", " HASH SHA-1;SHA-256;SHA-512\r\n"},
		{" XCRC\r\n", ""},
		{" MD5\r\n", ""},
		{" XMD5\r\n", ""},
		{" XSHA\r\n", " XSHA\r\n"},
		{" XSHA256\r\n", " XSHA256\r\n"},
		{"213-Computing SHA-256 digest\r\n", ""},
		{"250-Computing SHA-1 digest\r\n", ""},
		{"213 SHA-256 0-4 abcd f\r\n", "213 SHA-256 0-4 abcd f\r\n"},
		{" PROT\r\n", " PROT\r\n"},
		{" MLSD\r\n", " MLSD\r\n"},
		{"250-Computing is fun\r\n", "250-Computing is fun\r\n"},
	} {
		got := tc.in
		if isLibHashLine([]byte(tc.in)) {
			got = string(rewriteHash([]byte(tc.in), offered))
		}
		if got != tc.want {
			t.Errorf("%q became %q, want %q", strings.TrimSpace(tc.in), got, tc.want)
		}
	}
}
