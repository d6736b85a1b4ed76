package ldapauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Check proves the source works, for ftpsd check: a connection (TLS
// verified), the service bind, a search of base_dn with the user filter,
// and that each configured group exists. Its error names the key at
// fault.
func (s *Source) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// A fresh connection: the check is of the directory as it is now.
	l, err := s.pool.dial(ctx)
	if err != nil {
		return fmt.Errorf("auth.ldap.url %s: %w", s.opts.URL, err)
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	if err := s.bindService(l); err != nil {
		return fmt.Errorf("auth.ldap.bind_dn / bind_password_file: %w", err)
	}
	filter := strings.ReplaceAll(s.opts.UserFilter, "{user}", ldap.EscapeFilter("ftpsd-check"))
	_, err = l.Search(ldap.NewSearchRequest(s.opts.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		1, timeLimit(s.opts.Timeout), false, filter, []string{"1.1"}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return fmt.Errorf("auth.ldap.base_dn %q, user_filter %q: search: %w", s.opts.BaseDN, s.opts.UserFilter, err)
	}
	for i, g := range s.opts.Groups {
		if g.DN == AnyUser {
			continue
		}
		res, err := l.Search(ldap.NewSearchRequest(g.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, timeLimit(s.opts.Timeout), false, "(objectClass=*)", []string{"1.1"}, nil))
		if err == nil && len(res.Entries) == 0 {
			err = fmt.Errorf("not visible to %s", s.bindName())
		}
		if err != nil {
			return fmt.Errorf("auth.ldap.groups[%d].dn %q: %w", i, g.DN, err)
		}
	}
	return nil
}

// bindName names the service account in messages.
func (s *Source) bindName() string {
	if s.opts.BindDN == "" {
		return "an anonymous search"
	}
	return s.opts.BindDN
}
