package driver

import (
	"errors"
	"net"

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
			p, ok := d.registry.Peer(id)
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
	}
}

// ownerOf describes the control session of c to the binding policy.
func (d *Driver) ownerOf(c *control.Conn) tlsconf.Owner {
	user := c.User()
	requireReuse := d.cfg.TLS.RequireSessionReuse
	if u, ok := d.live.Load().users.byName[user]; ok {
		requireReuse = u.SessionReuseRequired(requireReuse)
	}
	return tlsconf.Owner{
		ID:                   c.ID(),
		Client:               c.Client(),
		User:                 user,
		Cleared:              c.State().Cleared,
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
