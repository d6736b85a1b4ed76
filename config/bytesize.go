package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is an amount of bytes written with a binary unit: "8MiB",
// "512KiB", "1GiB" or "4096B".
type ByteSize struct {
	n       int64
	text    string
	problem error // why the text did not parse; see Validate
}

// BytesOf returns the size n, written in the largest unit that divides it.
func BytesOf(n int64) ByteSize {
	for _, u := range byteUnits {
		if n >= u.size && n%u.size == 0 {
			return ByteSize{n: n, text: strconv.FormatInt(n/u.size, 10) + u.name}
		}
	}
	return ByteSize{n: n, text: strconv.FormatInt(n, 10) + "B"}
}

// byteUnits are the units of a ByteSize, largest first.
var byteUnits = []struct {
	name string
	size int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseByteSize parses a whole number followed by B, KiB, MiB or GiB.
func ParseByteSize(s string) (ByteSize, error) {
	for _, u := range byteUnits {
		num, ok := strings.CutSuffix(s, u.name)
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || v < 0 || v > (1<<62)/u.size {
			break
		}
		return ByteSize{n: v * u.size, text: s}, nil
	}
	return ByteSize{}, fmt.Errorf("%q is not a size (use a value such as \"8MiB\"; units B, KiB, MiB, GiB)", s)
}

// UnmarshalText parses the size; see the package's note on bad text.
func (b *ByteSize) UnmarshalText(text []byte) error {
	parsed, err := ParseByteSize(string(text))
	*b = parsed
	b.text, b.problem = string(text), err
	return nil
}

// MarshalText writes the size as configured.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.text), nil }

// Set reports whether the size was given (a zero ByteSize was not).
func (b ByteSize) Set() bool { return b.text != "" || b.n != 0 || b.problem != nil }

// Bytes returns the size in bytes.
func (b ByteSize) Bytes() int64 { return b.n }

// String returns the size as configured ("8MiB").
func (b ByteSize) String() string { return b.text }
