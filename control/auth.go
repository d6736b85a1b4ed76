package control

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"ftpsd/quickack"
)

// handleAUTH answers AUTH: refused when TLS is on already or for another
// mechanism than TLS, else accepted and the handshake run.
func (c *Conn) handleAUTH(param string) error {
	if c.tlsConn.Load() != nil {
		return c.reply(503, "The control channel is already protected by TLS.")
	}
	c.in.lateTLS = nil // a new negotiation after CCC starts afresh
	switch strings.ToUpper(param) {
	case "TLS", "TLS-C", "SSL":
	default:
		return c.reply(504, fmt.Sprintf("AUTH %q is not supported; use AUTH TLS.", param))
	}
	if err := c.switchToTLS(); err != nil {
		return err
	}
	return c.handshake(c.tlsConn.Load())
}

// switchToTLS answers 234 and makes TLS the channel's protection, under the
// write lock so that no reply is split across the switch. Bytes the client
// sent after AUTH stay in the wire and feed the handshake.
func (c *Conn) switchToTLS() error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if _, err := c.raw.Write([]byte("234 AUTH TLS accepted, start negotiation.\r\n")); err != nil {
		return fmt.Errorf("reply to AUTH: %w", err)
	}
	c.tlsConn.Store(c.newTLSServer())
	return nil
}

// newTLSServer returns the server side of a TLS negotiation on the wire.
func (c *Conn) newTLSServer() *tls.Conn {
	cfg := c.opts.TLSConfig
	if c.opts.TLSConfigFor != nil {
		cfg = c.opts.TLSConfigFor(c.id)
	}
	return tls.Server(&recordConn{Conn: c.raw, records: &recordReader{w: c.in.w}}, cfg)
}

// handshake runs the server handshake once, bounded in time, and records
// the result in the state. A failure is logged once, with its reason, and
// returned as ErrHandshake. It runs on a goroutine of its own: its
// cryptography grows a goroutine's stack to tens of KiB, which the
// session's command goroutine, calling Read, would keep while it waits
// for the next command (goroutine stacks shrink by half per garbage
// collection at most, and not below twice what they use).
func (c *Conn) handshake(t *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.handshakeTimeout())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- t.HandshakeContext(ctx) }()
	if err := <-done; err != nil {
		if !c.login.expired() && !c.handshakeLogged.Swap(true) { // a login timeout is logged as such
			c.opts.events().HandshakeFailed()
			c.log().Warn("control TLS handshake failed", zap.Error(err))
		}
		return ErrHandshake
	}
	c.recordProtection(t)
	// The client's next command (USER) must not wait for the delayed
	// acknowledgement of its Finished (see quickack).
	quickack.Ack(c.raw)
	return nil
}

// recordProtection records in the state, once per negotiation, that the
// channel is protected by t's completed handshake.
func (c *Conn) recordProtection(t *tls.Conn) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.state.TLS {
		return
	}
	cs := t.ConnectionState()
	c.state.TLS, c.state.Cleared = true, false
	c.state.Version = cs.Version
	c.state.CipherSuite = cs.CipherSuite
	c.state.PeerCertificates = cs.PeerCertificates
	c.log().Debug("control channel protected",
		zap.String("tls_version", tls.VersionName(cs.Version)),
		zap.String("cipher", tls.CipherSuiteName(cs.CipherSuite)))
}
