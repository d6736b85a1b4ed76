package ticketbind

import (
	"errors"
	"fmt"
	"net/netip"
)

// Owner describes the control session that owns a data connection, as the
// binding policy sees it when the data connection is made.
type Owner struct {
	// ID is the control connection's id, the session's number in the log.
	ID uint64
	// Client is the control connection's client address.
	Client netip.Addr
	// User is the logged-in user ("" before login).
	User string
	// Cleared is true once the control channel was cleared by CCC.
	Cleared bool
	// DataProtected is true while the session asked for PROT P.
	DataProtected bool
	// RequireReuse is the user's tls.require_session_reuse (or its
	// [[users]] override).
	RequireReuse bool
	// RequireReuseAfterCCC is tls.require_session_reuse_after_ccc.
	RequireReuseAfterCCC bool
	// Ticketless is true when the control channel's TLS was issued no
	// session ticket: the client cannot resume with this server at all
	// (TLS 1.2 without ticket support: Go resumes TLS 1.2 from tickets
	// only, and curl turns them off).
	Ticketless bool
}

// Peer describes the control connection a session ticket was issued on.
type Peer struct {
	User   string
	Client netip.Addr
}

// Verdict is the binding policy's answer for one protected data connection.
type Verdict int

const (
	// Accept: the data connection resumed a session of its client, or the
	// user does not require session reuse.
	Accept Verdict = iota
	// AcceptByAddress: the data connection did not resume and comes from
	// the control connection's client address, whose client cannot resume:
	// it cleared the control channel (CCC) and
	// tls.require_session_reuse_after_ccc = false, or its control channel
	// took no session ticket.
	AcceptByAddress
	// RefuseNotResumed: session reuse is required and the data connection
	// did not resume a session of its client.
	RefuseNotResumed
	// RefuseOtherAddress: the data connection comes from another address
	// than its control connection's client, refused in every mode.
	RefuseOtherAddress
)

// Accepted reports whether v lets the data connection through.
func (v Verdict) Accepted() bool { return v == Accept || v == AcceptByAddress }

// Decide is the data-channel binding policy: it says whether a protected
// data connection from address from, owned by o, may proceed, given
// whether its TLS session resumed a ticket issued to the same client (see
// DataBinding). It is the one place where the state of the control channel
// decides what a data connection must prove.
func Decide(o Owner, from netip.Addr, resumed bool) Verdict {
	switch {
	case from.Unmap() != o.Client.Unmap():
		return RefuseOtherAddress
	case resumed || !o.RequireReuse:
		return Accept
	case o.Cleared:
		if !o.RequireReuseAfterCCC {
			return AcceptByAddress
		}
	case o.Ticketless:
		return AcceptByAddress
	}
	return RefuseNotResumed
}

// ErrOtherAddress is returned (wrapped) for a data connection that comes
// from another address than its control connection's client.
var ErrOtherAddress = errors.New("data connection from another address than its control connection")

// RefusalError is the error of a data connection refused by the binding
// policy. It wraps ErrSessionNotReused or ErrOtherAddress.
type RefusalError struct {
	Owner   Owner
	From    netip.Addr
	Verdict Verdict
	// NoOwner is true when no control session owns the data connection.
	NoOwner bool
}

func (e *RefusalError) Error() string {
	switch {
	case e.NoOwner:
		return fmt.Sprintf("%v: no control session for this data connection", ErrSessionNotReused)
	case e.Verdict == RefuseOtherAddress:
		return fmt.Sprintf("%v: %s, session %d is from %s", ErrOtherAddress, e.From, e.Owner.ID, e.Owner.Client)
	}
	return fmt.Sprintf("%v (session %d, user %q)", ErrSessionNotReused, e.Owner.ID, e.Owner.User)
}

// Unwrap returns the sentinel error of the refusal.
func (e *RefusalError) Unwrap() error {
	if e.Verdict == RefuseOtherAddress && !e.NoOwner {
		return ErrOtherAddress
	}
	return ErrSessionNotReused
}

// Admit names the setting that would admit this client, or "" when none
// should (another address).
func (e *RefusalError) Admit() string {
	switch {
	case e.NoOwner || e.Verdict == RefuseOtherAddress:
		return ""
	case e.Owner.Cleared:
		return fmt.Sprintf("tls.require_session_reuse_after_ccc = false, or require_session_reuse = false in the [[users]] block of %q", e.Owner.User)
	}
	return fmt.Sprintf("require_session_reuse = false in the [[users]] block of %q", e.Owner.User)
}
