package tlsconf

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// The TLS 1.3 session ticket lifetime on the wire.
//
// crypto/tls (Go 1.26) announces every TLS 1.3 ticket as valid for 7 days
// (maxSessionTicketLifetime, not configurable), while the Store's keys let a
// ticket resume for a day at most. Auditors and clients read the announced
// lifetime, so CapTicketLifetime rewrites it. The NewSessionTicket message
// is not part of the handshake transcript; it travels in the first record
// under the server's application traffic key, which crypto/tls hands to the
// config's KeyLogWriter just before it writes that record. The conn given
// to tls.Server finds the record, lowers the lifetime to TicketLifetime and
// seals it again with the same key and nonce: only the rewritten record
// ever leaves the process, so no nonce is used twice on the wire. Every
// later byte passes through untouched, and the key is forgotten.

// TLS record constants used to find and rewrite the ticket.
const (
	recordHeaderLen      = 5
	recordHandshake      = 0x16
	recordApplication    = 0x17
	msgServerHello       = 2
	msgNewSessionTicket  = 4
	keyLogServerTraffic  = "SERVER_TRAFFIC_SECRET_0"
	keyLogTLS12          = "CLIENT_RANDOM"
	ticketLifetimeSecond = uint32(TicketLifetime / time.Second)
)

// CapTicketLifetime returns the conn and config to give tls.Server for a
// server connection on conn under cfg, so that a TLS 1.3 session ticket
// it sends announces TicketLifetime. cfg is cloned, not changed. TLS 1.2
// tickets carry no lifetime hint and pass as they are.
func CapTicketLifetime(conn net.Conn, cfg *tls.Config) (net.Conn, *tls.Config) {
	lc := &lifetimeConn{Conn: conn}
	c := cfg.Clone()
	c.KeyLogWriter = keyLog{lc}
	return lc, c
}

// lifetimeConn rewrites the lifetime of the first NewSessionTicket the
// server writes. crypto/tls writes whole records, from one goroutine at a
// time during the handshake.
type lifetimeConn struct {
	net.Conn
	mu     sync.Mutex
	suite  uint16 // of the last ServerHello written
	secret []byte // the server application traffic secret, once logged
	done   bool   // nothing (more) to rewrite: pass everything through
}

// keyLog receives crypto/tls's key log lines for one lifetimeConn. The
// secrets stay in memory, in this connection only.
type keyLog struct{ c *lifetimeConn }

func (k keyLog) Write(line []byte) (int, error) {
	fields := bytes.Fields(line)
	if len(fields) != 3 {
		return len(line), nil
	}
	switch string(fields[0]) {
	case keyLogServerTraffic:
		secret := make([]byte, hex.DecodedLen(len(fields[2])))
		if _, err := hex.Decode(secret, fields[2]); err == nil {
			k.c.setSecret(secret)
		}
	case keyLogTLS12:
		k.c.finish()
	}
	return len(line), nil
}

func (c *lifetimeConn) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done, c.secret = true, nil
}

func (c *lifetimeConn) setSecret(secret []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secret = secret
}

// recordKey derives the record key and IV of the server's application
// traffic secret for the negotiated suite (RFC 8446 section 7.3). The
// secret is logged before the ServerHello is written (crypto/tls buffers
// the flight), so the key is derived when the first record that may use it
// is written.
func recordKey(suite uint16, secret []byte) (cipher.AEAD, []byte, error) {
	var h func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		h, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		h, keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		h, keyLen = sha256.New, chacha20poly1305.KeySize
	default:
		return nil, nil, fmt.Errorf("TLS 1.3 cipher suite %#04x unknown", suite)
	}
	key, err := expandLabel(h, secret, "key", keyLen)
	if err != nil {
		return nil, nil, err
	}
	iv, err := expandLabel(h, secret, "iv", 12)
	if err != nil {
		return nil, nil, err
	}
	aead, err := newAEAD(suite, key)
	return aead, iv, err
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context.
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := binary.BigEndian.AppendUint16(nil, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // empty context
	return hkdf.Expand(h, secret, string(info), length)
}

func newAEAD(suite uint16, key []byte) (cipher.AEAD, error) {
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Write inspects the records of p until the ticket is rewritten, then
// passes everything through.
func (c *lifetimeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.done {
		p = bytes.Clone(p) // rewritten in place; p belongs to crypto/tls
		for rec := range records(p) {
			c.inspect(rec)
			if c.done {
				break
			}
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// records yields the complete records at the start of p.
func records(p []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(p) >= recordHeaderLen {
			end := recordHeaderLen + int(binary.BigEndian.Uint16(p[3:]))
			if end > len(p) || !yield(p[:end]) {
				return
			}
			p = p[end:]
		}
	}
}

// inspect notes the suite of a ServerHello, and rewrites the lifetime of
// a NewSessionTicket in the first record under the application key.
func (c *lifetimeConn) inspect(rec []byte) {
	switch {
	case rec[0] == recordHandshake && len(rec) > recordHeaderLen && rec[recordHeaderLen] == msgServerHello:
		if suite, ok := serverHelloSuite(rec[recordHeaderLen:]); ok {
			c.suite = suite
		}
	case rec[0] == recordApplication && c.secret != nil:
		aead, iv, err := recordKey(c.suite, c.secret)
		if err != nil {
			c.done, c.secret = true, nil
			return
		}
		// The first record under this key: sequence number 0, nonce = IV.
		header := bytes.Clone(rec[:recordHeaderLen])
		plain, err := aead.Open(nil, iv, rec[recordHeaderLen:], header)
		if err != nil {
			return // a record under the handshake key
		}
		if capLifetime(plain) {
			copy(rec[recordHeaderLen:], aead.Seal(nil, iv, plain, header))
		}
		c.done, c.secret = true, nil
	}
}

// capLifetime lowers the lifetime of the NewSessionTicket that starts the
// inner plaintext of a TLS 1.3 record, and reports whether it did.
func capLifetime(plain []byte) bool {
	inner := bytes.TrimRight(plain, "\x00")
	if len(inner) < 1+4+4 || inner[len(inner)-1] != recordHandshake || inner[0] != msgNewSessionTicket {
		return false
	}
	lifetime := inner[4:8]
	if binary.BigEndian.Uint32(lifetime) <= ticketLifetimeSecond {
		return false
	}
	binary.BigEndian.PutUint32(lifetime, ticketLifetimeSecond)
	return true
}

// serverHelloSuite returns the cipher suite of a ServerHello message.
func serverHelloSuite(msg []byte) (uint16, bool) {
	const sessionIDLenAt = 4 + 2 + 32 // header, legacy_version, random
	if len(msg) <= sessionIDLenAt {
		return 0, false
	}
	at := sessionIDLenAt + 1 + int(msg[sessionIDLenAt])
	if len(msg) < at+2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(msg[at:]), true
}
