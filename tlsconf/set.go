package tlsconf

import (
	"crypto/tls"
	"errors"
)

// Set makes certs the certificates served to new handshakes from now on:
// the first whose leaf is valid for the ClientHello's server name (SNI),
// else the first, which Leaf and Fingerprint report. Connections already
// established keep theirs. Each certificate must have its Leaf; a file
// reload (SIGHUP, Watch) replaces them all with the files' certificate.
func (s *Store) Set(certs ...*tls.Certificate) error {
	if len(certs) == 0 {
		return errors.New("tlsconf: Set without a certificate")
	}
	for _, c := range certs {
		if c == nil || c.Leaf == nil || len(c.Certificate) == 0 {
			return errors.New("tlsconf: Set: a certificate without its leaf")
		}
	}
	others := append([]*tls.Certificate(nil), certs[1:]...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.others.Store(&others)
	s.cert.Store(certs[0])
	return nil
}

// byServerName returns the certificate among those given to Set whose
// leaf is valid for name, or nil.
func (s *Store) byServerName(name string) *tls.Certificate {
	others := s.others.Load()
	if name == "" || others == nil || len(*others) == 0 {
		return nil
	}
	if def := s.cert.Load(); def.Leaf.VerifyHostname(name) == nil {
		return def
	}
	for _, c := range *others {
		if c.Leaf.VerifyHostname(name) == nil {
			return c
		}
	}
	return nil
}
