// Package ipaddr converts the addresses of connections (net.Addr) to
// netip values, the one form ftpsd compares, keys and logs: an IPv4
// client reached over an IPv6 socket (::ffff:192.0.2.1) is the same
// client as 192.0.2.1, so every conversion unmaps.
package ipaddr

import (
	"net"
	"net/netip"
)

// Of returns the IP address of a TCP address, an IPv4-mapped one
// unmapped; the zero Addr for any other kind of address.
func Of(a net.Addr) netip.Addr {
	ap, _ := PortOf(a)
	return ap.Addr()
}

// PortOf returns the IP address and port of a TCP address, an
// IPv4-mapped address unmapped, and whether a was a TCP address.
func PortOf(a net.Addr) (netip.AddrPort, bool) {
	t, ok := a.(*net.TCPAddr)
	if !ok || t == nil {
		return netip.AddrPort{}, false
	}
	ap := t.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
