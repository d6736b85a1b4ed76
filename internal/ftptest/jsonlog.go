package ftptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DuplicateKeys returns the keys that appear more than once in one object
// of the JSON text line (a log line), nested objects included, each named
// by its path ("a.b"). encoding/json keeps the last of two equal keys
// without a word, and so do most log pipelines: a line that says "user"
// twice may lose either.
func DuplicateKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var dups []string
	if err := walkJSON(dec, "", &dups); err != nil {
		return nil, fmt.Errorf("JSON line %q: %w", line, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("JSON line %q: more than one value", line)
	}
	return dups, nil
}

// walkJSON reads one value from dec and appends to dups the keys repeated
// within each of its objects.
func walkJSON(dec *json.Decoder, path string, dups *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := path + k.(string)
			if seen[key] {
				*dups = append(*dups, key)
			}
			seen[key] = true
			if err := walkJSON(dec, key+".", dups); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := walkJSON(dec, path, dups); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
