package driver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"go.uber.org/zap"

	"ftpsd/control"
	"ftpsd/tlsconf/ticketbind"
)

// dataBinding ties data connections to their control session for
// ticketbind: who owns a data connection (its control conn, user and the
// user's reuse policy, read from the live configuration so that a reload
// applies), who a ticket's control connection was, and where refusals are
// reported.
func (d *Driver) dataBinding() ticketbind.DataBinding {
	return ticketbind.DataBinding{
		Resolve: func(conn net.Conn) (ticketbind.Owner, bool) {
			c := d.registry.DataOwner(conn)
			if c == nil {
				return ticketbind.Owner{}, false
			}
			return d.ownerOf(c), true
		},
		Peer: func(id uint64) (ticketbind.Peer, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), peerLoginWait)
			defer cancel()
			p, ok := d.registry.PeerWait(ctx, id)
			return ticketbind.Peer{User: p.User, Client: p.Client}, ok
		},
		Required: d.cfg.TLS.RequireSessionReuse,
		Refused: func(conn net.Conn, err error) {
			if c := d.registry.DataOwner(conn); c != nil {
				c.NoteDataRefused(refusalOf(err)) // logged with the session when replied
				return
			}
			d.logger.Warn("data connection refused", zap.String("remote", conn.RemoteAddr().String()), zap.Error(err))
		},
		AcceptedByAddress: func(conn net.Conn, _ ticketbind.Owner) {
			if c := d.registry.DataOwner(conn); c != nil {
				c.NoteAcceptedByAddress()
			}
		},
		Handshaken: dataHandshaken,
		Foreign: func(conn net.Conn, o ticketbind.Owner) {
			if c := d.registry.ConnByID(o.ID); c != nil {
				c.NoteForeignData(conn.RemoteAddr())
			}
		},
	}
}

// peerLoginWait bounds how long a data handshake waits for the login of
// the control connection whose ticket it offers (see
// control.Registry.PeerWait).
const peerLoginWait = 3 * time.Second

// controlTLS returns the TLS config of control connection id, which tells
// the connection when a session ticket was issued on it.
func (d *Driver) controlTLS(base *tls.Config, id uint64) *tls.Config {
	return ticketbind.ControlConfigNotify(base, id, func() {
		if c := d.registry.ConnByID(id); c != nil {
			c.NoteTicketIssued()
		}
	})
}

// ownerOf describes the control session of c to the binding policy.
func (d *Driver) ownerOf(c *control.Conn) ticketbind.Owner {
	user, st := c.User(), c.State()
	requireReuse := d.cfg.TLS.RequireSessionReuse
	// An external account has no require_session_reuse of its own: a
	// [[users]] entry of the same name is another account.
	if s, ok := c.Attached().(*session); !ok || !s.isExternal() {
		if u, ok := d.live.Load().users.byName[user]; ok {
			requireReuse = u.SessionReuseRequired(requireReuse)
		}
	}
	return ticketbind.Owner{
		ID:                   c.ID(),
		Client:               c.Client(),
		User:                 user,
		Cleared:              st.Cleared,
		Ticketless:           st.Protected() && !c.TicketIssued(),
		DataProtected:        c.DataProtected(),
		RequireReuse:         requireReuse,
		RequireReuseAfterCCC: d.cfg.TLS.RequireSessionReuseAfterCCC,
	}
}

// refusalOf turns a binding refusal into what the control conn replies.
func refusalOf(err error) control.DataRefusal {
	r := control.DataRefusal{Err: err, OtherAddress: errors.Is(err, ticketbind.ErrOtherAddress)}
	var re *ticketbind.RefusalError
	if errors.As(err, &re) {
		r.Admit = re.Admit()
	}
	return r
}
