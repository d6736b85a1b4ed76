package ticketbind

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"

	"ftpsd/ipaddr"
)

// ErrSessionNotReused is returned (wrapped) by a data-connection handshake
// that did not resume a session issued on its control connection.
var ErrSessionNotReused = errors.New("data connection TLS session was not resumed from its control connection")

// A mark is ftpsd's own record in a session ticket (one SessionState.Extra
// record, encrypted and authenticated with the ticket): the control
// connection that owns the ticket and the TLS version of its session. The
// version is kept here because crypto/tls exposes it only inside
// SessionState.Bytes(), whose encoding Go documents as opaque; the screen
// needs it to predict resumption.
type mark struct {
	owner   uint64 // id of the control connection
	version uint16 // tls.VersionTLS12 or tls.VersionTLS13
}

// markPrefix starts a mark record; it is followed by the 8-byte big-endian
// owner id and the 2-byte big-endian version. The "v2" is the record's
// format (v1 had no version): a future format gets a new prefix, and a
// record of another format is no mark.
const (
	markPrefix = "ftpsd-ctl-v2:"
	markLen    = len(markPrefix) + 8 + 2
)

func (m mark) record() []byte {
	rec := make([]byte, 0, markLen)
	rec = append(rec, markPrefix...)
	rec = binary.BigEndian.AppendUint64(rec, m.owner)
	return binary.BigEndian.AppendUint16(rec, m.version)
}

func isMark(rec []byte) bool {
	return len(rec) == markLen && string(rec[:len(markPrefix)]) == markPrefix
}

// markOf returns the mark of ss. A session with no mark, or with more
// than one (which this package never writes), has no owner.
func markOf(ss *tls.SessionState) (mark, bool) {
	var m mark
	found := false
	for _, rec := range ss.Extra {
		if !isMark(rec) {
			continue
		}
		if found {
			return mark{}, false
		}
		body := rec[len(markPrefix):]
		m = mark{owner: binary.BigEndian.Uint64(body), version: binary.BigEndian.Uint16(body[8:])}
		found = true
	}
	return m, found
}

// setMark replaces any mark in ss with m, keeping other records.
func setMark(ss *tls.SessionState, m mark) {
	extra := make([][]byte, 0, len(ss.Extra)+1)
	for _, rec := range ss.Extra {
		if !isMark(rec) {
			extra = append(extra, rec)
		}
	}
	ss.Extra = append(extra, m.record())
}

// markingWrap returns a WrapSession that marks the ticket with id and the
// version of the connection that issues it (a session resumes only under
// the version it was made with), and encrypts it with base's ticket keys.
func markingWrap(base *tls.Config, id uint64) func(tls.ConnectionState, *tls.SessionState) ([]byte, error) {
	return func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		setMark(ss, mark{owner: id, version: cs.Version})
		return base.EncryptTicket(cs, ss)
	}
}

// anyUnwrap decrypts any ticket encrypted with base's keys.
func anyUnwrap(base *tls.Config) func([]byte, tls.ConnectionState) (*tls.SessionState, error) {
	return func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := base.DecryptTicket(identity, cs)
		if err != nil {
			return nil, nil // ignore the ticket: full handshake
		}
		return ss, nil
	}
}

// ownedUnwrap decrypts tickets encrypted with base's keys and accepts only
// those b.owns for o; any other ticket is ignored (full handshake).
func ownedUnwrap(base *tls.Config, b DataBinding, o Owner) func([]byte, tls.ConnectionState) (*tls.SessionState, error) {
	return func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := base.DecryptTicket(identity, cs)
		if err != nil || ss == nil || !b.owns(o, ss) {
			return nil, nil
		}
		return ss, nil
	}
}

// templateFor returns the config crypto/tls would use for hello under base:
// the result of base's own GetConfigForClient
// when it has one and it returns a config, else base itself.
func templateFor(base *tls.Config, hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if base.GetConfigForClient == nil {
		return base, nil
	}
	cfg, err := base.GetConfigForClient(hello)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return base, nil
	}
	return cfg, nil
}

// ControlConfig returns a clone of base for control connection id: every
// session ticket it issues is marked with id. Tickets are encrypted and
// decrypted with base's ticket keys (base.EncryptTicket /
// base.DecryptTicket, never the clone's own keys), so that every clone
// understands every ticket. A control connection may resume any ticket of
// base's keys; the tickets it issues are marked with its own id.
//
// base's own WrapSession / UnwrapSession are not used. If base has a
// GetConfigForClient, the config it returns gets the same hooks.
func ControlConfig(base *tls.Config, id uint64) *tls.Config {
	return ControlConfigNotify(base, id, nil)
}

// ControlConfigNotify is ControlConfig that also calls issued (when not
// nil) each time a ticket is issued, from inside the handshake. A control
// connection that was issued none belongs to a client that cannot resume
// (TLS 1.2 without ticket support): see Owner.Ticketless.
func ControlConfigNotify(base *tls.Config, id uint64, issued func()) *tls.Config {
	wrap := markingWrap(base, id)
	install := func(c *tls.Config) {
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			if issued != nil {
				issued()
			}
			return wrap(cs, ss)
		}
		c.UnwrapSession = anyUnwrap(base)
	}
	cfg := base.Clone()
	install(cfg)
	if base.GetConfigForClient != nil {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			tmpl, err := templateFor(base, hello)
			if err != nil || tmpl == base {
				return nil, err // nil: use cfg, which already has the hooks
			}
			c := tmpl.Clone()
			install(c)
			return c, nil
		}
	}
	return cfg
}

// DataBinding says which control session owns a data connection and
// which tickets belong to it.
type DataBinding struct {
	// Resolve returns the control session that owns the data connection
	// whose server-side socket is conn (the lib's passive listener port, or
	// an active-mode connection), and false when none does. It is called
	// during the handshake, concurrently for concurrent handshakes, with the
	// net.Conn given to tls.Server.
	Resolve func(conn net.Conn) (Owner, bool)
	// Peer returns who the control connection id (the mark of a ticket)
	// belonged to. A ticket marked with another control connection than
	// the owner's is accepted when that connection had the same user and
	// client address (clients that share one session cache between several
	// control connections: rclone, curl -Z). Nil accepts only the owner's
	// own tickets.
	Peer func(id uint64) (Peer, bool)
	// Required refuses a data handshake that no control session owns.
	Required bool
	// Refused, if not nil, is called with the data conn and a
	// *RefusalError whenever a data connection is refused. It is called at
	// most once per connection and should not block.
	Refused func(conn net.Conn, err error)
	// AcceptedByAddress, if not nil, is called when a data connection that
	// did not resume is accepted because it comes from the client's
	// address and the client cannot resume (Verdict AcceptByAddress).
	AcceptedByAddress func(conn net.Conn, o Owner)
	// Handshaken, if not nil, is called with the data conn when its
	// handshake was verified and accepted (the client's Finished is all
	// that is left), e.g. to stop the deadline on the handshake.
	Handshaken func(conn net.Conn)
	// Foreign, if not nil, is called when a screened passive listener
	// drops a connection from another address than its owner's client; the
	// listener goes on waiting for the client.
	Foreign func(conn net.Conn, o Owner)
}

// owns reports whether the ticket state ss belongs to o: issued on o's own
// control connection (or one of its data connections), or on another
// control connection of the same user from the same client address.
func (b DataBinding) owns(o Owner, ss *tls.SessionState) bool {
	m, ok := markOf(ss)
	switch {
	case !ok:
		return false
	case m.owner == o.ID:
		return true
	case o.User == "" || b.Peer == nil:
		return false
	}
	p, ok := b.Peer(m.owner)
	return ok && p.User == o.User && p.Client.Unmap() == o.Client.Unmap()
}

// DataConfig returns the one stable config for data connections:
// GetConfigForClient resolves the owner through b.Resolve(hello.Conn) and
// returns a per-connection clone of base whose UnwrapSession accepts only
// the tickets b.owns for that owner (any other ticket is ignored => full
// handshake), whose records are full-size from the first byte
// (DynamicRecordSizingDisabled), whose WrapSession marks new tickets with
// the owner's id, and whose VerifyConnection applies Decide to the
// outcome (base's own VerifyConnection, if any, runs first). A refused
// handshake fails with a *RefusalError (and b.Refused is called); it is
// never given a ticket (in TLS 1.3 tickets are sent before
// VerifyConnection runs, so WrapSession refuses the same way).
//
// This is the binding's enforcement. Passive data connections are first
// screened by DataTLS.Screen, which refuses cleanly before crypto/tls
// sees them; what reaches this config then fails only when the screen's
// prediction of resumption was wrong, or for active-mode connections.
//
// When Resolve finds no owner: Required => the handshake fails; not
// Required => plain base behaviour (tickets still encrypted and decrypted
// with base's keys, any ticket accepted, new tickets unmarked).
func DataConfig(base *tls.Config, b DataBinding) *tls.Config {
	cfg := base.Clone()
	// Should crypto/tls ever use cfg itself, it behaves like base.
	cfg.WrapSession = base.EncryptTicket
	cfg.UnwrapSession = anyUnwrap(base)
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conn := hello.Conn
		var refused atomic.Bool
		refuse := func(err *RefusalError) error {
			if refused.CompareAndSwap(false, true) && b.Refused != nil {
				b.Refused(conn, err)
			}
			return err
		}
		var o Owner
		ok := false
		if b.Resolve != nil {
			o, ok = b.Resolve(conn)
		}
		if !ok && b.Required {
			return nil, refuse(&RefusalError{From: ipaddr.Of(conn.RemoteAddr()), NoOwner: true})
		}
		tmpl, err := templateFor(base, hello)
		if err != nil {
			return nil, err
		}
		c := tmpl.Clone()
		c.GetConfigForClient = nil
		// Full-size records from the first byte: data connections carry
		// bulk data, where small first records only cost more records.
		c.DynamicRecordSizingDisabled = true
		if !ok {
			c.WrapSession = base.EncryptTicket
			c.UnwrapSession = anyUnwrap(base)
			c.VerifyConnection = b.notifyHandshaken(conn, tmpl.VerifyConnection)
			return c, nil
		}
		verdict := func(cs tls.ConnectionState) (Verdict, error) {
			v := Decide(o, ipaddr.Of(conn.RemoteAddr()), cs.DidResume)
			if !v.Accepted() {
				return v, refuse(&RefusalError{Owner: o, From: ipaddr.Of(conn.RemoteAddr()), Verdict: v})
			}
			return v, nil
		}
		wrap := markingWrap(base, o.ID)
		c.UnwrapSession = ownedUnwrap(base, b, o)
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			if _, err := verdict(cs); err != nil {
				return nil, err
			}
			return wrap(cs, ss)
		}
		prev := tmpl.VerifyConnection
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if prev != nil {
				if err := prev(cs); err != nil {
					return err
				}
			}
			v, err := verdict(cs)
			if v == AcceptByAddress && b.AcceptedByAddress != nil {
				b.AcceptedByAddress(conn, o)
			}
			if err == nil && b.Handshaken != nil {
				b.Handshaken(conn)
			}
			return err
		}
		return c, nil
	}
	return cfg
}

// notifyHandshaken returns a VerifyConnection that runs prev (if any) and
// then calls b.Handshaken for conn.
func (b DataBinding) notifyHandshaken(conn net.Conn, prev func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	if b.Handshaken == nil {
		return prev
	}
	return func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		b.Handshaken(conn)
		return nil
	}
}
