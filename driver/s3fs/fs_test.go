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
