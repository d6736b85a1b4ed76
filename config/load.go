package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path on top of Default and validates the
// result. An unknown key, a value of the wrong type and every validation
// problem are reported with the key that caused them.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := Parse(string(data))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes TOML text on top of Default, strictly, and validates it.
func Parse(text string) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		return Config{}, decodeError(err)
	}
	// Certificate files without an explicit self_signed mean "use them":
	// the first-run default of self-signed gives way.
	if (cfg.TLS.CertFile != "" || cfg.TLS.KeyFile != "") && !md.IsDefined("tls", "self_signed") {
		cfg.TLS.SelfSigned = false
	}
	// Unknown keys and validation problems are reported together, so that
	// one run shows everything to fix (a misspelt key often explains a
	// validation problem, e.g. "cert_flie" and "tls.cert_file: required").
	problems := unknownKeys(md.Undecoded())
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return cfg, nil
}

// unknownKeys reports each undecoded key once: the keys inside an unknown
// table are not repeated after the table itself.
func unknownKeys(undecoded []toml.Key) []error {
	var problems []error
	var reported []toml.Key
next:
	for _, key := range undecoded {
		for _, r := range reported {
			if len(key) > len(r) && slices.Equal(key[:len(r)], r) {
				continue next
			}
		}
		reported = append(reported, key)
		problems = append(problems, fmt.Errorf("unknown key %q", key.String()))
	}
	return problems
}

// decodeError turns toml's error into one line that names the key and line.
func decodeError(err error) error {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		msg := strings.TrimSpace(perr.Message)
		if perr.Position.Line > 0 {
			if perr.LastKey != "" {
				return fmt.Errorf("line %d: key %q: %s", perr.Position.Line, perr.LastKey, msg)
			}
			return fmt.Errorf("line %d: %s", perr.Position.Line, msg)
		}
	}
	// Type mismatches come as plain errors carrying the same information in
	// another layout; rewrite them like the others.
	if m := typeErrorRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("line %s: key %q: %s", m[1], m[2], m[3])
	}
	return err
}

// typeErrorRE matches toml's `toml: line 2 (last key "server.listen"): ...`.
var typeErrorRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
