package tlsconf

import "crypto/tls"

// aeadSuites are the TLS 1.2 cipher suites the server accepts: ECDHE key
// exchange (forward secrecy) with an AEAD (AES-GCM, ChaCha20-Poly1305).
// No CBC suite (LUCKY13), no RSA key exchange. TLS 1.3's suites are not
// configurable in Go and are all AEAD with ephemeral keys.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
