package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the configuration parser: it must
// never panic, must give the same answer twice, and whatever it accepts
// must be valid, with its passive range inside the allowed ports.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.toml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(seeds, filepath.Join("..", "config.example.toml")) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("[passive]\nports = \"65535-1024\"\n")
	f.Add("[server]\nidle_timeout = \"-1s\"\n[[users]]\nname = \"\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse(text)
		_, again := Parse(text)
		if (err == nil) != (again == nil) || (err != nil && err.Error() != again.Error()) {
			t.Fatalf("two answers for one text: %v / %v", err, again)
		}
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("accepted, then invalid: %v", verr)
		}
		if p := cfg.Passive.Ports; p.Start < minPort || p.End > maxPort || p.Start > p.End {
			t.Fatalf("accepted passive range %v", p)
		}
	})
}

// FuzzParsePortRange: a parsed range lies in the allowed ports, start not
// above end, and its text parses back to itself.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"50000-50019", "2121", " 1024 - 65535 ", "65535-1024", "1-2", "-", "0x10-20", "+1024-+1025", "50000-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			if !strings.Contains(err.Error(), "port") && !strings.Contains(err.Error(), "start") {
				t.Fatalf("error %q does not say what is wrong", err)
			}
			return
		}
		if r.Start < minPort || r.End > maxPort || r.Start > r.End {
			t.Fatalf("%q parsed to %v", s, r)
		}
		back, err := ParsePortRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %v -> %v, %v", s, r, back, err)
		}
	})
}
