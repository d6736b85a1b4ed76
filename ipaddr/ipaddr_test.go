package ipaddr_test

import (
	"net"
	"net/netip"
	"testing"

	"ftpsd/ipaddr"
)

// TestOfUnmaps: an IPv4 client seen on an IPv6 socket (::ffff:a.b.c.d)
// converts to the plain IPv4 address, equal to the same client seen on
// an IPv4 socket; IPv6 addresses and ports are kept; a non-TCP address
// has no IP.
func TestOfUnmaps(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 2121}
	if !netip.MustParseAddr("::ffff:192.0.2.1").Is4In6() {
		t.Fatal("test address is not IPv4-mapped")
	}
	if got := ipaddr.Of(mapped); got != v4 {
		t.Errorf("Of(%v) = %v, want %v", mapped, got, v4)
	}
	if got := ipaddr.Of(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1).To4()}); got != v4 {
		t.Errorf("Of(192.0.2.1) = %v, want %v", got, v4)
	}
	if ap, ok := ipaddr.PortOf(mapped); !ok || ap != netip.AddrPortFrom(v4, 2121) {
		t.Errorf("PortOf(%v) = %v, %v; want %v:2121, true", mapped, ap, ok, v4)
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	if got := ipaddr.Of(net.TCPAddrFromAddrPort(netip.AddrPortFrom(v6, 21))); got != v6 {
		t.Errorf("Of([2001:db8::1]:21) = %v, want %v", got, v6)
	}
	if got := ipaddr.Of(&net.UnixAddr{Name: "/x", Net: "unix"}); got.IsValid() {
		t.Errorf("Of(unix address) = %v, want the zero Addr", got)
	}
	if _, ok := ipaddr.PortOf(nil); ok {
		t.Error("PortOf(nil) reported a TCP address")
	}
}
