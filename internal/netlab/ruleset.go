//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// TableName is the nftables table (family ip) of the firewall's ruleset.
const TableName = "netlab"

// Names of the firewall's named counters, read with Lab.Counters.
const (
	// CounterHelper counts new control connections given the FTP helper.
	CounterHelper = "ftp_helper_assigned"
	// CounterControl counts new control connections forwarded.
	CounterControl = "control_new"
	// CounterRelated counts packets of connections the helper expected
	// (ct state related): data connections it learnt from 227/229 replies
	// or PORT/EPRT commands.
	CounterRelated = "related"
	// CounterRange counts new connections forwarded to the open range.
	CounterRange = "range_new"
	// CounterDropped counts forwarded packets that no rule accepted.
	CounterDropped = "dropped"
)

// renderRuleset returns the firewall's ruleset for topo, the control port
// and the open range (zero: none), with the FTP helper or without.
//
// The FTP helper is assigned in a prerouting chain of priority filter,
// after conntrack (-200) and after DNAT (-100), so under NAT it matches the
// translated destination; nf_nat_ftp then rewrites the 227 replies that
// carry the server's own address (the address the connection was
// translated to) and sets up the translation of the data connection.
func renderRuleset(topo Topology, controlPort int, open PortRange, helper bool) string {
	// Under NAT only translated connections may cross: the server network
	// is private.
	dnatOnly := ""
	if topo == NAT {
		dnatOnly = "ct status dnat "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	b.WriteString("\tct helper ftp-std {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto ip\n\t}\n\n")
	for _, c := range []string{CounterHelper, CounterControl, CounterRelated, CounterRange, CounterDropped} {
		fmt.Fprintf(&b, "\tcounter %s {\n\t}\n", c)
	}
	if topo == NAT {
		fmt.Fprintf(&b, "\n\tchain nat_prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
		fmt.Fprintf(&b, "\t\tiifname %q ip daddr %s tcp dport %d dnat to %s\n", fwClientIf, publicAddr, controlPort, serverAddr)
		if !open.IsZero() {
			fmt.Fprintf(&b, "\t\tiifname %q ip daddr %s tcp dport %s dnat to %s\n", fwClientIf, publicAddr, open, serverAddr)
		}
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "\n\tchain assign_helper {\n\t\ttype filter hook prerouting priority filter; policy accept;\n")
	if helper {
		fmt.Fprintf(&b, "\t\tiifname %q ip daddr %s tcp dport %d ct state new ct helper set \"ftp-std\" counter name %q\n",
			fwClientIf, serverAddr, controlPort, CounterHelper)
	}
	b.WriteString("\t}\n")
	fmt.Fprintf(&b, "\n\tchain filter_forward {\n\t\ttype filter hook forward priority filter; policy drop;\n")
	b.WriteString("\t\tct state established accept\n")
	fmt.Fprintf(&b, "\t\tct state related counter name %q accept\n", CounterRelated)
	fmt.Fprintf(&b, "\t\tiifname %q oifname %q ip daddr %s tcp dport %d ct state new %scounter name %q accept\n",
		fwClientIf, fwServerIf, serverAddr, controlPort, dnatOnly, CounterControl)
	if !open.IsZero() {
		fmt.Fprintf(&b, "\t\tiifname %q oifname %q ip daddr %s tcp dport %s ct state new %scounter name %q accept\n",
			fwClientIf, fwServerIf, serverAddr, open, dnatOnly, CounterRange)
	}
	fmt.Fprintf(&b, "\t\tcounter name %q\n", CounterDropped)
	b.WriteString("\t}\n")
	if topo == NAT {
		// Connections the server opens towards the client network (active
		// mode) leave with the firewall's public address.
		fmt.Fprintf(&b, "\n\tchain nat_postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
		fmt.Fprintf(&b, "\t\toifname %q masquerade\n\t}\n", fwClientIf)
	}
	b.WriteString("}\n")
	return b.String()
}

// Counter is the value of one named nftables counter.
type Counter struct {
	Packets, Bytes uint64
}

// Counters returns the firewall's named counters (the Counter* names) by
// name.
func (l *Lab) Counters(ctx context.Context) (map[string]Counter, error) {
	out, err := l.Run(ctx, Firewall, l.nftPath, "-j", "list", "counters", "table", "ip", TableName)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("read counters: parse nft -j output %q: %w", out, err)
	}
	counters := map[string]Counter{}
	for _, item := range doc.Nftables {
		if c := item.Counter; c != nil {
			counters[c.Name] = Counter{Packets: c.Packets, Bytes: c.Bytes}
		}
	}
	return counters, nil
}

// Expectations returns the firewall's conntrack expectations, one a line
// (/proc/net/nf_conntrack_expect): the data connections the FTP helper is
// waiting for.
func (l *Lab) Expectations(ctx context.Context) ([]string, error) {
	out, err := l.Run(ctx, Firewall, "cat", "/proc/net/nf_conntrack_expect")
	if err != nil {
		return nil, fmt.Errorf("read expectations: %w", err)
	}
	var lines []string
	for line := range strings.Lines(out) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines, nil
}

// PublicInterface returns the name of the firewall's interface on the
// client network: the public side of a NAT edge.
func (l *Lab) PublicInterface() string { return fwClientIf }

// LoadRuleset replaces the firewall's whole nftables ruleset by rules,
// loaded exactly as given (nft -f) after a separate flush: for rulesets
// made elsewhere, e.g. by ftpsd rules. The named counters of Counters are
// gone until SetOpenRange loads the lab's own ruleset again.
func (l *Lab) LoadRuleset(ctx context.Context, rules string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.flushRuleset(ctx); err != nil {
		return err
	}
	cmd := l.Command(ctx, Firewall, l.nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f: %w: %s\nruleset:\n%s", err, bytes2str(out), rules)
	}
	l.ruleset = rules
	return nil
}

// LoadIptables replaces the firewall's whole ruleset by rules in
// iptables-restore format, loaded exactly as given with
// "iptablesRestore --noflush" after a flush of the nftables ruleset.
func (l *Lab) LoadIptables(ctx context.Context, iptablesRestore, rules string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.flushRuleset(ctx); err != nil {
		return err
	}
	cmd := l.Command(ctx, Firewall, iptablesRestore, "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s --noflush: %w: %s\nrules:\n%s", iptablesRestore, err, bytes2str(out), rules)
	}
	l.ruleset = rules
	return nil
}

// flushRuleset empties the firewall's nftables ruleset (and so the
// tables of iptables-nft). The caller holds l.mu.
func (l *Lab) flushRuleset(ctx context.Context) error {
	if out, err := l.Command(ctx, Firewall, l.nftPath, "flush", "ruleset").CombinedOutput(); err != nil {
		return fmt.Errorf("nft flush ruleset: %w: %s", err, bytes2str(out))
	}
	return nil
}
