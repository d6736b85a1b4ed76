package acme

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"ftpsd/acme/dnsprovider"
	"ftpsd/config"
)

// checkTimeout bounds Check's request of the CA's directory.
const checkTimeout = 15 * time.Second

// Check is [acme] as "ftpsd check" sees it, beyond config's validation:
// the CA's directory answers (trusting ca_root_file), the TSIG secret is
// a readable base64 file, the exec command can be run, the EAB key file
// is readable. Every error names its key; all are reported at once.
func Check(ctx context.Context, a config.ACME) error {
	if !a.Enabled() {
		return nil
	}
	return errors.Join(checkDirectory(ctx, a), CheckLocal(a))
}

// CheckLocal is Check without the CA's directory: what this host alone
// can tell (ftpsd check -offline, the unit's check before each start,
// which must not fail while the CA is down: serve starts then and serves
// a placeholder certificate until the CA answers).
func CheckLocal(a config.ACME) error {
	if !a.Enabled() {
		return nil
	}
	var errs []error
	if err := checkStorageDir(a.Storage); err != nil {
		errs = append(errs, err)
	}
	if a.EABKeyID != "" {
		if _, err := ReadSecretFile("acme.eab_hmac_file", a.EABHMACFile); err != nil {
			errs = append(errs, err)
		}
	}
	if a.Challenge == config.ChallengeDNS01 {
		switch a.DNSProvider {
		case config.DNSRFC2136:
			if _, err := dnsprovider.CheckSecretFile(a.RFC2136.TSIGSecretFile); err != nil {
				errs = append(errs, fmt.Errorf("acme.rfc2136.tsig_secret_file: %w", err))
			}
		case config.DNSExec:
			if err := dnsprovider.CheckCommand(a.Exec.Command); err != nil {
				errs = append(errs, fmt.Errorf("acme.exec.command: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkDirectory GETs the CA's directory and wants its JSON with a
// newOrder URL.
func checkDirectory(ctx context.Context, a config.ACME) error {
	roots, err := LoadRoots(a.CARootFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	url := a.DirectoryURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("acme.ca: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("acme.ca: the CA's directory is not reachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("acme.ca: GET %s: %s", url, resp.Status)
	}
	var dir struct {
		NewOrder string `json:"newOrder"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil || dir.NewOrder == "" {
		return fmt.Errorf("acme.ca: %s is not an ACME directory (no newOrder)", url)
	}
	return nil
}

// checkStorageDir wants the directory of [acme] storage to be a directory,
// or to be creatable: its nearest existing parent a directory.
func checkStorageDir(dir string) error {
	if dir == config.ACMEStorageS3 {
		return nil // the bucket: driver.Check reaches it
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			return fmt.Errorf("acme.storage: %s is not a directory", p)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR): // ENOTDIR: a parent is a file
			return fmt.Errorf("acme.storage: %w", err)
		case p == filepath.Dir(p):
			return fmt.Errorf("acme.storage: %w", err)
		}
	}
}
