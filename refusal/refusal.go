// Package refusal names the reasons ftpsd refuses a connection at
// accept. The control listeners report them, the metrics label
// ftpsd_connections_refused_total with them, and the refusal's log line
// and 421 reply carry them: one set of names for all three.
package refusal

// The reasons, each the config key of what refused the connection, but
// for Banned.
const (
	// MaxConnections, MaxPerIP, MaxUnauthenticated and
	// MaxUnauthenticatedPerIP: the connection would exceed that cap.
	MaxConnections          = "max_connections"
	MaxPerIP                = "max_connections_per_ip"
	MaxUnauthenticated      = "max_unauthenticated"
	MaxUnauthenticatedPerIP = "max_unauthenticated_per_ip"
	// Banned: the client address is banned for failed logins.
	Banned = "banned"
	// UntrustedProxy: under the PROXY protocol, a connection from outside
	// server.trusted_proxies.
	UntrustedProxy = "trusted_proxies"
	// ProxyHeader: under the PROXY protocol, no valid header in time, or a
	// header naming a client address and port another open connection
	// has.
	ProxyHeader = "proxy_protocol"
)

// Reasons returns every reason, in a fixed order.
func Reasons() []string {
	return []string{MaxConnections, MaxPerIP, MaxUnauthenticated, MaxUnauthenticatedPerIP,
		Banned, UntrustedProxy, ProxyHeader}
}
