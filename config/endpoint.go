package config

import (
	"fmt"
	"net/url"
)

// Endpoint is the URL of an S3-compatible store, written
// "https://s3.example.net" or "http://127.0.0.1:9000": a scheme and a host,
// nothing else.
type Endpoint struct {
	host    string // host[:port]
	secure  bool   // https
	text    string
	problem error // why the text did not parse; see Validate
}

// ParseEndpoint parses an http or https URL without path, query or user;
// an empty text is an unset Endpoint.
func ParseEndpoint(s string) (Endpoint, error) {
	e := Endpoint{text: s}
	if s == "" {
		return e, nil // not set; Validate requires it where it is needed
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return e, fmt.Errorf("%q is not a URL with a scheme and a host (use \"https://s3.example.net\")", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return e, fmt.Errorf("%q: the scheme must be http or https", s)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return e, fmt.Errorf("%q must name only a scheme and a host (the bucket is storage.bucket)", s)
	}
	e.host, e.secure = u.Host, u.Scheme == "https"
	return e, nil
}

// UnmarshalText parses the URL; see the package's note on bad text.
func (e *Endpoint) UnmarshalText(text []byte) error {
	*e, e.problem = ParseEndpoint(string(text))
	return nil
}

// MarshalText writes the URL as configured.
func (e Endpoint) MarshalText() ([]byte, error) { return []byte(e.text), nil }

// Host returns the host and port of the URL.
func (e Endpoint) Host() string { return e.host }

// Secure reports whether the URL is https.
func (e Endpoint) Secure() bool { return e.secure }

// String returns the URL as configured.
func (e Endpoint) String() string { return e.text }
