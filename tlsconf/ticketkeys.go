package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// Session tickets: how long one resumes and how often their key changes.
// crypto/tls's own rotation keeps a key for 7 days; the Store manages the
// keys itself (tls.Config.SetSessionTicketKeys). The lifetime a ticket
// announces stays crypto/tls's (Go 1.26: 7 days in TLS 1.3, 0, that is
// unspecified, in TLS 1.2): a hint to the client, while a ticket whose key
// was dropped cannot be decrypted and so never resumes.
const (
	// TicketLifetime is the longest a session ticket resumes: its key is
	// dropped that long after it was made.
	TicketLifetime = 24 * time.Hour
	// ticketRotation is how often a new key starts encrypting tickets; the
	// previous one still decrypts them until it is TicketLifetime old, so a
	// ticket resumes for between TicketLifetime-ticketRotation and
	// TicketLifetime.
	ticketRotation = TicketLifetime / 2
)

// ticketKeys rotates the session ticket keys of one tls.Config. The
// config's ticket hooks (and ticketbind's, which use its EncryptTicket and
// DecryptTicket) see the current key and the previous ones not yet
// TicketLifetime old. It is safe for concurrent use.
type ticketKeys struct {
	cfg  *tls.Config
	now  func() time.Time
	mu   sync.Mutex
	keys []ticketKey // newest first
}

type ticketKey struct {
	secret  [32]byte
	created time.Time
}

// newTicketKeys gives cfg its first key.
func newTicketKeys(cfg *tls.Config, now func() time.Time) *ticketKeys {
	if now == nil {
		now = time.Now
	}
	k := &ticketKeys{cfg: cfg, now: now}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rotateLocked(now())
	return k
}

// rotateIfDue starts a new key when the current one is ticketRotation old.
// It runs before every handshake, ahead of any ticket's decryption.
func (k *ticketKeys) rotateIfDue() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); now.Sub(k.keys[0].created) >= ticketRotation {
		k.rotateLocked(now)
	}
}

// rotateLocked makes a fresh key current and drops the keys that are
// TicketLifetime old.
func (k *ticketKeys) rotateLocked(now time.Time) {
	fresh := ticketKey{created: now}
	_, _ = rand.Read(fresh.secret[:]) // never fails (crypto/rand)
	keys := []ticketKey{fresh}
	for _, old := range k.keys {
		if now.Sub(old.created) < TicketLifetime {
			keys = append(keys, old)
		}
	}
	k.keys = keys
	secrets := make([][32]byte, len(keys))
	for i, key := range keys {
		secrets[i] = key.secret
	}
	k.cfg.SetSessionTicketKeys(secrets)
}
