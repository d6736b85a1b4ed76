package config

import (
	"errors"
	"fmt"
	"os"
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
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		problems := make([]error, 0, len(undecoded))
		for _, key := range undecoded {
			problems = append(problems, fmt.Errorf("unknown key %q", key.String()))
		}
		return Config{}, errors.Join(problems...)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
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
	return err
}
