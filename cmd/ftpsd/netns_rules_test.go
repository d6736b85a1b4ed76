//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/netlab"
	"ftpsd/internal/testenv"
)

// TestNetnsRules loads exactly what "ftpsd rules" prints for the lab's
// configuration on the lab's firewall, in its nftables form and in its
// iptables form, and passes traffic through it with curl, lftp and
// Python's ftplib (the resuming subclass; plain FTP_TLS with CCC for the
// CCC cure), checking every file with SHA-256:
//
//   - host, range cure: ftpsd runs on the firewall itself, whose input
//     chain drops what the rules do not open (a closed port times out);
//   - host, ccc cure: the same, the range closed, the FTP helper on the
//     control port;
//   - nat-edge, range cure: the edge forwards the control port and the
//     range to the server;
//   - nat-edge, ccc cure: only the control port is forwarded; the FTP
//     helper opens the data connections it reads after CCC;
//   - nat-edge, both cures (the ruleset docs/firewall.md prints): clients
//     with and without CCC;
//   - nat-edge, both cures with passive.announce_ports: the replies on a
//     protected channel announce 40000-40009, which the edge forwards port
//     for port to the server's 30000-30009 (nothing listens on the
//     announced ports: a transfer works only through the translation);
//     after CCC they announce the server's own address and port, which
//     the helper maps.
func TestNetnsRules(t *testing.T) {
	tools := labTools{
		curl:   testenv.NeedTool(t, "curl", "curl"),
		lftp:   testenv.NeedTool(t, "lftp", "lftp"),
		python: testenv.NeedTool(t, "python3", "python3"),
	}
	iptablesRestore := testenv.NeedTool(t, "iptables-restore", "iptables")
	rangeKeys := fmt.Sprintf("ports = \"%d-%d\"\n", labRangeStart, labRangeEnd)
	for _, tc := range []struct {
		name    string
		topo    netlab.Topology
		host    bool   // ftpsd runs on the firewall
		passive string // [passive] keys beside ports (NAT: public_address is added)
		cure    string
		clients func(t *testing.T, s *netSite)
	}{
		{name: "host_range", topo: netlab.Routed, host: true, cure: "range", clients: rangeClients},
		{name: "host_ccc", topo: netlab.Routed, host: true, cure: "ccc", clients: cccClients},
		{name: "nat_edge_range", topo: netlab.NAT, cure: "range", clients: rangeClients},
		{name: "nat_edge_ccc", topo: netlab.NAT, cure: "ccc", clients: cccClients},
		{name: "nat_edge_both", topo: netlab.NAT, cure: "both", clients: func(t *testing.T, s *netSite) {
			rangeClients(t, s)
			cccClients(t, s)
		}},
		{name: "nat_edge_translation", topo: netlab.NAT, cure: "both", clients: func(t *testing.T, s *netSite) {
			rangeClients(t, s)
			cccClients(t, s)
		}, passive: fmt.Sprintf("announce_ports = \"%d-%d\"\n", labAnnounceStart, labAnnounceStart+labRangeEnd-labRangeStart)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := netlab.New(t, netlab.WithTopology(tc.topo), netlab.WithControlPort(labControlPort))
			node, ctl := netlab.Server, lab.ControlAddr()
			passive := rangeKeys + tc.passive
			if tc.host {
				node, ctl = netlab.Firewall, netip.AddrPortFrom(lab.PublicAddr(), labControlPort)
			}
			if tc.topo == netlab.NAT {
				passive += fmt.Sprintf("public_address = %q\n", lab.PublicAddr())
			}
			s := startNetSite(t, lab, tools, node, ctl, passive)
			want := "off"
			if tc.passive != "" {
				want = fmt.Sprintf("%d-%d", labAnnounceStart, labAnnounceStart+labRangeEnd-labRangeStart)
			}
			if got := s.srv.waitLog(t, "ftpsd started", 1, startTimeout).str("passive_announce_ports"); got != want {
				t.Errorf("ftpsd started: passive_announce_ports = %q, want %q", got, want)
			}
			args := []string{"rules", "-config", s.cfgPath, "-cure", tc.cure}
			if tc.host {
				args = append(args, "-firewall", "host")
			} else {
				args = append(args, "-firewall", "nat-edge", "-wan", lab.PublicInterface(), "-server", lab.ServerAddr().String())
			}
			for _, format := range []string{"nft", "iptables"} {
				t.Run(format, func(t *testing.T) {
					r := runFtpsd(t, "", append(args, "-format", format)...)
					if r.code != 0 {
						t.Fatalf("ftpsd %s: %v", strings.Join(args, " "), r)
					}
					rules := r.stdout
					t.Logf("ftpsd %s:\n%s", strings.Join(args, " "), rules)
					ctx, cancel := context.WithTimeout(context.Background(), netlab.DefaultCommandTimeout)
					defer cancel()
					var err error
					if format == "nft" {
						err = lab.LoadRuleset(ctx, rules)
					} else {
						err = lab.LoadIptables(ctx, iptablesRestore, rules)
					}
					if err != nil {
						t.Fatal(err)
					}
					tc.clients(t, s)
					if tc.host {
						s.mustDrop(t, netip.AddrPortFrom(lab.PublicAddr(), labClosedPort))
						if tc.cure == "ccc" { // the range stays closed
							s.mustDrop(t, netip.AddrPortFrom(lab.PublicAddr(), labRangeStart))
						}
					}
				})
			}
		})
	}
}

// The announced range of the translation case, and a port nothing opens.
const (
	labAnnounceStart = 40000
	labClosedPort    = 2222
)

// rangeClients: curl (EPSV, PASV), lftp and the resuming ftplib subclass
// download and upload over protected data connections.
func rangeClients(t *testing.T, s *netSite) {
	t.Run("curl_epsv", func(t *testing.T) { s.curlTransfer(t) })
	t.Run("curl_pasv", func(t *testing.T) { s.curlTransfer(t, "--disable-epsv") })
	t.Run("lftp", func(t *testing.T) { s.lftpTransfer(t, false) })
	t.Run("python", func(t *testing.T) { s.pythonTransfer(t, "reuse") })
}

// cccClients: the same clients clear the control channel after login.
func cccClients(t *testing.T, s *netSite) {
	t.Run("curl_ccc", func(t *testing.T) { s.curlTransfer(t, "--ftp-ssl-ccc") })
	t.Run("lftp_ccc", func(t *testing.T) { s.lftpTransfer(t, true) })
	t.Run("python_ccc", func(t *testing.T) { s.pythonTransfer(t, "ccc") })
}

// mustDrop fails unless a connection from the client to target times out:
// the rules drop it (a port merely closed would answer a reset at once).
func (s *netSite) mustDrop(t *testing.T, target netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := s.lab.DialContext(ctx, netlab.Client, s.lab.ClientAddr(), target)
	if err == nil {
		conn.Close()
		t.Errorf("a connection to %v, which the rules do not open, was accepted", target)
		return
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection to %v, which the rules do not open, failed with %v, want a timeout (dropped)", target, err)
	}
}
