package ticketbind

import (
	"crypto/tls"
	"encoding/binary"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// TLS wire constants used to read a ClientHello before crypto/tls does.
const (
	recordHeaderLen         = 5
	recordTypeHandshake     = 0x16
	handshakeTypeClientHelo = 1
	maxHelloLen             = 64 << 10 // far above any real ClientHello

	extSessionTicket     = 35
	extPreSharedKey      = 41
	extSupportedVersions = 43
)

// helloTickets are the session tickets a ClientHello offers.
type helloTickets struct {
	tls13    bool     // the client offers TLS 1.3
	ticket12 []byte   // TLS 1.2 session_ticket extension
	psk      [][]byte // TLS 1.3 pre_shared_key identities
}

// readClientHello reads from r the records that carry a ClientHello,
// exactly, and returns every byte read (to be replayed to crypto/tls) and
// the handshake message. msg is nil when the stream does not start with a
// ClientHello (crypto/tls then reports the error itself).
func readClientHello(r io.Reader) (raw, msg []byte, err error) {
	var hs []byte
	for {
		var hdr [recordHeaderLen]byte
		n, err := io.ReadFull(r, hdr[:])
		raw = append(raw, hdr[:n]...)
		if err != nil {
			return raw, nil, err
		}
		n = int(binary.BigEndian.Uint16(hdr[3:]))
		if hdr[0] != recordTypeHandshake || len(raw)+n > maxHelloLen {
			return raw, nil, nil
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		got, err := io.ReadFull(r, raw[start:])
		raw = raw[:start+got]
		if err != nil {
			return raw, nil, err
		}
		hs = append(hs, raw[start:]...)
		if len(hs) < 4 {
			continue
		}
		if hs[0] != handshakeTypeClientHelo {
			return raw, nil, nil
		}
		if need := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])); len(hs) >= need {
			return raw, hs[:need], nil
		}
	}
}

// parseClientHello extracts the offered tickets of a ClientHello message.
func parseClientHello(msg []byte) (helloTickets, bool) {
	var h helloTickets
	s := cryptobyte.String(msg)
	var body, sessionID, suites, methods, exts cryptobyte.String
	if !s.Skip(1) || !s.ReadUint24LengthPrefixed(&body) ||
		!body.Skip(2+32) || !body.ReadUint8LengthPrefixed(&sessionID) ||
		!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8LengthPrefixed(&methods) {
		return h, false
	}
	if body.Empty() {
		return h, true // no extensions
	}
	if !body.ReadUint16LengthPrefixed(&exts) {
		return h, false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return h, false
		}
		switch typ {
		case extSessionTicket:
			h.ticket12 = append([]byte(nil), data...)
		case extSupportedVersions:
			var versions cryptobyte.String
			if !data.ReadUint8LengthPrefixed(&versions) {
				return h, false
			}
			for !versions.Empty() {
				var v uint16
				if !versions.ReadUint16(&v) {
					return h, false
				}
				h.tls13 = h.tls13 || v == tls.VersionTLS13
			}
		case extPreSharedKey:
			var ids cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&ids) {
				return h, false
			}
			for !ids.Empty() {
				var id cryptobyte.String
				if !ids.ReadUint16LengthPrefixed(&id) || !ids.Skip(4) {
					return h, false
				}
				h.psk = append(h.psk, append([]byte(nil), id...))
			}
		}
	}
	return h, true
}

// offered returns the tickets crypto/tls would consider for resumption when
// it negotiates TLS 1.3 (tls13) or TLS 1.2.
func (h helloTickets) offered(tls13 bool) [][]byte {
	if tls13 {
		return h.psk
	}
	if len(h.ticket12) == 0 {
		return nil
	}
	return [][]byte{h.ticket12}
}
