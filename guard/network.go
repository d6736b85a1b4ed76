package guard

import "net/netip"

// DefaultIPv6PrefixLength is the IPv6 network a client counts as when
// Options.IPv6PrefixLength is zero: a /64 is what one host, or one site's
// LAN, commonly gets, and picks its addresses from freely.
const DefaultIPv6PrefixLength = 64

// Network returns the network a client address counts as: an IPv4
// address (an IPv4-mapped IPv6 address too) by itself, an IPv6 address
// together with every address that shares its first ipv6Bits bits (a
// zone is dropped). An invalid address returns the zero Prefix.
func Network(a netip.Addr, ipv6Bits int) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(ipv6Bits)
	return p
}

// Network returns the network a counts as under the Guard's
// IPv6PrefixLength: its failures, delays, ban, refusal log lines and
// password-check turn are those of the network.
func (g *Guard) Network(a netip.Addr) netip.Prefix {
	return Network(a, g.opts.IPv6PrefixLength)
}
