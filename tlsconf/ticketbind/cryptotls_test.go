package ticketbind

import (
	"regexp"
	"runtime"
	"testing"
)

// goMinor matches the major.minor release in runtime.Version():
// "go1.26.8", "go1.27rc1", "devel go1.27-abcdef +0000".
var goMinor = regexp.MustCompile(`go\d+\.\d+`)

// TestCryptoTLSReviewed fails on any Go release other than the one the
// list of crypto/tls behaviours in cryptotls.go was last checked against,
// so that a Go upgrade cannot change one of them unnoticed.
func TestCryptoTLSReviewed(t *testing.T) {
	running := goMinor.FindString(runtime.Version())
	if running == "" {
		t.Fatalf("cannot read the Go release from runtime.Version() %q", runtime.Version())
	}
	if running != reviewedFor {
		t.Fatalf("running %s (%s), but the crypto/tls behaviours ftpsd relies on were reviewed for %s: "+
			"re-read each entry of tlsconf/ticketbind/cryptotls.go against crypto/tls's release notes and sources for %s, "+
			"run the tests each entry names, fix what changed, then set reviewedFor = %q",
			running, runtime.Version(), reviewedFor, running, running)
	}
}

func TestGoMinor(t *testing.T) {
	for version, want := range map[string]string{
		"go1.26.8":                  "go1.26",
		"go1.26":                    "go1.26",
		"go1.27rc1":                 "go1.27",
		"devel go1.27-abcdef +0000": "go1.27",
	} {
		if got := goMinor.FindString(version); got != want {
			t.Errorf("%q: release %q, want %q", version, got, want)
		}
	}
}
