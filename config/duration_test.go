package config

import (
	"testing"
	"time"
)

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 90 * time.Second, 5 * time.Minute,
		2*time.Hour + 30*time.Minute, 1500 * time.Millisecond, 250 * time.Microsecond} {
		text, err := Duration(d).MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Duration
		if err := got.UnmarshalText(text); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", text, err)
		}
		if got.Std() != d {
			t.Errorf("%v -> %q -> %v", d, text, got.Std())
		}
	}
}

func TestDurationUnmarshal(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || d.Std() != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, d.Std(), err, want)
		}
	}
	for _, in := range []string{"", "5", "5 minutes", "five", "5d"} {
		d := Duration(time.Minute)
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded: %v", in, d.Std())
		} else if d.Std() != time.Minute {
			t.Errorf("UnmarshalText(%q) changed the value on error to %v", in, d.Std())
		}
	}
}
