package ftptest

import "net/netip"

// The loopback addresses of tests that play a small network behind a load
// balancer (PROXY protocol): the balancer, the client behind it, and
// somebody else, whose connections must be refused. Linux routes all of
// 127.0.0.0/8 to lo, so a test can bind any of them.
var (
	BalancerAddr = netip.MustParseAddr("127.0.0.4")
	ClientAddr   = netip.MustParseAddr("127.0.0.5")
	StrangerAddr = netip.MustParseAddr("127.0.0.6")
)
