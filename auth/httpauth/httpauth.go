// Package httpauth is the account source of [auth.http]: each login is
// POSTed as JSON to a service of the organisation's, which answers
// whether to admit it and with which account settings.
//
// The request is authenticated to the service by a bearer token, an
// HMAC-SHA256 signature of the body as [[hooks]] sign theirs
// (X-Ftpsd-Timestamp, X-Ftpsd-Signature), or both; TLS is verified. The
// answer {"allow": true, ...} admits, {"allow": false} is a wrong
// password, {"allow": false, "unknown": true} an unknown user (the next
// source is asked). Anything else (a status other than 2xx, a timeout, a
// body that is not the JSON of an answer, a key it does not know) means
// the service cannot answer: ErrUnavailable, the client is told to try
// again later.
package httpauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"ftpsd/auth"
	"ftpsd/config"
	"ftpsd/hooks"
)

// Options configure a Source.
type Options struct {
	// URL is where logins are POSTed.
	URL string
	// Token is sent as "Authorization: Bearer"; nil: none.
	Token []byte
	// Secret signs the body (X-Ftpsd-Signature); nil: unsigned.
	Secret []byte
	// Timeout bounds one request and its answer.
	Timeout time.Duration
	// RootCAs are the certificates trusted for the service's; nil: the
	// system's.
	RootCAs *x509.CertPool
}

// FromConfig returns the Options of [auth.http], its files read.
func FromConfig(c config.HTTPAuth) (Options, error) {
	o := Options{URL: c.URL, Timeout: c.Timeout.Std()}
	var err error
	if c.TokenFile != "" {
		if o.Token, err = hooks.ReadSecret(c.TokenFile); err != nil {
			return Options{}, fmt.Errorf("auth.http.token_file: %w", err)
		}
	}
	if c.SecretFile != "" {
		if o.Secret, err = hooks.ReadSecret(c.SecretFile); err != nil {
			return Options{}, fmt.Errorf("auth.http.secret_file: %w", err)
		}
	}
	if c.CAFile != "" {
		if o.RootCAs, err = rootsWith(c.CAFile); err != nil {
			return Options{}, fmt.Errorf("auth.http.ca_file: %w", err)
		}
	}
	return o, nil
}

// rootsWith returns the system's roots with the PEM certificates of file.
func rootsWith(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// maxAnswer bounds the body of an answer read; a longer one is refused.
// maxConns bounds the connections to the service: more logins at once
// wait for one (within the timeout).
const (
	maxAnswer = 64 << 10
	maxConns  = 32
)

// Source asks the service. It is safe for concurrent use.
type Source struct {
	opts   Options
	client *http.Client
}

// New returns the source of opts.
func New(opts Options) *Source {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // a password goes to the service, not through a proxy of the environment
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs}
	transport.MaxConnsPerHost = maxConns
	transport.MaxIdleConnsPerHost = maxConns
	client := &http.Client{
		Transport: transport,
		// A redirect would carry the password elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Source{opts: opts, client: client}
}

// Name is "http".
func (s *Source) Name() string { return config.SourceHTTP }

// request is the JSON POSTed for a login.
type request struct {
	User     string `json:"user"`
	Password string `json:"password"`
	ClientIP string `json:"client_ip"`
	Protocol string `json:"protocol"`
	// Check is true for the request of ftpsd check (user and password
	// empty); the service answers it as any other.
	Check bool `json:"check,omitempty"`
}

// answer is the JSON the service answers: whether to admit, and the
// account's keys under their [[users]] names and types.
type answer struct {
	Allow           *bool           `json:"allow"`
	Unknown         bool            `json:"unknown"`
	Message         string          `json:"message"`
	Home            string          `json:"home"`
	ReadOnly        bool            `json:"read_only"`
	AllowedNetworks *[]netip.Prefix `json:"allowed_networks"`
	QuotaBytes      config.ByteSize `json:"quota_bytes"`
	QuotaFiles      *int64          `json:"quota_files"`
	MaxDownloadRate config.ByteSize `json:"max_download_rate"`
	MaxUploadRate   config.ByteSize `json:"max_upload_rate"`
	Expires         config.Expiry   `json:"expires"`
	Disabled        bool            `json:"disabled"`
}

// Authenticate POSTs the login and reads the service's answer.
func (s *Source) Authenticate(ctx context.Context, req auth.Request) (config.User, error) {
	client := ""
	if req.Client.IsValid() {
		client = req.Client.String()
	}
	a, err := s.ask(ctx, request{User: req.User, Password: req.Password, ClientIP: client, Protocol: "ftps"})
	if err != nil {
		return config.User{}, err
	}
	switch {
	case !*a.Allow && a.Unknown:
		return config.User{}, auth.ErrUnknownUser
	case !*a.Allow:
		if m := oneLine(a.Message); m != "" {
			return config.User{}, fmt.Errorf("%w (service: %s)", auth.ErrBadPassword, m)
		}
		return config.User{}, auth.ErrBadPassword
	}
	return config.User{
		Name: req.User, Home: a.Home, ReadOnly: a.ReadOnly, AllowedNetworks: a.AllowedNetworks,
		QuotaBytes: a.QuotaBytes, QuotaFiles: a.QuotaFiles,
		MaxDownloadRate: a.MaxDownloadRate, MaxUploadRate: a.MaxUploadRate,
		Expires: a.Expires, Disabled: a.Disabled,
	}, nil
}

// Check sends the request of ftpsd check and wants an answer; its error
// names the key at fault: the token or secret the service refused, the
// CA that does not verify its certificate, else the URL.
func (s *Source) Check(ctx context.Context) error {
	_, err := s.ask(ctx, request{Protocol: "ftps", Check: true})
	var (
		status *statusError
		cert   *tls.CertificateVerificationError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &status) && (status.code == http.StatusUnauthorized || status.code == http.StatusForbidden):
		return fmt.Errorf("auth.http.token_file, auth.http.secret_file: the service refused ftpsd's credentials: %w", err)
	case errors.As(err, &cert):
		return fmt.Errorf("auth.http.ca_file: %w", err)
	}
	return fmt.Errorf("auth.http.url: %w", err)
}

// statusError is an answer whose status is not 2xx.
type statusError struct {
	code int
	text string
}

func (e *statusError) Error() string { return e.text }

// Close closes the idle connections to the service.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// ask POSTs r and decodes the answer; its errors wrap
// auth.ErrUnavailable and never hold the password.
func (s *Source) ask(ctx context.Context, r request) (answer, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return answer{}, fmt.Errorf("%w: encode the request: %w", auth.ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, cause(err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "ftpsd")
	if s.opts.Token != nil {
		hreq.Header.Set("Authorization", "Bearer "+string(s.opts.Token))
	}
	if s.opts.Secret != nil {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		hreq.Header.Set(hooks.HeaderTimestamp, ts)
		hreq.Header.Set(hooks.HeaderSignature, hooks.Sign(s.opts.Secret, ts, body))
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return answer{}, fmt.Errorf("%w: POST %s: %w", auth.ErrUnavailable, redacted(s.opts.URL), cause(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return answer{}, fmt.Errorf("%w: read the answer: %w", auth.ErrUnavailable, cause(err))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return answer{}, fmt.Errorf("%w: %w", auth.ErrUnavailable,
			&statusError{code: resp.StatusCode, text: fmt.Sprintf("the service answered %s: %s", resp.Status, excerpt(data))})
	case len(data) > maxAnswer:
		return answer{}, fmt.Errorf("%w: the answer is longer than %d bytes", auth.ErrUnavailable, maxAnswer)
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return answer{}, fmt.Errorf("%w: the answer is not an account: %w", auth.ErrUnavailable, err)
	}
	if a.Allow == nil {
		return answer{}, fmt.Errorf("%w: the answer has no \"allow\"", auth.ErrUnavailable)
	}
	return a, nil
}

// cause returns the error below net/http's *url.Error, which repeats the
// URL.
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redacted returns u without the password of its user part.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(bad URL)"
	}
	return p.Redacted()
}

// excerpt returns the start of a refusal's body, on one line.
func excerpt(b []byte) string { return oneLine(string(b[:min(len(b), 4*maxLine)])) }

// maxLine bounds the text of the service kept for a log line.
const maxLine = 200

// oneLine folds s onto one line of valid UTF-8, at most maxLine bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) > maxLine {
		s = strings.ToValidUTF8(s[:maxLine], "")
	}
	return s
}

var _ auth.Source = (*Source)(nil)
