package ldaptest_test

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"ftpsd/internal/ldaptest"
)

// TestServer starts slapd, checks the seeded directory over ldaps and
// StartTLS as the service account, that anonymous clients cannot search,
// and that Stop and Start take the server down and back with its data.
func TestServer(t *testing.T) {
	srv := ldaptest.New(t)

	c, err := ldap.DialURL(srv.StartTLSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	if err := c.StartTLS(srv.TLSConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	anon, err := c.Search(ldap.NewSearchRequest(ldaptest.People, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 5, false, "(uid=alice)", nil, nil))
	if err == nil && len(anon.Entries) != 0 {
		t.Fatalf("an anonymous search found %d entries, want none", len(anon.Entries))
	}
	if err := c.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(ldaptest.Base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 5, false, "(member="+ldaptest.ContractorsDN+")", []string{"1.1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].DN != ldaptest.PartnersDN {
		t.Fatalf("groups with member contractors: %d entries, want partners", len(res.Entries))
	}
	if err := c.Bind(ldaptest.UserDN("alice"), ldaptest.Password("bob")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("alice with bob's password: %v, want invalid credentials", err)
	}
	if n := srv.Binds(ldaptest.UserDN("alice")); n != 1 {
		t.Fatalf("slapd logged %d binds as alice, want 1", n)
	}

	srv.Stop()
	if _, err := ldap.DialURL(srv.URL, ldap.DialWithTLSConfig(srv.TLSConfig())); err == nil {
		t.Fatal("ldaps connects after Stop")
	}
	srv.Start()
	dn := srv.AddUser(t, "erin", ldaptest.ReadOnlyDN)
	c2, err := ldap.DialURL(srv.URL, ldap.DialWithTLSConfig(srv.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Bind(dn, ldaptest.Password("erin")); err != nil {
		t.Fatalf("bind as the added user after a restart: %v", err)
	}
	if err := c2.Bind(ldaptest.UserDN("carol"), ldaptest.Password("carol")); err != nil {
		t.Fatalf("bind as a seeded user after a restart: %v", err)
	}
}
