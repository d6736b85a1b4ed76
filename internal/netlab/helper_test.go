//go:build linux

package netlab

import (
	"strings"
	"testing"
)

// TestRulesetWithoutHelper: WithoutFTPHelper's ruleset assigns no FTP
// helper and keeps every other rule of the default one.
func TestRulesetWithoutHelper(t *testing.T) {
	for _, topo := range []Topology{Routed, NAT} {
		with := renderRuleset(topo, DefaultControlPort, PortRange{Start: 30000, End: 30009}, true)
		without := renderRuleset(topo, DefaultControlPort, PortRange{Start: 30000, End: 30009}, false)
		if !strings.Contains(with, `ct helper set "ftp-std"`) {
			t.Errorf("%v: the default ruleset assigns no helper:\n%s", topo, with)
		}
		if strings.Contains(without, "ct helper set") {
			t.Errorf("%v: WithoutFTPHelper's ruleset assigns a helper:\n%s", topo, without)
		}
		var dropped []string
		for line := range strings.Lines(with) {
			if !strings.Contains(without, line) {
				dropped = append(dropped, strings.TrimSpace(line))
			}
		}
		if len(dropped) != 1 {
			t.Errorf("%v: WithoutFTPHelper drops %d lines, want only the helper's: %q", topo, len(dropped), dropped)
		}
	}
}
