// Package netlab builds, for one test, a small firewall laboratory out of
// Linux network namespaces: a client, a stateful nftables firewall that
// forwards between two networks, and a server.
//
//	cli (198.51.100.2, .3) ── veth ── fw (198.51.100.1 | 192.0.2.1) ── veth ── srv (192.0.2.2)
//
// Every address comes from the documentation ranges (RFC 5737), and no
// packet leaves the namespaces. The firewall's forward policy is drop: it
// passes new connections to the FTP control port, whatever conntrack's FTP
// helper learns from the control channel (ct state established,related)
// and, when asked to, new connections to a passive port range. Two
// topologies are offered: Routed, where the client reaches the server's own
// address through the firewall, and NAT, where the client connects to the
// firewall's public address and the firewall forwards (DNAT) to the
// server, whose network is private.
//
// A Lab runs commands and long-running processes in its namespaces through
// "ip netns exec", and opens sockets there from the test process itself.
// Everything it creates is removed by t.Cleanup, also when the test fails,
// and the removal is checked. It needs root, the ip (iproute2) and nft
// (nftables) programs and a kernel with nf_conntrack_ftp and nf_nat_ftp;
// without root the test is skipped, except under CI=true, where it fails.
package netlab
