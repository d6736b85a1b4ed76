package s3storage_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ftpsd/acme/s3storage"
	"ftpsd/internal/acmetest"
	"ftpsd/internal/miniotest"
)

// clusterNode is one ftpsd node's certmagic: a cache and a config of its
// own over a Storage of its own in the shared bucket.
type clusterNode struct {
	storage *s3storage.Storage
	config  *certmagic.Config
	issuer  *certmagic.ACMEIssuer
}

// together is a Storage whose Lock of a certificate's issuance waits
// until every node has called it (for at most 10 s), so that the nodes
// race for the lock in the bucket at the same moment rather than one
// after the other as certmagic's earlier steps would line them up.
type together struct {
	*s3storage.Storage
	arrived *atomic.Int64
	nodes   int64
	all     chan struct{} // closed when the last node arrived
}

func (s together) Lock(ctx context.Context, name string) error {
	if strings.HasPrefix(name, "issue_cert_") {
		if s.arrived.Add(1) == s.nodes {
			close(s.all)
		}
		select {
		case <-s.all:
		case <-time.After(10 * time.Second):
		}
	}
	return s.Storage.Lock(ctx, name)
}

// newClusterNode returns a node that orders from ca with HTTP-01, whose
// challenge listener is the test's (see TestClusterOrdersOnce), and
// whose Lock waits for the others' (see together).
func newClusterNode(t *testing.T, m *miniotest.Server, ca *acmetest.Pebble, log *zap.Logger, race together) *clusterNode {
	t.Helper()
	n := &clusterNode{storage: newNode(t, m, s3storage.Options{LockTTL: 10 * time.Second, LockPoll: 100 * time.Millisecond, Logger: log})}
	race.Storage = n.storage
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return n.config, nil },
		Logger:           log,
	})
	t.Cleanup(cache.Stop)
	n.config = certmagic.New(cache, certmagic.Config{
		Storage: race, Logger: log, OCSP: certmagic.OCSPConfig{DisableStapling: true},
	})
	n.issuer = certmagic.NewACMEIssuer(n.config, certmagic.ACMEIssuer{
		CA: ca.DirectoryURL, TrustedRoots: ca.TLSRoots, Email: "admin@ftpsd.test", Agreed: true,
		ListenHost: "127.0.0.1", AltHTTPPort: ca.HTTPPort, DisableTLSALPNChallenge: true,
		CertObtainTimeout: time.Minute, Logger: log,
	})
	n.config.Issuers = []certmagic.Issuer{n.issuer}
	return n
}

// TestClusterOrdersOnce: two nodes on one bucket manage the same name at
// the same time; the CA sees one order and issues one certificate, and
// both nodes serve it. Pebble validates HTTP-01 on loopback at its
// HTTPPort, where one listener answers with the second node's handler
// only: when the first node orders, the second answers from the
// challenge the first stored in the bucket.
func TestClusterOrdersOnce(t *testing.T) {
	m := miniotest.New(t)
	dns := acmetest.NewDNS(t, "ftpsd.test.")
	ca := acmetest.NewPebble(t, dns.Addr)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	race := together{arrived: new(atomic.Int64), nodes: 2, all: make(chan struct{})}
	nodes := []*clusterNode{newClusterNode(t, m, ca, log, race), newClusterNode(t, m, ca, log, race)}
	const name = "cluster.ftpsd.test"

	var served, fromBucket atomic.Int64
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ca.HTTPPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keys, err := nodes[1].storage.List(r.Context(), "acme", true); err == nil && hasChallengeToken(keys) {
			fromBucket.Add(1)
		}
		if nodes[1].issuer.HandleHTTPChallenge(w, r) {
			served.Add(1)
			return
		}
		http.NotFound(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if err := n.config.ManageSync(ctx, []string{name}); err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	orders, issued := ca.Orders()
	t.Logf("Pebble: %d order(s), %d certificate(s); %d challenge request(s) answered, %d with the token in the bucket",
		orders, issued, served.Load(), fromBucket.Load())
	if n := race.arrived.Load(); n != 2 {
		t.Fatalf("%d node(s) asked for the issuance lock, want both", n)
	}
	if orders != 1 || issued != 1 {
		t.Fatalf("Pebble saw %d orders and issued %d certificates for two nodes, want 1 and 1", orders, issued)
	}
	if served.Load() == 0 || fromBucket.Load() == 0 {
		t.Fatalf("%d challenge requests answered, %d with the token in the bucket; want both > 0", served.Load(), fromBucket.Load())
	}

	roots := ca.IssuingRoots(t)
	var prints []string
	for i, n := range nodes {
		p, err := handshake(n.config, name, roots)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		prints = append(prints, p)
	}
	t.Logf("both nodes serve %s", prints[0])
	if prints[0] != prints[1] {
		t.Fatalf("the nodes serve different certificates: %s and %s", prints[0], prints[1])
	}
}

// hasChallengeToken reports whether keys hold an HTTP-01 challenge that
// certmagic's distributed solver stored.
func hasChallengeToken(keys []string) bool {
	for _, k := range keys {
		if strings.Contains(k, "/challenge_tokens/") {
			return true
		}
	}
	return false
}

// handshake completes a TLS handshake for name with a server that takes
// its certificate from cfg, as a client trusting roots, and returns the
// SHA-256 of the certificate it was shown.
func handshake(cfg *certmagic.Config, name string, roots *x509.CertPool) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{GetCertificate: cfg.GetCertificate, MinVersion: tls.VersionTLS12})
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		_ = s.Handshake()
	}()
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return "", fmt.Errorf("handshake: %w", err)
	}
	defer c.Close()
	peer := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return "", errors.New("handshake: no certificate")
	}
	return fmt.Sprintf("%x (serial %s)", sha256.Sum256(peer[0].Raw), peer[0].SerialNumber), nil
}
