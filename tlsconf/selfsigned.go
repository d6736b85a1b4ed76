package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"go.uber.org/zap"
)

// defaultHosts are the SANs of a self-signed certificate when Options.Hosts
// is empty.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// generate creates an in-memory ECDSA P-256 self-signed certificate valid
// for one year starting one hour ago (to tolerate clock skew).
func (s *Store) generate() (*tls.Certificate, error) {
	key, der, err := newSelfSigned(s.opts.Hosts)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("self-signed: parse certificate: %w", err)
	}
	s.logger.Info("generated self-signed TLS certificate",
		zap.String("sha256", fingerprint(leaf)),
		zap.Time("not_after", leaf.NotAfter))
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// SelfSignedPEM returns a new certificate as self_signed generates it, for
// hosts (nil: localhost and the loopback addresses), and its key, both
// PEM-encoded (the key in PKCS#8), for a caller that keeps them in files.
func SelfSignedPEM(hosts []string) (certPEM, keyPEM []byte, err error) {
	key, der, err := newSelfSigned(hosts)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// newSelfSigned returns a new ECDSA P-256 key and the DER of a certificate
// for hosts that it signs itself, valid for one year starting one hour ago
// (to tolerate clock skew).
func newSelfSigned(hosts []string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed: generate key: %w", err)
	}
	tmpl, err := selfSignedTemplate(hosts, time.Now())
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed: create certificate: %w", err)
	}
	return key, der, nil
}

func selfSignedTemplate(hosts []string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("self-signed: serial number: %w", err)
	}
	notBefore := now.Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ftpsd self-signed", Organization: []string{"ftpsd"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	addSANs(tmpl, hosts)
	return tmpl, nil
}

// addSANs puts each host into IPAddresses or DNSNames; empty entries are
// skipped and an empty list means defaultHosts.
func addSANs(tmpl *x509.Certificate, hosts []string) {
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}
