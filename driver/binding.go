package driver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"go.uber.org/zap"

	"ftpsd/control"
	"ftpsd/tlsconf"
)

// dataBinding ties data connections to their control session for
// tlsconf: who owns a data connection (its control conn, user and the
// user's reuse policy, read from the live configuration so that a reload
// applies), who a ticket's control connection was, and where refusals are
// reported.
func (d *Driver) dataBinding() tlsconf.DataBinding {
	return tlsconf.DataBinding{
		Resolve: func(conn net.Conn) (tlsconf.Owner, bool) {
			c := d.registry.DataOwner(conn)
			if c == nil {
				return tlsconf.Owner{}, false
			}
			return d.ownerOf(c), true
		},
		Peer: func(id uint64) (tlsconf.Peer, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), peerLoginWait)
			defer cancel()
			p, ok := d.registry.PeerWait(ctx, id)
			return tlsconf.Peer{User: p.User, Client: p.Client}, ok
		},
		Required: d.cfg.TLS.RequireSessionReuse,
		Refused: func(conn net.Conn, err error) {
			if c := d.registry.DataOwner(conn); c != nil {
				c.NoteDataRefused(refusalOf(err)) // logged with the session when replied
				return
			}
			d.logger.Warn("data connection refused", zap.String("remote", conn.RemoteAddr().String()), zap.Error(err))
		},
		AcceptedByAddress: func(conn net.Conn, _ tlsconf.Owner) {
			if c := d.registry.DataOwner(conn); c != nil {
				c.NoteAcceptedByAddress()
			}
		},
		Foreign: func(conn net.Conn, o tlsconf.Owner) {
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
	return tlsconf.ControlConfigNotify(base, id, func() {
		if c := d.registry.ConnByID(id); c != nil {
			c.NoteTicketIssued()
		}
	})
}

// ownerOf describes the control session of c to the binding policy.
func (d *Driver) ownerOf(c *control.Conn) tlsconf.Owner {
	user, st := c.User(), c.State()
	requireReuse := d.cfg.TLS.RequireSessionReuse
	if u, ok := d.live.Load().users.byName[user]; ok {
		requireReuse = u.SessionReuseRequired(requireReuse)
	}
	return tlsconf.Owner{
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
	r := control.DataRefusal{Err: err, OtherAddress: errors.Is(err, tlsconf.ErrOtherAddress)}
	var re *tlsconf.RefusalError
	if errors.As(err, &re) {
		r.Admit = re.Admit()
	}
	return r
}
