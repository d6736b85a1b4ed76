package control

import (
	"crypto/tls"
	"crypto/x509"
)

// State describes the protection of one control connection.
type State struct {
	// TLS is true while the control channel is protected by TLS.
	TLS bool
	// Implicit is true for a connection that started in TLS (implicit FTPS).
	Implicit bool
	// Cleared is true once the control channel was protected and then
	// returned to clear text (CCC).
	Cleared bool
	// Version and CipherSuite are those of the control-channel handshake.
	Version     uint16
	CipherSuite uint16
	// PeerCertificates are the client's certificates, if it sent any.
	PeerCertificates []*x509.Certificate
}

// Protected reports whether the control channel was protected by TLS at
// some point (it still is, or it was cleared by CCC after login).
func (s State) Protected() bool { return s.TLS || s.Cleared }

// VersionName returns the TLS version as text ("TLS 1.3"), or "" without TLS.
func (s State) VersionName() string {
	if s.Version == 0 {
		return ""
	}
	return tls.VersionName(s.Version)
}

// CipherSuiteName returns the cipher suite as text, or "" without TLS.
func (s State) CipherSuiteName() string {
	if s.CipherSuite == 0 {
		return ""
	}
	return tls.CipherSuiteName(s.CipherSuite)
}

// State returns the connection's current protection.
func (c *Conn) State() State {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state
}
