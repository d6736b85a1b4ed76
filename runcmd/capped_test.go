package runcmd

import (
	"strings"
	"testing"
)

// TestCapped: the first Limit bytes are kept and the rest counted; the
// last line comes from the end of the output however long it is.
func TestCapped(t *testing.T) {
	c := &Capped{Limit: 10}
	for _, w := range []string{"0123456", "789abc\nmiddle line\n", strings.Repeat("x", 1000), "\nthe last line\r\n", "\n  \n"} {
		if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(w), n, err)
		}
	}
	if got, want := c.Len(), 7+19+1000+16+4; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if got, want := c.String(), "0123456789... (1036 more bytes)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := c.LastLine(); got != "the last line" {
		t.Errorf("LastLine = %q, want %q", got, "the last line")
	}

	one := &Capped{Limit: OutputLimit}
	_, _ = one.Write([]byte("only\n"))
	if one.String() != "only\n" || one.LastLine() != "only" {
		t.Errorf("String %q, LastLine %q; want all of it and %q", one.String(), one.LastLine(), "only")
	}
	long := &Capped{}
	_, _ = long.Write([]byte(strings.Repeat("y", 2000)))
	if got := long.LastLine(); len(got) != tailLimit {
		t.Errorf("LastLine of a 2000-byte line has %d bytes, want its last %d", len(got), tailLimit)
	}
}
