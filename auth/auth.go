// Package auth defines the account sources a login is checked against
// beside the local [[users]] (LDAP, an HTTP service): what a source is
// asked, what it answers, and the errors that decide the reply.
package auth

import (
	"context"
	"errors"
	"net/netip"

	"ftpsd/config"
)

// The errors a Source's Authenticate wraps; they decide what happens next.
var (
	// ErrUnknownUser: the source does not know the user; the next source
	// in [auth] sources is asked.
	ErrUnknownUser = errors.New("unknown user")
	// ErrBadPassword: the source knows the user and the password is
	// wrong; the login fails (530) and counts toward a ban.
	ErrBadPassword = errors.New("bad password")
	// ErrUnavailable: the source could not answer (down, timed out,
	// answered nonsense); the client is told to try again later (421).
	ErrUnavailable = errors.New("account source unavailable")
)

// Request is one login to check.
type Request struct {
	User     string
	Password string
	// Client is the client's address (the PROXY header's behind a balancer).
	Client netip.Addr
}

// Source checks logins against one store of accounts.
type Source interface {
	// Name is the source's name in [auth] sources and in logs.
	Name() string
	// Authenticate returns the account when req's password is right: its
	// Name, Home, ReadOnly and policy keys as a [[users]] entry would set
	// them (PasswordHash empty). Its error wraps ErrUnknownUser,
	// ErrBadPassword or ErrUnavailable. It never logs the password.
	Authenticate(ctx context.Context, req Request) (config.User, error)
	// Check proves the source works (a bind and one search, a request to
	// the service) for ftpsd check; its error names what failed.
	Check(ctx context.Context) error
	// Close releases the source's connections.
	Close() error
}
