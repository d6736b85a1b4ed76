package driver

import (
	"golang.org/x/crypto/bcrypt"

	"ftpsd/auth"
	"ftpsd/config"
)

// The local source's answers are the account sources' (see accounts.go).
var (
	errUnknownUser = auth.ErrUnknownUser
	errBadPassword = auth.ErrBadPassword
)

// userBase holds the accounts of the configuration.
type userBase struct {
	byName map[string]config.User
	// policies holds each account's policy, [defaults] applied.
	policies map[string]config.Policy
	// defaults is [defaults], which external accounts get at login.
	defaults config.Defaults
	// dummy is compared against when the user is unknown, so that a wrong
	// name takes as long as a wrong password.
	dummy []byte
}

func newUserBase(users []config.User, defaults config.Defaults) *userBase {
	b := &userBase{byName: make(map[string]config.User, len(users)), policies: make(map[string]config.Policy, len(users)), defaults: defaults}
	cost := bcrypt.DefaultCost
	for _, u := range users {
		b.byName[u.Name] = u
		b.policies[u.Name] = u.Policy(defaults)
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			cost = c
		}
	}
	b.dummy, _ = bcrypt.GenerateFromPassword([]byte("ftpsd-dummy"), cost)
	return b
}

// authenticate returns the user when the password matches its hash.
func (b *userBase) authenticate(name, pass string) (config.User, error) {
	u, ok := b.byName[name]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(b.dummy, []byte(pass))
		return config.User{}, errUnknownUser
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pass)) != nil {
		return config.User{}, errBadPassword
	}
	return u, nil
}

// policy returns the policy of the account name ([defaults] applied);
// an unknown name has the zero policy.
func (b *userBase) policy(name string) config.Policy { return b.policies[name] }
