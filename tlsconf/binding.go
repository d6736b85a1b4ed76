package tlsconf

// Data-channel session binding, like vsftpd's require_ssl_reuse.
//
// Every session ticket issued on a control connection carries, inside the
// encrypted and authenticated ticket (SessionState.Extra), the id of that
// control connection. A data connection is handed to the owner's id by
// DataBinding.Resolve; its config only accepts tickets marked with that id,
// so a data connection that resumed proves that its client holds the secrets
// of the control connection's TLS session. Tickets issued on a data
// connection are marked with the owner's id too, so later data connections
// of the same control session may resume them.
//
// Notes on crypto/tls behaviour this relies on (checked against the Go 1.26
// sources):
//
//   - Server-side VerifyConnection runs on resumed handshakes too: in TLS 1.2
//     in doResumeHandshake, in TLS 1.3 in readClientCertificate (no client
//     certificate is requested on PSK handshakes, and VerifyConnection runs
//     in that branch as well).
//   - In TLS 1.3 the server sends its NewSessionTicket in its first flight
//     (right after its Finished), before VerifyConnection runs. A refused
//     data handshake would therefore still hand the client a valid ticket
//     marked with the owner's id, which it could resume on the next data
//     connection, defeating the binding. The data WrapSession therefore
//     refuses to issue a ticket on a non-resumed handshake when Required.
//     In that case the TLS 1.3 client sees its own handshake succeed (it is
//     complete after it sent Finished) and the refusal as an error on its
//     first read; the server side fails the handshake.
//   - In TLS 1.2, UnwrapSession is called even when the client sent no
//     ticket (with an empty identity); DecryptTicket ignores it.
//   - c.ticketKeys is taken from the listener's config unless the config
//     returned by GetConfigForClient has explicitly set keys, so the clones
//     would not share base's automatically rotated keys by themselves: the
//     hooks always use base.EncryptTicket / base.DecryptTicket.
//   - A refusal from VerifyConnection sends a bad_certificate alert; one from
//     WrapSession (TLS 1.3 without a client certificate request) sends none.
//   - A Go client drops its cached session when a handshake that offered it
//     fails (crypto/tls does so for both versions), so after a refused TLS 1.2
//     data connection that client has no ticket until its control connection
//     hands it a new one.
//   - The Go server resumes TLS 1.2 sessions from tickets only (no session
//     ID cache): a TLS 1.2 client without ticket support can never satisfy
//     Required.

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// ErrSessionNotReused is returned (wrapped) by a data-connection handshake
// that did not resume a session issued on its control connection.
var ErrSessionNotReused = errors.New("data connection TLS session was not resumed from its control connection")

// markPrefix starts the SessionState.Extra record naming the control
// connection that owns a ticket; it is followed by the 8-byte big-endian id.
// The "v1" is the record's version: a future format gets a new prefix.
const (
	markPrefix = "ftpsd-ctl-v1:"
	markLen    = len(markPrefix) + 8
)

func markRecord(id uint64) []byte {
	rec := make([]byte, 0, markLen)
	rec = append(rec, markPrefix...)
	return binary.BigEndian.AppendUint64(rec, id)
}

func isMark(rec []byte) bool {
	return len(rec) == markLen && string(rec[:len(markPrefix)]) == markPrefix
}

// markOf returns the id marked in ss. A session with no mark, or with more
// than one (which this package never writes), has no owner.
func markOf(ss *tls.SessionState) (uint64, bool) {
	var id uint64
	found := false
	for _, rec := range ss.Extra {
		if !isMark(rec) {
			continue
		}
		if found {
			return 0, false
		}
		id, found = binary.BigEndian.Uint64(rec[len(markPrefix):]), true
	}
	return id, found
}

// setMark replaces any mark in ss with one for id, keeping other records.
func setMark(ss *tls.SessionState, id uint64) {
	extra := make([][]byte, 0, len(ss.Extra)+1)
	for _, rec := range ss.Extra {
		if !isMark(rec) {
			extra = append(extra, rec)
		}
	}
	ss.Extra = append(extra, markRecord(id))
}

// markingWrap returns a WrapSession that marks the ticket with id and
// encrypts it with base's ticket keys.
func markingWrap(base *tls.Config, id uint64) func(tls.ConnectionState, *tls.SessionState) ([]byte, error) {
	return func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		setMark(ss, id)
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
// those marked with id; any other ticket is ignored (full handshake).
func ownedUnwrap(base *tls.Config, id uint64) func([]byte, tls.ConnectionState) (*tls.SessionState, error) {
	return func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := base.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, nil
		}
		if owner, ok := markOf(ss); !ok || owner != id {
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
	install := func(c *tls.Config) {
		c.WrapSession = markingWrap(base, id)
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

// DataBinding says which control session owns a data connection.
type DataBinding struct {
	// Resolve returns the id of the control connection that owns the data
	// connection whose server-side socket is conn (the lib's passive
	// listener port, or an active-mode connection), and false when none
	// does. It is called during the handshake, concurrently for concurrent
	// handshakes, with the net.Conn given to tls.Server.
	Resolve func(conn net.Conn) (uint64, bool)
	// Required refuses a data handshake that did not resume a session of
	// that control connection.
	Required bool
	// Refused, if not nil, is called with the data conn and the reason
	// whenever a data handshake is refused. It is called at most once per
	// handshake, from inside the handshake, so it should not block.
	Refused func(conn net.Conn, err error)
}

// DataConfig returns the one stable config for data connections:
// GetConfigForClient resolves the owner through b.Resolve(hello.Conn) and
// returns a per-connection clone of base whose UnwrapSession accepts only
// tickets marked with that owner's id (a ticket of another session, or an
// unmarked one, is ignored => full handshake), whose WrapSession marks new
// tickets with the owner's id too, and, when Required, whose
// VerifyConnection fails with ErrSessionNotReused unless
// ConnectionState.DidResume (and calls Refused). base's own
// VerifyConnection, if any, runs first.
//
// When Required, a non-resumed handshake is also never given a ticket (in
// TLS 1.3 tickets are sent before VerifyConnection runs, and a ticket
// marked with the owner's id would let the refused client resume on its
// next data connection): WrapSession refuses it the same way.
//
// When Resolve finds no owner: Required => the handshake fails (Refused
// called, the error wraps ErrSessionNotReused with "no control session for
// this data connection"); not Required => plain base behaviour (tickets
// still encrypted and decrypted with base's keys, any ticket accepted, new
// tickets unmarked).
func DataConfig(base *tls.Config, b DataBinding) *tls.Config {
	cfg := base.Clone()
	// Should crypto/tls ever use cfg itself, it behaves like base.
	cfg.WrapSession = base.EncryptTicket
	cfg.UnwrapSession = anyUnwrap(base)
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conn := hello.Conn
		var refused atomic.Bool
		refuse := func(err error) error {
			if refused.CompareAndSwap(false, true) && b.Refused != nil {
				b.Refused(conn, err)
			}
			return err
		}

		var id uint64
		ok := false
		if b.Resolve != nil {
			id, ok = b.Resolve(conn)
		}
		if !ok && b.Required {
			return nil, refuse(fmt.Errorf("%w: no control session for this data connection", ErrSessionNotReused))
		}

		tmpl, err := templateFor(base, hello)
		if err != nil {
			return nil, err
		}
		c := tmpl.Clone()
		c.GetConfigForClient = nil
		if !ok {
			c.WrapSession = base.EncryptTicket
			c.UnwrapSession = anyUnwrap(base)
			return c, nil
		}

		notReused := func() error {
			return fmt.Errorf("%w (control connection %d)", ErrSessionNotReused, id)
		}
		wrap := markingWrap(base, id)
		c.WrapSession = wrap
		c.UnwrapSession = ownedUnwrap(base, id)
		if b.Required {
			c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
				if !cs.DidResume {
					return nil, refuse(notReused())
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
				if !cs.DidResume {
					return refuse(notReused())
				}
				return nil
			}
		}
		return c, nil
	}
	return cfg
}
