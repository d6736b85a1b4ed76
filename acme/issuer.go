package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"

	"ftpsd/config"
)

// certObtainTimeout bounds one attempt to obtain a certificate (an order
// with its challenges); certmagic retries a failed one with backoff.
const certObtainTimeout = 10 * time.Minute

// newIssuer builds the ACME issuer of cfg from the [acme] table: the CA,
// its roots, the account, External Account Binding and the challenge. With
// http_listen_always it also returns the listener that answers HTTP-01.
func newIssuer(cfg *certmagic.Config, opts Options, logger *zap.Logger) (*certmagic.ACMEIssuer, *httpListener, error) {
	a := opts.ACME
	tmpl := certmagic.ACMEIssuer{
		CA:                      a.DirectoryURL(),
		Email:                   a.Email,
		Agreed:                  true,
		DisableTLSALPNChallenge: true,
		CertObtainTimeout:       certObtainTimeout,
		Logger:                  logger.Named("certmagic"),
	}
	var err error
	if tmpl.TrustedRoots, err = LoadRoots(a.CARootFile); err != nil {
		return nil, nil, err
	}
	if a.EABKeyID != "" {
		key, err := ReadSecretFile("acme.eab_hmac_file", a.EABHMACFile)
		if err != nil {
			return nil, nil, err
		}
		tmpl.ExternalAccount = &acme.EAB{KeyID: a.EABKeyID, MACKey: key}
	}
	var always *httpListener
	switch a.Challenge {
	case config.ChallengeHTTP01:
		host, port, err := net.SplitHostPort(a.HTTPListen)
		if err != nil {
			return nil, nil, fmt.Errorf("acme.http_listen: %w", err)
		}
		tmpl.ListenHost = host
		if tmpl.AltHTTPPort, err = strconv.Atoi(port); err != nil {
			return nil, nil, fmt.Errorf("acme.http_listen: %w", err)
		}
	case config.ChallengeDNS01:
		tmpl.DisableHTTPChallenge = true
		if tmpl.DNS01Solver, err = newDNS01Solver(a, logger); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("acme.challenge: %q is not one of \"dns-01\", \"http-01\"", a.Challenge)
	}
	issuer := certmagic.NewACMEIssuer(cfg, tmpl)
	if a.Challenge == config.ChallengeHTTP01 && a.HTTPListenAlways {
		always = &httpListener{addr: a.HTTPListen, handler: issuer.HTTPChallengeHandler(http.NotFoundHandler()), logger: logger}
	}
	return issuer, always, nil
}

// LoadRoots reads the PEM certificates of [acme] ca_root_file; "" is nil
// (the system's roots).
func LoadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("acme.ca_root_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("acme.ca_root_file: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// ReadSecretFile returns the first line of the file of key, which must
// not be empty.
func ReadSecretFile(key, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, file)
	}
	return s, nil
}

// httpListener answers HTTP-01 challenges on [acme] http_listen for as
// long as the Manager runs (http_listen_always), and nothing else: any
// other path is 404.
type httpListener struct {
	addr    string
	handler http.Handler
	logger  *zap.Logger
	srv     *http.Server
}

// httpHeaderTimeout bounds how long a client of the HTTP-01 listener may
// take to send its request headers.
const httpHeaderTimeout = 10 * time.Second

func (h *httpListener) start(workers *sync.WaitGroup) error {
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		return fmt.Errorf("acme.http_listen %s: %w", h.addr, err)
	}
	h.srv = &http.Server{Handler: h.handler, ReadHeaderTimeout: httpHeaderTimeout}
	workers.Go(func() {
		if err := h.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.logger.Error("HTTP-01 listener stopped", zap.Error(err))
		}
	})
	return nil
}

func (h *httpListener) stop() {
	if h.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
	}
}
