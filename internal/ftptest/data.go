package ftptest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// RandomData returns n random bytes.
func RandomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// SHA256Hex returns the SHA-256 of b in hex.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SameData returns an error with both sizes and checksums unless got
// equals want.
func SameData(got, want []byte) error {
	if g, w := SHA256Hex(got), SHA256Hex(want); len(got) != len(want) || g != w {
		return fmt.Errorf("got %d bytes sha256 %s, want %d bytes sha256 %s", len(got), g, len(want), w)
	}
	return nil
}

// SameFile is SameData for the content of the file at path.
func SameFile(path string, want []byte) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := SameData(got, want); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// MustSameData fails the test unless got equals want; what names the data.
func MustSameData(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if err := SameData(got, want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// MustSameFile fails the test unless the file at path holds want.
func MustSameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	if err := SameFile(path, want); err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes data to dir/name (mode 0644; name may hold slashes, and
// missing directories are made) and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// DirNames returns the sorted names in dir.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// MemoryDir returns a new directory on tmpfs (/dev/shm) where the machine
// has one, else in the test's temporary directory, removed at the end: a
// storage root fast to fill with many entries and to empty.
func MemoryDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "ftpsd-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// uploadPrefix starts the names of the hidden files in which ftpsd
// receives uploads.
const uploadPrefix = ".ftpsd-upload-"

// PartialUploads returns the names of ftpsd's partial uploads in dir.
func PartialUploads(t testing.TB, dir string) []string {
	t.Helper()
	var temps []string
	for _, name := range DirNames(t, dir) {
		if strings.HasPrefix(name, uploadPrefix) {
			temps = append(temps, name)
		}
	}
	return temps
}

// MustNoPartialUploads fails the test when a partial upload is left in dir.
func MustNoPartialUploads(t testing.TB, dir string) {
	t.Helper()
	if left := PartialUploads(t, dir); len(left) != 0 {
		t.Fatalf("partial uploads left in %s: %v", dir, left)
	}
}

// HashPassword returns a bcrypt hash of password at the lowest cost, for
// the users of a test configuration.
func HashPassword(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
