// Package ldaptest runs a real OpenLDAP server (Debian's slapd) on
// loopback for the tests of ftpsd's LDAP account source: its own
// configuration, database and certificates in a temporary directory,
// ldaps:// with a test CA and ldap:// for StartTLS, and a seeded
// directory under dc=ftpsd,dc=test:
//
//	ou=people   alice (in partners), bob (in readonly), carol (in
//	            contractors, itself a member of partners), dave (in no
//	            group), and two entries with uid twin
//	ou=groups   cn=partners, cn=readonly, cn=contractors (groupOfNames)
//	ou=services cn=ftpsd, the service account (BindDN, BindPassword)
//
// Each user's password is Password(uid), its mail Mail(uid) (the twins'
// excepted, the second has the first's). Anonymous clients can only bind;
// a bound client can read everything but the passwords.
//
//	srv := ldaptest.New(t)
//	src, _ := ldapauth.New(ldapauth.Options{URL: srv.URL, CAFile: srv.CAFile, ...}, logger)
//	srv.Stop()  // the directory is down
//	srv.Start() // back, same ports and data
//
// slapd comes from Debian's slapd package. Without it the test is skipped
// (always under -short: it is in the full tier), and fails under CI=true
// (internal/testenv). The server is stopped when the test ends; its log
// (slapd's "stats" level: connections, binds, searches) is logged when the
// test has failed.
package ldaptest

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // {SSHA}, the scheme slapd checks binds with
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// The seeded directory.
const (
	Base          = "dc=ftpsd,dc=test"
	People        = "ou=people," + Base
	Groups        = "ou=groups," + Base
	PartnersDN    = "cn=partners," + Groups
	ReadOnlyDN    = "cn=readonly," + Groups
	ContractorsDN = "cn=contractors," + Groups
	// BindDN is the service account ftpsd binds as to search.
	BindDN       = "cn=ftpsd,ou=services," + Base
	BindPassword = "service secret"
	// RootDN is slapd's administrator (rootdn), allowed everything.
	RootDN       = "cn=admin," + Base
	RootPassword = "root secret"
)

// readyTimeout bounds each start of slapd; stopTimeout its stop.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Password returns the password of a seeded or added user.
func Password(uid string) string { return uid + " password" }

// Mail returns the mail address of a seeded or added user.
func Mail(uid string) string { return uid + "@ftpsd.test" }

// UserDN returns the DN of user uid under ou=people.
func UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + People }

// Server is a running slapd.
type Server struct {
	// URL is "ldaps://127.0.0.1:PORT/".
	URL string
	// StartTLSURL is "ldap://127.0.0.1:PORT/" (plain until StartTLS).
	StartTLSURL string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate (for localhost and 127.0.0.1).
	CAFile string

	t      testing.TB
	slapd  string
	dir    string
	conf   string
	caPool *x509.CertPool
	log    *testenv.SyncBuffer

	mu     sync.Mutex
	syncs  int
	cmd    *exec.Cmd
	exited chan struct{}
}

// New starts slapd with the seeded directory and stops it when the test
// ends.
func New(t testing.TB) *Server {
	t.Helper()
	slapd, slapadd := sbinTool(t, "slapd"), sbinTool(t, "slapadd")
	dir := t.TempDir()
	ca := testcert.Issue(t, "ftpsd ldaptest CA", true, nil)
	leaf := testcert.Issue(t, "localhost", false, ca)
	certFile, keyFile := leaf.Write(t, dir)
	s := &Server{
		URL:         "ldaps://127.0.0.1:" + strconv.Itoa(ftptest.FreePort(t)) + "/",
		StartTLSURL: "ldap://127.0.0.1:" + strconv.Itoa(ftptest.FreePort(t)) + "/",
		CAFile:      filepath.Join(dir, "ca.pem"),
		t:           t,
		slapd:       slapd,
		dir:         dir,
		conf:        filepath.Join(dir, "slapd.conf"),
		caPool:      x509.NewCertPool(),
		log:         &testenv.SyncBuffer{},
	}
	s.caPool.AddCert(ca.Cert)
	if err := os.WriteFile(s.CAFile, testcert.CertPEM(ca.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.conf, []byte(slapdConf(dir, certFile, keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.ldif")
	if err := os.WriteFile(seed, []byte(seedLDIF()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", s.conf, "-l", seed).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("slapd log:\n%s", s.log.String())
		}
	})
	s.Start()
	return s
}

// sbinTool returns the path of one of slapd's programs, which Debian
// installs in /usr/sbin, outside a user's PATH.
func sbinTool(t testing.TB, name string) string {
	t.Helper()
	if p := "/usr/sbin/" + name; !testing.Short() {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return testenv.NeedTool(t, name, "slapd")
}

// slapdConf is slapd's configuration: the schemas a user and group entry
// need, one mdb database under dir, TLS with the test certificate, the
// rootdn, and access for the service account.
func slapdConf(dir, certFile, keyFile string) string {
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[2]s
TLSCertificateKeyFile %[3]s
TLSProtocolMin 3.3
database mdb
maxsize 16777216
suffix %[4]q
rootdn %[5]q
rootpw %[6]q
directory %[1]s/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
`, dir, certFile, keyFile, Base, RootDN, RootPassword)
}

// seedLDIF is the directory slapadd loads before slapd first starts.
func seedLDIF() string {
	var b strings.Builder
	b.WriteString(`dn: ` + Base + `
objectClass: dcObject
objectClass: organization
dc: ftpsd
o: ftpsd tests

dn: ` + People + `
objectClass: organizationalUnit
ou: people

dn: ` + Groups + `
objectClass: organizationalUnit
ou: groups

dn: ou=services,` + Base + `
objectClass: organizationalUnit
ou: services

dn: ` + BindDN + `
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: ftpsd
userPassword: ` + SSHA(BindPassword) + `

`)
	for _, uid := range []string{"alice", "bob", "carol", "dave", "twin"} {
		b.WriteString(userLDIF(UserDN(uid), uid))
	}
	// A second entry with uid twin: a user filter that matches twice.
	b.WriteString(userLDIF("cn=twin2,"+People, "twin"))
	b.WriteString(groupLDIF(ContractorsDN, UserDN("carol")))
	b.WriteString(groupLDIF(PartnersDN, UserDN("alice"), ContractorsDN))
	b.WriteString(groupLDIF(ReadOnlyDN, UserDN("bob")))
	return b.String()
}

func userLDIF(dn, uid string) string {
	return "dn: " + dn + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: " + uid +
		"\nsn: " + uid + "\nmail: " + Mail(uid) + "\nuserPassword: " + SSHA(Password(uid)) + "\n\n"
}

func groupLDIF(dn string, members ...string) string {
	cn := strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "cn=")
	out := "dn: " + dn + "\nobjectClass: groupOfNames\ncn: " + cn + "\n"
	for _, m := range members {
		out += "member: " + m + "\n"
	}
	return out + "\n"
}

// SSHA hashes password as slapd's {SSHA} scheme stores it.
func SSHA(password string) string {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	h := sha1.New() //nolint:gosec // {SSHA} is SHA-1 by definition
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// Start starts slapd (again, after Stop) on the same ports with the same
// data and waits until it answers a search over ldaps.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("ldaptest: slapd already running")
	}
	// -d stats: in the foreground, logging connections and operations.
	cmd := exec.Command(s.slapd, "-f", s.conf, "-h", s.URL+" "+s.StartTLSURL, "-d", "stats")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	ok := ftptest.Eventually(readyTimeout, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return s.ping() == nil
	})
	select {
	case <-exited:
		s.cmd = nil
		s.t.Fatalf("slapd exited at start (%v):\n%s", cmd.ProcessState, s.log.String())
	default:
	}
	if !ok {
		s.t.Fatalf("slapd not ready within %s: %v\n%s", readyTimeout, s.ping(), s.log.String())
	}
}

// Stop stops slapd and waits until it has exited: the ports refuse
// connections until Start.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("ldaptest: slapd is not running")
	}
	s.stopLocked()
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.stopLocked()
	}
}

// stopLocked ends slapd with SIGTERM (it closes its database cleanly),
// then SIGKILL after stopTimeout.
func (s *Server) stopLocked() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // if paused
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// Pause freezes slapd (SIGSTOP) and waits until every thread of it has
// stopped: connections stay open and requests go unanswered, as with a
// hung directory, until Resume.
func (s *Server) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
	ftptest.MustEventually(s.t, 5*time.Second, "slapd's threads stopped", s.stopped)
}

// stopped reports whether every thread of slapd is in the stopped state
// (proc(5): "T" in /proc/PID/task/TID/stat).
func (s *Server) stopped() bool {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// The state follows the command name in parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || !strings.HasPrefix(string(b[i:]), ") T") {
			return false
		}
	}
	return true
}

// Resume lets a paused slapd go on (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("ldaptest: slapd is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("ldaptest: signal slapd: %v", err)
	}
}

// Log returns slapd's log so far (its "stats" level: one line per
// connection and operation, e.g. `BIND dn="uid=alice,..." method=128`).
func (s *Server) Log() string { return s.log.String() }

// Binds counts the simple binds as dn that slapd has received so far.
func (s *Server) Binds(dn string) int {
	s.t.Helper()
	s.syncLog()
	return strings.Count(s.log.String(), `BIND dn="`+dn+`" method=128`)
}

// Ops counts the operations slapd has received so far (each call adds
// one search of its own).
type Ops struct{ Binds, Searches int }

// Ops counts the binds and searches slapd has received so far; each call
// makes one search of its own, so differences between calls compare.
func (s *Server) Ops() Ops {
	s.t.Helper()
	s.syncLog()
	log := s.log.String()
	return Ops{Binds: strings.Count(log, " BIND dn="), Searches: strings.Count(log, " SRCH base=")}
}

// syncLog waits until slapd's log holds every line it wrote before now:
// slapd logs a request when it reads it, and its output reaches the
// buffer through a pipe, so the test searches with a filter of its own
// and waits for that search's line.
func (s *Server) syncLog() {
	s.t.Helper()
	s.mu.Lock()
	s.syncs++
	marker := fmt.Sprintf("(cn=ldaptest-sync-%d)", s.syncs)
	s.mu.Unlock()
	c, err := ldap.DialURL(s.URL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		s.t.Fatalf("ldaptest: sync the log: %v", err)
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	_, _ = c.Search(ldap.NewSearchRequest(Base, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 5, false, marker, []string{"1.1"}, nil))
	ftptest.MustEventually(s.t, 5*time.Second, "slapd's log of "+marker, func() bool {
		return strings.Contains(s.log.String(), `filter="`+marker+`"`)
	})
}

// TLSConfig returns a client TLS configuration that trusts the test CA.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.caPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// ping searches the base over ldaps as the rootdn.
func (s *Server) ping() error {
	c, err := s.admin()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Search(ldap.NewSearchRequest(Base, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 5, false, "(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// admin returns a connection over ldaps bound as the rootdn.
func (s *Server) admin() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(RootDN, RootPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// mustAdmin is admin, failing the test on an error.
func (s *Server) mustAdmin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.admin()
	if err != nil {
		t.Fatalf("ldaptest: connect as rootdn: %v", err)
	}
	return c
}

// AddUser adds user uid under ou=people with Password(uid) and makes it a
// member of the groups (DNs), and returns its DN.
func (s *Server) AddUser(t testing.TB, uid string, groups ...string) string {
	t.Helper()
	c := s.mustAdmin(t)
	defer c.Close()
	dn := UserDN(uid)
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{uid})
	add.Attribute("cn", []string{uid})
	add.Attribute("sn", []string{uid})
	add.Attribute("mail", []string{Mail(uid)})
	add.Attribute("userPassword", []string{SSHA(Password(uid))})
	if err := c.Add(add); err != nil {
		t.Fatalf("ldaptest: add %s: %v", dn, err)
	}
	for _, g := range groups {
		s.AddMember(t, g, dn)
	}
	return dn
}

// AddMember adds member (a DN) to the group's members.
func (s *Server) AddMember(t testing.TB, group, member string) {
	t.Helper()
	c := s.mustAdmin(t)
	defer c.Close()
	mod := ldap.NewModifyRequest(group, nil)
	mod.Add("member", []string{member})
	if err := c.Modify(mod); err != nil {
		t.Fatalf("ldaptest: add %s to %s: %v", member, group, err)
	}
}

// AddGroup adds a groupOfNames under ou=groups with the members (DNs; at
// least one) and returns its DN.
func (s *Server) AddGroup(t testing.TB, cn string, members ...string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + Groups
	s.AddGroupAt(t, dn, members...)
	return dn
}

// AddGroupAt adds a groupOfNames with the DN dn (its first RDN cn=...)
// and the members (DNs; at least one).
func (s *Server) AddGroupAt(t testing.TB, dn string, members ...string) {
	t.Helper()
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) != 1 {
		t.Fatalf("ldaptest: group DN %q: want cn=NAME,...", dn)
	}
	c := s.mustAdmin(t)
	defer c.Close()
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{parsed.RDNs[0].Attributes[0].Value})
	add.Attribute("member", members)
	if err := c.Add(add); err != nil {
		t.Fatalf("ldaptest: add %s: %v", dn, err)
	}
}
