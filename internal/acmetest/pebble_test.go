package acmetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// orderTimeout bounds one ACME order against Pebble (which validates
// without its default random delay).
const orderTimeout = 60 * time.Second

// Pebble's directory answers over TLS to a client that trusts the root
// NewPebble returns, and only to such a client.
func TestPebbleDirectory(t *testing.T) {
	d := NewDNS(t, "ftpsd.test.")
	p := NewPebble(t, d.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), orderTimeout)
	defer cancel()
	dir, err := (&acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}).Discover(ctx)
	if err != nil {
		t.Fatalf("directory %s: %v", p.DirectoryURL, err)
	}
	if dir.RegURL == "" || dir.OrderURL == "" || dir.NonceURL == "" {
		t.Fatalf("directory %s lacks newAccount, newOrder or newNonce: %+v", p.DirectoryURL, dir)
	}
	// A client with the system's roots does not trust Pebble's listener.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.DirectoryURL)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("directory answered %s to a client without the test root", resp.Status)
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("directory without the test root: %v, want an unknown authority", err)
	}
	if pool := p.IssuingRoots(t); pool == nil {
		t.Fatal("no issuing root")
	}
}

// The groundwork's acceptance: an ACME DNS-01 order against Pebble, the
// challenge's TXT record put into knotd by a TSIG-signed RFC 2136 update,
// yields a certificate for the name that chains to Pebble's issuing root
// (/roots/0) and not to anything else the test holds.
func TestDNS01OrderAgainstPebbleAndKnot(t *testing.T) {
	const name = "x.ftpsd.test"
	o := newOrder(t, name)
	ctx, c, z, p := o.ctx, o.client, o.authz, o.ca
	chal := challenge(t, z, "dns-01")
	value, err := c.DNS01ChallengeRecord(chal.Token)
	if err != nil {
		t.Fatal(err)
	}
	o.dns.SetTXT(t, "_acme-challenge."+z.Identifier.Value+".", value)
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatalf("accept %s: %v", chal.URI, err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		t.Fatalf("authorization of %s: %v", z.Identifier.Value, err)
	}
	ready, err := c.WaitOrder(ctx, o.order.URI)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	if ready.Status != acme.StatusReady {
		t.Fatalf("order status %q, want %q", ready.Status, acme.StatusReady)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	// CreateCertFromOrder, not CreateOrderCert: Pebble's finalize reply has
	// no Location header, which CreateOrderCert needs (RFC 8555 does not).
	ders, _, err := c.CreateCertFromOrder(ctx, ready, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if len(ders) < 2 {
		t.Fatalf("%d certificates from the CA, want the leaf and an intermediate", len(ders))
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	intermediates := x509.NewCertPool()
	for _, der := range ders[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		intermediates.AddCert(ic)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&certKey.PublicKey) {
		t.Fatal("issued certificate is not for the CSR's key")
	}
	opts := x509.VerifyOptions{DNSName: name, Roots: p.IssuingRoots(t), Intermediates: intermediates}
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("certificate for %s against Pebble's /roots/0: %v", name, err)
	}
	opts.Roots = p.TLSRoots
	if _, err := leaf.Verify(opts); err == nil {
		t.Fatal("issued certificate verifies against Pebble's TLS root too: the check above proves nothing")
	}
	if orders, issued := p.Orders(); orders != 1 || issued != 1 {
		t.Errorf("Pebble counts %d orders and %d certificates, want 1 and 1", orders, issued)
	}
	t.Logf("issued %s by %s, valid until %s", leaf.DNSNames, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
}

// Pebble really asks knotd: accepting a DNS-01 challenge without its TXT
// record (only a wrong one) leaves the authorization invalid.
func TestDNS01WithoutRecordIsInvalid(t *testing.T) {
	o := newOrder(t, "y.ftpsd.test")
	o.dns.SetTXT(t, "_acme-challenge.y.ftpsd.test.", "not-the-key-authorization")
	chal := challenge(t, o.authz, "dns-01")
	if _, err := o.client.Accept(o.ctx, chal); err != nil {
		t.Fatalf("accept: %v", err)
	}
	_, err := o.client.WaitAuthorization(o.ctx, o.authz.URI)
	var authzErr *acme.AuthorizationError
	if !errors.As(err, &authzErr) {
		t.Fatalf("authorization with a wrong TXT record: %v, want an invalid authorization", err)
	}
	t.Logf("refused as expected: %v", err)
}

// HTTP-01 reaches the test: Pebble resolves the name through knotd (the
// zone's wildcard, 127.0.0.1) and fetches the key authorization from a
// listener the test runs on HTTPPort.
func TestHTTP01OnValidationPort(t *testing.T) {
	o := newOrder(t, "h.ftpsd.test")
	ctx, c, z, p := o.ctx, o.client, o.authz, o.ca
	chal := challenge(t, z, "http-01")
	keyAuth, err := c.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.HTTPPort)))
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != c.HTTP01ChallengePath(chal.Token) {
			http.NotFound(w, r)
			return
		}
		served.Add(1)
		_, _ = io.WriteString(w, keyAuth)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		t.Fatalf("authorization: %v", err)
	}
	if served.Load() == 0 {
		t.Fatal("authorization valid without a request for the challenge path")
	}
	t.Logf("valid after %d request(s) to 127.0.0.1:%d", served.Load(), p.HTTPPort)
}

// pendingOrder is one test's knotd and Pebble, a new account, and a new order
// for one name with its authorization, bounded by orderTimeout.
type pendingOrder struct {
	dns    *DNS
	ca     *Pebble
	ctx    context.Context
	client *acme.Client
	order  *acme.Order
	authz  *acme.Authorization
}

func newOrder(t *testing.T, name string) *pendingOrder {
	t.Helper()
	o := &pendingOrder{dns: NewDNS(t, "ftpsd.test.")}
	o.ca = NewPebble(t, o.dns.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), orderTimeout)
	t.Cleanup(cancel)
	o.ctx = ctx
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o.client = &acme.Client{Key: key, DirectoryURL: o.ca.DirectoryURL, HTTPClient: o.ca.HTTPClient()}
	if _, err := o.client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("new account: %v", err)
	}
	if o.order, err = o.client.AuthorizeOrder(ctx, acme.DomainIDs(name)); err != nil {
		t.Fatalf("new order for %s: %v", name, err)
	}
	if len(o.order.AuthzURLs) != 1 {
		t.Fatalf("order for %s has %d authorizations, want 1", name, len(o.order.AuthzURLs))
	}
	if o.authz, err = o.client.GetAuthorization(ctx, o.order.AuthzURLs[0]); err != nil {
		t.Fatalf("authorization for %s: %v", name, err)
	}
	return o
}

// challenge returns the authorization's challenge of type typ.
func challenge(t *testing.T, z *acme.Authorization, typ string) *acme.Challenge {
	t.Helper()
	for _, ch := range z.Challenges {
		if ch.Type == typ {
			return ch
		}
	}
	t.Fatalf("authorization of %s offers no %s challenge", z.Identifier.Value, typ)
	return nil
}
