package ticketbind

import (
	"crypto/tls"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/tlsconf"
)

// TestTicketKeyRotation issues tickets on control connections, then
// rotates the store's ticket keys with its clock: a control ticket issued
// before a rotation still resumes on the data connection after it (the
// previous key still decrypts), and no longer once its key is
// tlsconf.TicketLifetime old.
func TestTicketKeyRotation(t *testing.T) {
	for _, v := range bindVersions {
		t.Run(v.name, func(t *testing.T) {
			clock := ftptest.NewFakeClock()
			f := newBindFixtureWith(t, v.vers, tlsconf.Options{SelfSigned: true, Now: clock.Now})
			srv, refused := f.data(t, ptr(7), true)
			fresh, stale := tls.NewLRUClientSessionCache(4), tls.NewLRUClientSessionCache(4)
			f.handshakeControl(t, 7, fresh)
			f.handshakeControl(t, 7, stale)

			// A rotation is due: the data handshake starts a new key, and the
			// control ticket (under the previous key) still resumes.
			clock.Advance(tlsconf.TicketLifetime / 2)
			cs, err := f.dial(srv.addr, fresh, nil)
			wantAccepted(t, srv, cs, err, true)

			// The next rotation drops the first key: the ticket the data
			// connection got under the second key resumes, the other control
			// ticket, a lifetime old, does not.
			clock.Advance(tlsconf.TicketLifetime / 2)
			cs, err = f.dial(srv.addr, fresh, nil)
			wantAccepted(t, srv, cs, err, true)
			_, err = f.dial(srv.addr, stale, nil)
			if r := wantRefused(t, srv, err); r.state.DidResume {
				t.Error("the server resumed a ticket whose key is a lifetime old")
			}
			refused.check(t, 1)
		})
	}
}
