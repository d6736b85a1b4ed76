package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"ftpsd/config"
	"ftpsd/pasv"
)

// printPortReport writes, as TOML comments, which passive ports are taken
// on this host now and the firewall rules the configuration needs.
func printPortReport(w io.Writer, cfg config.Config) {
	r := cfg.Passive.Ports
	taken := pasv.TakenPorts(r.Start, r.End)
	fmt.Fprintf(w, "\n# passive ports %s: %d ports, %d taken on this host now%s\n",
		r, r.Len(), len(taken), listPorts(taken))
	control := controlPorts(cfg)
	fmt.Fprintf(w, `#
# Firewall rules for this configuration (inbound TCP), to add to an existing
# "inet filter" table with an input chain (Debian's /etc/nftables.conf) or
# to iptables' INPUT chain:
#   nftables:
#     nft add rule inet filter input tcp dport { %s } accept
#     nft add rule inet filter input tcp dport %d-%d accept
#   iptables:
#     iptables -A INPUT -p tcp -m multiport --dports %s -j ACCEPT
#     iptables -A INPUT -p tcp --dport %d:%d -j ACCEPT
# A complete ruleset that loads as printed (a table of its own; a NAT edge's
# DNAT, forward and masquerade rules; the conntrack FTP helper):
#   ftpsd rules -config FILE -firewall host|nat-edge -cure range|ccc|both [-format iptables]
`, strings.Join(control, ", "), r.Start, r.End, strings.Join(control, ","), r.Start, r.End)
	if a := cfg.Passive.AnnouncePorts; !a.IsZero() {
		fmt.Fprintf(w, "# Port translation: replies announce %s; the edge must forward %d+i to %d+i\n"+
			"#   (ftpsd rules -firewall nat-edge prints that DNAT).\n", a, a.Start, r.Start)
	}
	fmt.Fprint(w, `#   Deep-inspection firewalls (NetScreen-style FTP ALG) cannot read PASV
#   replies on an encrypted control channel: open the passive range above,
#   or have clients send CCC after login (tls.ccc = "allow") so the ALG can
#   read the 227 reply while the data stays encrypted; a site whose clients
#   all send CCC keeps the range closed (ftpsd rules -cure ccc).
`)
}

func listPorts(ports []int) string {
	if len(ports) == 0 {
		return ""
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return ": " + strings.Join(s, ", ")
}

// controlPorts returns the ports of the control listeners.
func controlPorts(cfg config.Config) []string {
	var ports []string
	for _, addr := range []string{cfg.Server.Listen, cfg.Server.ImplicitListen} {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			ports = append(ports, port)
		}
	}
	return ports
}

// announcedPorts is the range the passive replies announce: "off" without
// port translation.
func announcedPorts(p config.Passive) string {
	if p.AnnouncePorts.IsZero() {
		return "off"
	}
	return p.AnnouncePorts.String()
}
