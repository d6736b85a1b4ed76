package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
)

// Values that decode themselves from their TOML text, once. A text that
// does not parse is kept, not rejected, while decoding, so that Validate
// reports it with every other problem of the file at once.

// PortRange is an inclusive range of TCP ports, written "START-END".
type PortRange struct {
	Start, End int
	problem    error // why the text did not parse; see Validate
}

// PortsOf returns the range start-end.
func PortsOf(start, end int) PortRange { return PortRange{Start: start, End: end} }

// ParsePortRange parses "START-END" (or a single port) with both ends in
// 1024-65535 and START <= END.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	start, err1 := strconv.Atoi(strings.TrimSpace(lo))
	end, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%q is not a port range (use \"50000-50099\")", s)
	}
	if start < minPort || end > maxPort || start > maxPort || end < minPort {
		return PortRange{}, fmt.Errorf("%q: ports must lie in %d-%d", s, minPort, maxPort)
	}
	if start > end {
		return PortRange{}, fmt.Errorf("%q: start is above end", s)
	}
	return PortRange{Start: start, End: end}, nil
}

// Bounds of a passive port.
const (
	minPort = 1024
	maxPort = 65535
)

// errNoRange is the problem of an empty range text: an error for
// passive.ports, "no translation" for passive.announce_ports.
var errNoRange = errors.New(`"" is not a port range (use "50000-50099")`)

// UnmarshalText parses the range; see the package's note on bad text.
// An empty text is the zero range (see IsZero).
func (r *PortRange) UnmarshalText(text []byte) error {
	if strings.TrimSpace(string(text)) == "" {
		*r = PortRange{}
		return nil
	}
	parsed, err := ParsePortRange(string(text))
	*r = parsed
	r.problem = err
	return nil
}

// MarshalText writes "START-END", or "" for the zero range.
func (r PortRange) MarshalText() ([]byte, error) {
	if r.IsZero() {
		return []byte{}, nil
	}
	return []byte(r.String()), nil
}

// IsZero reports whether the range is empty (written "").
func (r PortRange) IsZero() bool { return r.Start == 0 && r.End == 0 }

// Len returns the number of ports in the range.
func (r PortRange) Len() int { return r.End - r.Start + 1 }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int) bool { return port >= r.Start && port <= r.End }

// String writes the range as "START-END".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// TLSVersion is a TLS protocol version, written "1.2" or "1.3".
type TLSVersion struct {
	id   uint16 // crypto/tls's constant; 0 when the text is not a version
	text string
}

// tlsVersionID returns crypto/tls's id of a version a configuration may
// name, or 0.
func tlsVersionID(name string) uint16 {
	switch name {
	case "1.2":
		return tls.VersionTLS12
	case "1.3":
		return tls.VersionTLS13
	}
	return 0
}

// TLSVersionOf returns the version with crypto/tls's id (tls.VersionTLS12
// or tls.VersionTLS13).
func TLSVersionOf(id uint16) TLSVersion {
	for _, name := range []string{"1.2", "1.3"} {
		if tlsVersionID(name) == id {
			return TLSVersion{id: id, text: name}
		}
	}
	return TLSVersion{text: fmt.Sprintf("%#04x", id)}
}

// UnmarshalText parses "1.2" or "1.3"; see the package's note on bad text.
func (v *TLSVersion) UnmarshalText(text []byte) error {
	*v = TLSVersion{id: tlsVersionID(string(text)), text: string(text)}
	return nil
}

// MarshalText writes the version as it is configured.
func (v TLSVersion) MarshalText() ([]byte, error) { return []byte(v.text), nil }

// ID returns crypto/tls's id of the version.
func (v TLSVersion) ID() uint16 { return v.id }

// String returns the version as configured ("1.2").
func (v TLSVersion) String() string { return v.text }

// LogLevel is a log level, written "debug", "info", "warn" or "error".
type LogLevel struct {
	level zapcore.Level
	text  string
	ok    bool
}

// LogLevelOf returns the level l.
func LogLevelOf(l zapcore.Level) LogLevel { return LogLevel{level: l, text: l.String(), ok: true} }

// UnmarshalText parses a level; see the package's note on bad text.
func (l *LogLevel) UnmarshalText(text []byte) error {
	*l = LogLevel{text: string(text)}
	switch lvl, err := zapcore.ParseLevel(string(text)); {
	case err != nil:
	case lvl == zapcore.DebugLevel, lvl == zapcore.InfoLevel, lvl == zapcore.WarnLevel, lvl == zapcore.ErrorLevel:
		l.level, l.ok = lvl, string(text) == lvl.String()
	}
	return nil
}

// MarshalText writes the level as configured.
func (l LogLevel) MarshalText() ([]byte, error) { return []byte(l.text), nil }

// Level returns the zap level.
func (l LogLevel) Level() zapcore.Level { return l.level }

// String returns the level as configured.
func (l LogLevel) String() string { return l.text }

// Require is the word of [tls] require.
type Require string

// CCCPolicy is the word of [tls] ccc.
type CCCPolicy string

// Backend is the word of [storage] backend.
type Backend string

// AnnounceWord is the word of [passive] announce_after_ccc.
type AnnounceWord string

// LogFormat is the word of [log] format.
type LogFormat string

// UnmarshalTOML accepts only a string: min_version = 1.2 (a number) is
// refused like any other value of the wrong type.
func (v *TLSVersion) UnmarshalTOML(value any) error {
	s, ok := value.(string)
	if !ok {
		return fmt.Errorf("incompatible types: TOML value has type %T; destination has type string", value)
	}
	return v.UnmarshalText([]byte(s))
}
