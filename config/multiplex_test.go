package config

import (
	"strings"
	"testing"
)

// passive.multiplex changes what max_ports_per_ip counts: sessions of one
// address waiting, which may exceed the ports of the range; a negative
// cap is still named.
func TestMultiplexPortsPerIP(t *testing.T) {
	c, err := Parse("[passive]\nports = \"50000\"\nmultiplex = true\nmax_ports_per_ip = 8\n")
	if err != nil {
		t.Fatalf("8 waiting sessions of one address on a 1-port multiplexed range: %v", err)
	}
	if got := c.Passive.PortsPerIP(); got != 8 {
		t.Errorf("PortsPerIP = %d, want 8", got)
	}
	c, err = Parse("[passive]\nports = \"50000-50001\"\nmultiplex = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Passive.PortsPerIP(), 2*MuxSessionsPerPort; got != want {
		t.Errorf("default PortsPerIP under multiplex on 2 ports = %d, want %d", got, want)
	}
	if c, _ := Parse("[passive]\nports = \"50000\"\n"); c.Passive.Multiplex {
		t.Error("passive.multiplex is on by default")
	}
	for _, in := range []string{
		"[passive]\nports = \"50000\"\nmax_ports_per_ip = 8\n",
		"[passive]\nports = \"50000\"\nmultiplex = true\nmax_ports_per_ip = -1\n",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "passive.max_ports_per_ip") {
			t.Errorf("%q: %v, want an error naming passive.max_ports_per_ip", in, err)
		}
	}
}
