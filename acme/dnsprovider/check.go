package dnsprovider

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// CheckCommand says why command cannot be an Exec provider's command,
// or nil: its program must be an absolute path (it is run without a
// shell) to an executable regular file.
func CheckCommand(command []string) error {
	if len(command) == 0 || command[0] == "" {
		return errors.New("no command")
	}
	prog := command[0]
	if !filepath.IsAbs(prog) {
		return fmt.Errorf("the program %q must be an absolute path (it is run without a shell)", prog)
	}
	fi, err := os.Stat(prog)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", prog)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (mode %s)", prog, fi.Mode().Perm())
	}
	return nil
}

// maxSecretFile bounds what CheckSecretFile reads.
const maxSecretFile = 64 << 10

// keyFileSecret finds the secret in a key file as BIND's tsig-keygen
// (secret "...";) or Knot's keymgr (secret: ...) writes it.
var keyFileSecret = regexp.MustCompile(`(?m)\bsecret:?\s+"?([A-Za-z0-9+/=]+)"?`)

// CheckSecretFile reads a TSIG secret from path and returns it: the
// file holds the base64 secret alone (blanks around it ignored), or is a
// key file as BIND's tsig-keygen or Knot's keymgr writes it, with one
// key. The error says why the file cannot be used.
func CheckSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d KiB: not a TSIG secret", path, maxSecretFile>>10)
	}
	secret := strings.TrimSpace(string(b))
	if m := keyFileSecret.FindAllStringSubmatch(secret, -1); len(m) > 1 {
		return "", fmt.Errorf("%s: holds %d keys, want one", path, len(m))
	} else if len(m) == 1 {
		secret = m[0][1]
	}
	if err := checkSecret(secret); err != nil {
		return "", fmt.Errorf("%s: TSIG secret %w", path, err)
	}
	return secret, nil
}
