package ldapauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Bounds of the search for nested groups.
const (
	// maxDepth is how many levels of groups in groups are followed.
	maxDepth = 8
	// maxGroups is how many groups a user may be found in, all levels
	// together; more are not looked at.
	maxGroups = 256
)

// firstGroup returns the index in Groups of the first group userDN is a
// member of (directly, or through groups in groups with NestedGroups), -1
// for none.
//
// The groups holding userDN in member (groupOfNames, Active Directory) or
// uniqueMember (groupOfUniqueNames) are found by one search under
// groupBase; with NestedGroups, the groups holding
// those are searched in turn, up to maxDepth levels and maxGroups groups.
// This works on every directory: OpenLDAP has no memberOf without its
// overlay and does not implement Active Directory's
// LDAP_MATCHING_RULE_IN_CHAIN.
func (s *Source) firstGroup(ctx context.Context, userDN string) (int, error) {
	found := map[string]bool{}
	if s.groupBase != "" && s.wantsGroupSearch() {
		frontier := []string{userDN}
		for depth := 0; len(frontier) > 0 && depth < s.depth() && len(found) < maxGroups; depth++ {
			next, err := s.groupsHolding(ctx, frontier)
			if err != nil {
				return -1, err
			}
			frontier = frontier[:0]
			for _, dn := range next {
				key := normalize(dn)
				if !found[key] && len(found) < maxGroups {
					found[key] = true
					frontier = append(frontier, dn)
				}
			}
		}
	}
	for i, g := range s.groups {
		if g == nil || found[normalize(g.String())] {
			return i, nil
		}
	}
	return -1, nil
}

// wantsGroupSearch: some configured group is not AnyUser.
func (s *Source) wantsGroupSearch() bool {
	for _, g := range s.groups {
		if g != nil {
			return true
		}
	}
	return false
}

// depth is how many levels of groups are searched.
func (s *Source) depth() int {
	if s.opts.NestedGroups {
		return maxDepth
	}
	return 1
}

// groupsHolding returns the DNs of the groups under groupBase that have one
// of members as a member.
func (s *Source) groupsHolding(ctx context.Context, members []string) ([]string, error) {
	var b strings.Builder
	b.WriteString("(|")
	for _, m := range members {
		e := ldap.EscapeFilter(m)
		b.WriteString("(member=" + e + ")(uniqueMember=" + e + ")")
	}
	b.WriteString(")")
	var res *ldap.SearchResult
	err := s.do(ctx, true, func(c *conn) error {
		var err error
		res, err = c.Search(ldap.NewSearchRequest(s.groupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			maxGroups, timeLimit(s.opts.Timeout), false, b.String(), []string{"1.1"}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("groups under %s: %w", s.groupBase, err)
	}
	dns := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	return dns, nil
}

// normalize returns a DN in a form equal for equal DNs (case, spaces,
// escaping aside); an unparsable DN as it is, lowercased.
func normalize(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	return strings.ToLower(d.String())
}
