package config

import (
	"fmt"
	"time"
)

// Expiry is when an account stops working, written as a date
// ("2027-03-31": from the start of that day in the server's time zone, as
// useradd -e counts) or an RFC 3339 time ("2027-03-31T18:00:00+01:00").
// The zero Expiry is never.
type Expiry struct {
	t       time.Time
	text    string
	problem error // why the text did not parse; see Validate
}

// expiryDate is the layout of an Expiry given as a date.
const expiryDate = "2006-01-02"

// ParseExpiry parses a date or an RFC 3339 time; loc is the time zone of a
// date.
func ParseExpiry(s string, loc *time.Location) (Expiry, error) {
	if t, err := time.ParseInLocation(expiryDate, s, loc); err == nil {
		return Expiry{t: t, text: s}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Expiry{t: t, text: s}, nil
	}
	return Expiry{}, fmt.Errorf("%q is neither a date (\"2027-03-31\") nor an RFC 3339 time (\"2027-03-31T18:00:00Z\")", s)
}

// UnmarshalText parses the expiry in the server's time zone (a TOML date
// written without quotes arrives as an RFC 3339 time at local midnight).
func (e *Expiry) UnmarshalText(text []byte) error {
	parsed, err := ParseExpiry(string(text), time.Local)
	*e = parsed
	e.text, e.problem = string(text), err
	return nil
}

// MarshalText writes the expiry as configured.
func (e Expiry) MarshalText() ([]byte, error) { return []byte(e.text), nil }

// Time returns when the account expires; zero: never.
func (e Expiry) Time() time.Time { return e.t }

// String returns the expiry as configured.
func (e Expiry) String() string { return e.text }
