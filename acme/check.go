package acme

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

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
	var errs []error
	if err := checkDirectory(ctx, a); err != nil {
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
			if _, err := tsigSecret(a.RFC2136.TSIGSecretFile); err != nil {
				errs = append(errs, err)
			}
		case config.DNSExec:
			if _, err := execPath(a.Exec.Command); err != nil {
				errs = append(errs, err)
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

// tsigSecret reads the TSIG secret file and checks it is base64.
func tsigSecret(file string) (string, error) {
	s, err := ReadSecretFile("acme.rfc2136.tsig_secret_file", file)
	if err != nil {
		return "", err
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return "", fmt.Errorf("acme.rfc2136.tsig_secret_file: %s is not base64 (as tsig-keygen writes the secret): %w", file, err)
	}
	return s, nil
}

// execPath returns the path of the exec command's program, which must be
// an executable file.
func execPath(command []string) (string, error) {
	if len(command) == 0 {
		return "", errors.New("acme.exec.command: empty")
	}
	p, err := exec.LookPath(command[0])
	if err != nil {
		return "", fmt.Errorf("acme.exec.command: %w", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return "", fmt.Errorf("acme.exec.command: %s is not an executable file", p)
	}
	return p, nil
}
