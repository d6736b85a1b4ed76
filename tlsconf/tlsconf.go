// Package tlsconf is the FTPS server's certificate store: it builds the
// *tls.Config that serves the current certificate.
//
// The certificate comes either from PEM files (a full chain is supported:
// the leaf first, followed by any intermediates) or, for a first run, from
// an ECDSA P-256 self-signed certificate generated in memory. The package
// also maps the configured minimum TLS version ("1.2" or "1.3") and offers,
// under TLS 1.2, only cipher suites with forward secrecy and an AEAD.
//
// A Store hands out one stable *tls.Config whose GetCertificate callback
// reads the current certificate from an atomic pointer, so Reload,
// ReloadFiles and Watch (which re-reads the files when they change) can swap
// the certificate without rebuilding the config or disturbing existing
// listeners and connections.
package tlsconf

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Options says where the certificate comes from and which TLS versions are allowed.
type Options struct {
	CertFile   string   // PEM certificate chain; used when SelfSigned is false
	KeyFile    string   // PEM private key
	SelfSigned bool     // generate an ECDSA P-256 self-signed cert in memory at start
	MinVersion uint16   // tls.VersionTLS12 or tls.VersionTLS13; 0 means TLS 1.2
	Hosts      []string // DNS names / IPs to put in the self-signed cert SANs; default {"localhost","127.0.0.1","::1"}
	// Now is the clock of session ticket key rotation; nil means time.Now.
	Now func() time.Time
}

// Store holds the current certificate and hands out one stable *tls.Config.
// It is safe for concurrent use.
type Store struct {
	opts   Options
	logger *zap.Logger
	cert   atomic.Pointer[tls.Certificate]
	// others are the certificates after the first given to Set, chosen by
	// the server name a client sends; cleared when files are loaded.
	others atomic.Pointer[[]*tls.Certificate]
	mu     sync.Mutex // guards opts' file paths and stamp during reloads
	stamp  string     // size and mtime of the files last loaded
	cfg    *tls.Config
}

// New loads (or generates) the certificate and builds the config. Errors
// name the offending file(s). A nil logger is replaced by a no-op logger.
func New(opts Options, logger *zap.Logger) (*Store, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if opts.MinVersion == 0 {
		opts.MinVersion = tls.VersionTLS12
	}
	if opts.MinVersion != tls.VersionTLS12 && opts.MinVersion != tls.VersionTLS13 {
		return nil, fmt.Errorf("tls min version %#04x: want TLS 1.2 or 1.3", opts.MinVersion)
	}
	s := &Store{opts: opts, logger: logger}
	cert, err := s.initialCert()
	if err != nil {
		return nil, err
	}
	s.cert.Store(cert)
	s.stamp = s.fileStamp()
	s.cfg = &tls.Config{
		MinVersion:     opts.MinVersion,
		CipherSuites:   aeadSuites,
		GetCertificate: s.getCertificate,
	}
	tickets := newTicketKeys(s.cfg, opts.Now)
	s.cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		tickets.rotateIfDue()
		return nil, nil // the config itself
	}
	return s, nil
}

func (s *Store) initialCert() (*tls.Certificate, error) {
	if s.opts.SelfSigned {
		return s.generate()
	}
	return s.loadFiles()
}

func (s *Store) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.byServerName(hello.ServerName); c != nil {
		return c, nil
	}
	return s.cert.Load(), nil
}

// Config returns the same *tls.Config on every call. Its GetCertificate
// reads the atomically stored certificate; session tickets stay enabled,
// under keys that rotate every 12 hours and are dropped TicketLifetime
// after they were made (its GetConfigForClient rotates them: a config
// derived from it must call it before decrypting a ticket).
func (s *Store) Config() *tls.Config {
	return s.cfg
}

// Reload re-reads the certificate and key files. For a self-signed store it
// is a no-op returning nil. On failure the old certificate is kept and the
// error is returned.
func (s *Store) Reload() error {
	s.mu.Lock()
	selfSigned, certFile, keyFile := s.opts.SelfSigned, s.opts.CertFile, s.opts.KeyFile
	s.mu.Unlock()
	if selfSigned {
		return nil
	}
	return s.ReloadFiles(certFile, keyFile)
}

// Fingerprint returns the SHA-256 fingerprint of the current leaf
// certificate as uppercase hex pairs joined by ':' (like
// openssl x509 -fingerprint -sha256).
func (s *Store) Fingerprint() string {
	return fingerprint(s.Leaf())
}

// Leaf returns the current leaf certificate.
func (s *Store) Leaf() *x509.Certificate {
	return s.cert.Load().Leaf
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	pairs := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// loadFiles reads CertFile and KeyFile and returns the checked pair,
// logging it.
func (s *Store) loadFiles() (*tls.Certificate, error) {
	cert, err := loadPair(s.opts.CertFile, s.opts.KeyFile)
	if err != nil {
		return nil, err
	}
	s.logLoaded(cert, s.opts.CertFile, s.opts.KeyFile)
	return cert, nil
}

// loadPair reads a certificate chain and its key and checks they match.
func loadPair(certPath, keyPath string) (*tls.Certificate, error) {
	chain, leaf, err := readChain(certPath)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", certPath, err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", keyPath, err)
	}
	if err := checkMatch(leaf, key); err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", certPath, keyPath, err)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

func (s *Store) logLoaded(cert *tls.Certificate, certPath, keyPath string) {
	s.logger.Info("loaded TLS certificate",
		zap.String("cert_file", certPath),
		zap.String("key_file", keyPath),
		zap.String("subject_cn", cert.Leaf.Subject.CommonName),
		zap.Time("not_after", cert.Leaf.NotAfter),
		zap.String("sha256", fingerprint(cert.Leaf)))
}

// readChain returns the DER blocks of every CERTIFICATE in path, leaf
// first, and the parsed leaf.
func readChain(path string) ([][]byte, *x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var chain [][]byte
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, nil, errors.New("no CERTIFICATE PEM block found")
	}
	for i, der := range chain[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, nil, fmt.Errorf("parse chain certificate %d: %w", i+2, err)
		}
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, fmt.Errorf("parse leaf certificate: %w", err)
	}
	return chain, leaf, nil
}

// readKey returns the first private key found in the PEM file at path.
func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return parseKey(block.Bytes)
		}
	}
	return nil, errors.New("no PRIVATE KEY PEM block found")
}

// parseKey accepts PKCS#8, PKCS#1 (RSA) and SEC 1 (EC) encodings, like
// crypto/tls does.
func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return signer, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unparsable private key (want PKCS#8, PKCS#1 or SEC 1)")
}

// checkMatch reports an error when key is not the private half of leaf's
// public key.
func checkMatch(leaf *x509.Certificate, key crypto.Signer) error {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return fmt.Errorf("unsupported certificate public key type %T", leaf.PublicKey)
	}
	if !pub.Equal(key.Public()) {
		return errors.New("private key does not match certificate public key")
	}
	return nil
}
