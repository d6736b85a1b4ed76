package s3fs

import (
	"errors"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// TestKeysStayUnderThePrefix: every name maps to a key under the tree's
// prefix, whatever its dots and slashes.
func TestKeysStayUnderThePrefix(t *testing.T) {
	fs := (&Fs{base: "ftp/"}).Sub("alice")
	for name, want := range map[string]string{
		"":                        "ftp/alice/",
		"/":                       "ftp/alice/",
		"a.txt":                   "ftp/alice/a.txt",
		"/d/../a.txt":             "ftp/alice/a.txt",
		"../bob/secret":           "ftp/alice/bob/secret",
		"/../../outside":          "ftp/alice/outside",
		"..//..//ftp/bob/x":       "ftp/alice/ftp/bob/x",
		"%2e%2e/bob":              "ftp/alice/%2e%2e/bob",
		`..\bob`:                  `ftp/alice/..\bob`,
		"d/./e//f/":               "ftp/alice/d/e/f",
		"/../../../../etc/passwd": "ftp/alice/etc/passwd",
	} {
		if got := fs.key(name); got != want {
			t.Errorf("key(%q) = %q, want %q", name, got, want)
		}
	}
	if got := (&Fs{}).Sub("../x").base; got != "x/" {
		t.Errorf("Sub(\"../x\") of the bucket's top: base %q, want x/", got)
	}
}

// TestClassify: failed requests are ErrUnavailable, refusals keep their
// errors.
func TestClassify(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/bucket/ftp/alice/a", Err: syscall.ECONNREFUSED}
	if err := classify(refused); !errors.Is(err, ErrUnavailable) {
		t.Errorf("classify(connection refused) = %v, want ErrUnavailable", err)
	} else if got := err.Error(); got != "storage unavailable: connection refused" {
		t.Errorf("classify(connection refused) says %q, want no URL", got)
	}
	for _, err := range []error{os.ErrExist, syscall.ENOTEMPTY, ErrNoAppend} {
		if got := classify(err); got != err {
			t.Errorf("classify(%v) = %v, want it unchanged", err, got)
		}
	}
}

// TestBudget: reservations fit within the bound or are refused whole, a
// returned one makes room again, and a nil budget bounds nothing.
func TestBudget(t *testing.T) {
	b := newBudget(20)
	for i, want := range []bool{true, true, false} {
		if got := b.take(8); got != want {
			t.Fatalf("take %d of 8 bytes within 20: %v, want %v", i+1, got, want)
		}
	}
	b.give(8)
	if !b.take(8) || b.take(5) || !b.take(4) {
		t.Fatal("after one reservation came back: want 8 taken, 5 refused, 4 taken")
	}
	if b := newBudget(0); b != nil || !b.take(1<<40) {
		t.Fatal("a budget of 0 bounds something")
	}
}
