package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestChangedKeys(t *testing.T) {
	a := Default()
	b := Default()
	if got := ChangedKeys(a, b); len(got) != 0 {
		t.Fatalf("identical configs differ in %v", got)
	}
	b.Server.Banner = "hello"
	b.Server.IdleTimeout = Duration(time.Minute)
	b.TLS.CertFile = "/c.pem"
	b.Passive.InternalNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	b.Users = []User{{Name: "x"}}
	want := []string{"server.banner", "server.idle_timeout", "tls.cert_file", "passive.internal_networks", "users"}
	if got := ChangedKeys(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("ChangedKeys = %v, want %v", got, want)
	}
}
