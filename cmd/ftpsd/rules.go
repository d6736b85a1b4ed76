package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"ftpsd/config"
)

// rulesCommand prints a complete firewall ruleset for a configuration and
// the topology the administrator names (see docs/firewall.md):
//
//	ftpsd rules -config FILE -firewall host|nat-edge -cure range|ccc|both
//	            [-format nft|iptables] [-wan IF] [-server ADDR] [-allow PORTS]
//
// The nftables form is one table of its own (inet ftpsd), replaced whole
// each time it is loaded (nft -f FILE), leaving other tables alone; the
// iptables form is for iptables-restore --noflush (chains of its own,
// IPv4 only).
func rulesCommand(args []string, stdout io.Writer) error {
	fs, path := configFlags("rules", "configuration file (TOML) the rules are for")
	firewall := fs.String("firewall", "", `where the firewall runs: "host" (on the server itself) or "nat-edge" (a router that forwards a public address to the server)`)
	cure := fs.String("cure", "range", `how data connections pass: "range" (the passive range is opened), "ccc" (the conntrack FTP helper reads the 227/229 replies of clients that send CCC) or "both"`)
	format := fs.String("format", "nft", `"nft" (an nftables ruleset for nft -f) or "iptables" (for iptables-restore --noflush)`)
	wan := fs.String("wan", "", "nat-edge: the edge's public interface (required)")
	server := fs.String("server", "", "nat-edge: the server's private IPv4 address the edge forwards to (default: the address of server.listen)")
	allow := fs.String("allow", "22", `host: other inbound TCP ports to keep open, comma-separated ("" for none)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usage("rules: -config FILE is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	p, err := newRulesPlan(cfg, rulesFlags{firewall: *firewall, cure: *cure, format: *format, wan: *wan, server: *server, allow: *allow})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# ftpsd rules -firewall %s -cure %s -format %s, for %s\n", p.firewall, p.cure, p.format, *path)
	if p.format == "iptables" {
		p.writeIptables(stdout)
	} else {
		p.writeNft(stdout)
	}
	return nil
}

// rulesFlags are the command line of ftpsd rules.
type rulesFlags struct{ firewall, cure, format, wan, server, allow string }

// rulesPlan is what the rules are made of.
type rulesPlan struct {
	firewall, cure, format string
	control                []int            // control ports (explicit, implicit)
	helperPort             int              // the explicit control port, whose replies the helper reads; 0: none
	local                  config.PortRange // passive.ports
	public                 config.PortRange // what clients dial: passive.announce_ports, or local
	wan                    string           // nat-edge
	server                 netip.Addr       // nat-edge
	public4                netip.Addr       // nat-edge: passive.public_address when an IPv4 literal
	allow                  []int            // host
}

// newRulesPlan checks the flags against the configuration and gathers
// the ports and addresses the rules name.
func newRulesPlan(cfg config.Config, f rulesFlags) (*rulesPlan, error) {
	p := &rulesPlan{firewall: f.firewall, cure: f.cure, format: f.format, local: cfg.Passive.Ports, public: cfg.Passive.Ports}
	if !cfg.Passive.AnnouncePorts.IsZero() {
		p.public = cfg.Passive.AnnouncePorts
	}
	switch {
	case p.firewall != "host" && p.firewall != "nat-edge":
		return nil, usage(`rules: -firewall must be "host" or "nat-edge", got %q`, p.firewall)
	case p.cure != "range" && p.cure != "ccc" && p.cure != "both":
		return nil, usage(`rules: -cure must be "range", "ccc" or "both", got %q`, p.cure)
	case p.format != "nft" && p.format != "iptables":
		return nil, usage(`rules: -format must be "nft" or "iptables", got %q`, p.format)
	}
	if p.cure != "range" && !cfg.Passive.AnnouncePorts.IsZero() && cfg.Passive.AnnounceAfterCCC != config.AnnounceLocal {
		// After CCC the helper opens the port a 227 announces only when it
		// carries the server's own address; with it ftpsd announces the
		// local port, which the helper's expectation maps.
		return nil, fmt.Errorf("rules: -cure %s with passive.announce_ports needs passive.announce_after_ccc = \"local\": "+
			"the FTP helper opens only the ports a 227 announces with the server's own address", p.cure)
	}
	if p.cure != "range" && cfg.TLS.CCC != config.CCCAllow {
		return nil, fmt.Errorf("rules: -cure %s needs tls.ccc = \"allow\": the FTP helper can read only a control channel cleared with CCC", p.cure)
	}
	for i, addr := range []string{cfg.Server.Listen, cfg.Server.ImplicitListen} {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			n, _ := strconv.Atoi(port)
			p.control = append(p.control, n)
			if i == 0 && p.cure != "range" {
				p.helperPort = n
			}
		}
	}
	if p.firewall == "host" {
		return p, p.parseAllow(f.allow)
	}
	return p, p.edge(cfg, f)
}

// parseAllow reads -allow, comma-separated TCP ports.
func (p *rulesPlan) parseAllow(list string) error {
	for field := range strings.SplitSeq(list, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		n, err := strconv.Atoi(field)
		if err != nil || n < 1 || n > 65535 {
			return usage("rules: -allow: %q is not a TCP port", field)
		}
		p.allow = append(p.allow, n)
	}
	return nil
}

// edge fills in the nat-edge's interface and addresses.
func (p *rulesPlan) edge(cfg config.Config, f rulesFlags) error {
	if p.wan = f.wan; p.wan == "" {
		return usage("rules: -firewall nat-edge needs -wan IF, the edge's public interface")
	}
	server := f.server
	if server == "" {
		server, _, _ = net.SplitHostPort(cfg.Server.Listen)
	}
	a, err := netip.ParseAddr(server)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsLoopback() {
		return usage("rules: -firewall nat-edge needs -server ADDR, the server's private IPv4 address (server.listen gives %q)", server)
	}
	p.server = a
	if pub, err := netip.ParseAddr(cfg.Passive.PublicAddress); err == nil && pub.Is4() {
		p.public4 = pub
	}
	return nil
}

// openRange reports whether the cure opens (forwards) the passive range.
func (p *rulesPlan) openRange() bool { return p.cure != "ccc" }

// joinPorts writes ports separated by sep.
func joinPorts(ports []int, sep string) string {
	s := make([]string, len(ports))
	for i, n := range ports {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, sep)
}

// nftPorts writes ports as an nftables set.
func nftPorts(ports []int) string { return "{ " + joinPorts(ports, ", ") + " }" }

// writeNft writes the nftables form: one table, replaced whole on load.
func (p *rulesPlan) writeNft(w io.Writer) {
	fmt.Fprint(w, "# Load with: nft -f FILE (replaces the table inet ftpsd, leaves the others alone).\n")
	if p.firewall == "host" {
		fmt.Fprint(w, "# Its input chain drops every other inbound connection: -allow names the ports to keep.\n")
	}
	fmt.Fprint(w, "table inet ftpsd\ndelete table inet ftpsd\n\ntable inet ftpsd {\n")
	if p.helperPort != 0 {
		fmt.Fprint(w, "\tct helper ftp {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto inet\n\t}\n\n")
	}
	if p.firewall == "host" {
		p.nftHost(w)
	} else {
		p.nftEdge(w)
	}
	fmt.Fprint(w, "}\n")
}

// nftHost writes the chains of a firewall on the server itself.
func (p *rulesPlan) nftHost(w io.Writer) {
	if p.helperPort != 0 {
		fmt.Fprint(w, "\tchain prerouting_helper {\n\t\ttype filter hook prerouting priority filter; policy accept;\n")
		fmt.Fprintf(w, "\t\ttcp dport %d ct state new ct helper set \"ftp\"\n\t}\n\n", p.helperPort)
	}
	fmt.Fprint(w, "\tchain filter_input {\n\t\ttype filter hook input priority filter; policy drop;\n")
	fmt.Fprint(w, "\t\tct state established,related accept\n\t\tct state invalid drop\n\t\tiifname \"lo\" accept\n")
	fmt.Fprint(w, "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n")
	if len(p.allow) > 0 {
		fmt.Fprintf(w, "\t\ttcp dport %s accept\n", nftPorts(p.allow))
	}
	fmt.Fprintf(w, "\t\ttcp dport %s accept\n", nftPorts(p.control))
	if p.openRange() {
		fmt.Fprintf(w, "\t\ttcp dport %s accept\n", p.local)
	}
	fmt.Fprint(w, "\t}\n")
}

// nftEdge writes the chains of a NAT edge in front of the server.
func (p *rulesPlan) nftEdge(w io.Writer) {
	match := fmt.Sprintf("iifname %q ", p.wan)
	if p.public4.IsValid() {
		match += fmt.Sprintf("ip daddr %s ", p.public4)
	}
	fmt.Fprint(w, "\tchain prerouting_nat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	fmt.Fprintf(w, "\t\t%stcp dport %s dnat ip to %s\n", match, nftPorts(p.control), p.server)
	if p.openRange() {
		if p.public == p.local {
			fmt.Fprintf(w, "\t\t%stcp dport %s dnat ip to %s\n", match, p.public, p.server)
		} else {
			// Port for port: the public port announced, the local one listened on.
			pairs := make([]string, p.local.Len())
			for i := range pairs {
				pairs[i] = fmt.Sprintf("%d : %d", p.public.Start+i, p.local.Start+i)
			}
			fmt.Fprintf(w, "\t\t%stcp dport %s dnat ip to %s : tcp dport map { %s }\n",
				match, p.public, p.server, strings.Join(pairs, ", "))
		}
	}
	fmt.Fprint(w, "\t}\n\n")
	if p.helperPort != 0 {
		// After DNAT (priority filter > dstnat): the helper sees the
		// server's address, which nf_nat_ftp rewrites in the replies.
		fmt.Fprint(w, "\tchain prerouting_helper {\n\t\ttype filter hook prerouting priority filter; policy accept;\n")
		fmt.Fprintf(w, "\t\t%sip daddr %s tcp dport %d ct state new ct helper set \"ftp\"\n\t}\n\n", fmt.Sprintf("iifname %q ", p.wan), p.server, p.helperPort)
	}
	fmt.Fprint(w, "\tchain filter_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	fmt.Fprint(w, "\t\tct state established,related accept\n")
	fmt.Fprintf(w, "\t\tip daddr %s tcp dport %s ct status dnat accept\n", p.server, nftPorts(p.control))
	if p.openRange() {
		fmt.Fprintf(w, "\t\tip daddr %s tcp dport %s ct status dnat accept\n", p.server, p.local)
	}
	fmt.Fprintf(w, "\t\tip daddr %s ct state new drop\n\t}\n\n", p.server)
	// The server's own connections to the public side (active mode, DNS)
	// leave with the edge's address.
	fmt.Fprint(w, "\tchain postrouting_nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	fmt.Fprintf(w, "\t\toifname %q ip saddr %s masquerade\n\t}\n", p.wan, p.server)
}

// iptPorts writes ports for -m multiport --dports.
func iptPorts(ports []int) string { return joinPorts(ports, ",") }

// iptRange writes a range as iptables does, "START:END".
func iptRange(r config.PortRange) string { return fmt.Sprintf("%d:%d", r.Start, r.End) }

// writeIptables writes the iptables-restore form: FTPSD-* chains and the
// jumps to them.
func (p *rulesPlan) writeIptables(w io.Writer) {
	fmt.Fprint(w, "# Load once with: iptables-restore --noflush FILE (IPv4; the FTPSD-* chains are\n"+
		"# replaced, the jumps to them are inserted again on each load).\n")
	jump := func(chain string) {
		fmt.Fprintf(w, "-I %s -j FTPSD-%s\n", chain, chain)
	}
	if p.helperPort != 0 {
		fmt.Fprint(w, "*raw\n:FTPSD-PREROUTING - [0:0]\n")
		// raw runs before DNAT: at the edge it sees the public address.
		fmt.Fprintf(w, "-A FTPSD-PREROUTING %s-p tcp --dport %d -j CT --helper ftp\n", p.iptEdgeMatch(), p.helperPort)
		jump("PREROUTING")
		fmt.Fprint(w, "COMMIT\n")
	}
	if p.firewall == "nat-edge" {
		fmt.Fprint(w, "*nat\n:FTPSD-PREROUTING - [0:0]\n:FTPSD-POSTROUTING - [0:0]\n")
		m := p.iptEdgeMatch()
		fmt.Fprintf(w, "-A FTPSD-PREROUTING %s-p tcp -m multiport --dports %s -j DNAT --to-destination %s\n", m, iptPorts(p.control), p.server)
		if p.openRange() {
			to := p.server.String()
			if p.public != p.local {
				to = fmt.Sprintf("%s:%d-%d/%d", p.server, p.local.Start, p.local.End, p.public.Start)
			}
			fmt.Fprintf(w, "-A FTPSD-PREROUTING %s-p tcp --dport %s -j DNAT --to-destination %s\n", m, iptRange(p.public), to)
		}
		fmt.Fprintf(w, "-A FTPSD-POSTROUTING -o %s -s %s -j MASQUERADE\n", p.wan, p.server)
		jump("PREROUTING")
		jump("POSTROUTING")
		fmt.Fprint(w, "COMMIT\n")
	}
	chain := "INPUT"
	if p.firewall == "nat-edge" {
		chain = "FORWARD"
	}
	fmt.Fprintf(w, "*filter\n:FTPSD-%s - [0:0]\n", chain)
	fmt.Fprintf(w, "-A FTPSD-%s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain)
	if p.firewall == "host" {
		p.iptHost(w)
	} else {
		dst := fmt.Sprintf("-d %s ", p.server)
		fmt.Fprintf(w, "-A FTPSD-FORWARD %s-p tcp -m multiport --dports %s -m conntrack --ctstate DNAT -j ACCEPT\n", dst, iptPorts(p.control))
		if p.openRange() {
			fmt.Fprintf(w, "-A FTPSD-FORWARD %s-p tcp --dport %s -m conntrack --ctstate DNAT -j ACCEPT\n", dst, iptRange(p.local))
		}
		fmt.Fprintf(w, "-A FTPSD-FORWARD %s-m conntrack --ctstate NEW -j DROP\n", dst)
	}
	jump(chain)
	fmt.Fprint(w, "COMMIT\n")
}

// iptHost writes the FTPSD-INPUT chain of a firewall on the server.
func (p *rulesPlan) iptHost(w io.Writer) {
	fmt.Fprint(w, "-A FTPSD-INPUT -m conntrack --ctstate INVALID -j DROP\n-A FTPSD-INPUT -i lo -j ACCEPT\n-A FTPSD-INPUT -p icmp -j ACCEPT\n")
	if len(p.allow) > 0 {
		fmt.Fprintf(w, "-A FTPSD-INPUT -p tcp -m multiport --dports %s -j ACCEPT\n", iptPorts(p.allow))
	}
	fmt.Fprintf(w, "-A FTPSD-INPUT -p tcp -m multiport --dports %s -j ACCEPT\n", iptPorts(p.control))
	if p.openRange() {
		fmt.Fprintf(w, "-A FTPSD-INPUT -p tcp --dport %s -j ACCEPT\n", iptRange(p.local))
	}
	fmt.Fprint(w, "-A FTPSD-INPUT -j DROP\n")
}

// iptEdgeMatch matches the public side of a nat-edge ("" on a host).
func (p *rulesPlan) iptEdgeMatch() string {
	if p.firewall != "nat-edge" {
		return ""
	}
	m := fmt.Sprintf("-i %s ", p.wan)
	if p.public4.IsValid() {
		m += fmt.Sprintf("-d %s ", p.public4)
	}
	return m
}
