// Package refusal names the reasons ftpsd refuses a connection at
// accept, and a login by the account's policy. The control listeners
// report the first, the metrics label ftpsd_connections_refused_total
// with them, and the refusal's log line and 421 reply carry them: one set
// of names for all three. The driver reports the second, which label
// ftpsd_logins_refused_total.
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

// The reasons a login with the right password is refused by the
// account's policy, each the [[users]] key that refused it.
const (
	// AllowedNetworks: the client's address is outside the account's
	// allowed_networks.
	AllowedNetworks = "allowed_networks"
	// Expires: the account's expires has passed.
	Expires = "expires"
	// Disabled: the account is disabled.
	Disabled = "disabled"
)

// LoginReasons returns every reason of a login refused by the account's
// policy, in a fixed order.
func LoginReasons() []string { return []string{AllowedNetworks, Expires, Disabled} }
