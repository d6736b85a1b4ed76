package driver_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/tlsconf"
)

// TestNewServerFailureLeaksNothing: when binding server.listen fails,
// NewServer must stop what it started (the public address refresh loop).
func TestNewServerFailureLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.Passive.PublicAddress = "localhost" // a DNS name: refreshed in the background
	cfg.Passive.PublicAddressRefresh = config.Duration(time.Hour)
	for _, edit := range []func(*config.Config){
		func(c *config.Config) { c.Server.Listen = taken.Addr().String() },
		func(c *config.Config) { c.Server.ImplicitListen = taken.Addr().String() },
	} {
		bad := cfg
		edit(&bad)
		if _, err := driver.NewServer(bad, testTLSConfig(t), zaptest.NewLogger(t)); err == nil {
			t.Fatalf("NewServer on a taken address succeeded")
		}
	}
}

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	store, err := tlsconf.New(tlsconf.Options{SelfSigned: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return store.Config()
}
