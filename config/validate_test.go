package config

import (
	"crypto/tls"
	"go.uber.org/zap/zapcore"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{in: "50000-50099", want: PortsOf(50000, 50099)},
		{in: " 50000 - 50099 ", want: PortsOf(50000, 50099)},
		{in: "1024-65535", want: PortsOf(1024, 65535)},
		{in: "50000", want: PortsOf(50000, 50000)},
		{in: "50000-50000", want: PortsOf(50000, 50000)},
		{in: "60000-50000", wantErr: "start is above end"},
		{in: "80-90", wantErr: "ports must lie in 1024-65535"},
		{in: "1023-2000", wantErr: "ports must lie in 1024-65535"},
		{in: "60000-65536", wantErr: "ports must lie in 1024-65535"},
		{in: "70000-80000", wantErr: "ports must lie in 1024-65535"},
		{in: "abc", wantErr: "is not a port range"},
		{in: "", wantErr: "is not a port range"},
		{in: "50000-", wantErr: "is not a port range"},
		{in: "-50000", wantErr: "is not a port range"},
		{in: "50000-50010-50020", wantErr: "is not a port range"},
		{in: "50000:50099", wantErr: "is not a port range"},
	} {
		got, err := ParsePortRange(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePortRange(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParsePortRange(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParsePortRange(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestPortRangeMethods(t *testing.T) {
	r := PortsOf(50000, 50099)
	if r.Len() != 100 || r.String() != "50000-50099" {
		t.Errorf("Len, String = %d, %q", r.Len(), r.String())
	}
	for port, want := range map[int]bool{49999: false, 50000: true, 50050: true, 50099: true, 50100: false} {
		if r.Contains(port) != want {
			t.Errorf("Contains(%d) = %v", port, !want)
		}
	}
}

// TestValidateAccepts lists configurations that must be accepted.
func TestValidateAccepts(t *testing.T) {
	user := User{Name: "alice", PasswordHash: testHash}
	for name, edit := range map[string]func(*Config){
		"default":          func(*Config) {},
		"implicit only":    func(c *Config) { c.Server.Listen, c.Server.ImplicitListen = "", "127.0.0.1:990" },
		"ipv6":             func(c *Config) { c.Server.Listen = "[::]:21" },
		"any port":         func(c *Config) { c.Server.Listen = ":0" },
		"control port out": func(c *Config) { c.Server.Listen, c.Passive.Ports = "0.0.0.0:50100", PortsOf(50000, 50099) },
		"cert files": func(c *Config) {
			c.TLS = TLS{CertFile: "c.pem", KeyFile: "k.pem", MinVersion: TLSVersionOf(tls.VersionTLS13), Require: RequireControl, CCC: CCCDeny}
		},
		"require none":    func(c *Config) { c.TLS.Require = RequireNone },
		"memory, no root": func(c *Config) { c.Storage = Storage{Backend: BackendMemory} },
		"users": func(c *Config) {
			c.Users = []User{user, {Name: "bob", PasswordHash: testHash, Home: "shared/bob", ReadOnly: true},
				{Name: "carol", PasswordHash: testHash, Home: "./carol..x/"}}
		},
		"log":              func(c *Config) { c.Log = Log{Level: LogLevelOf(zapcore.DebugLevel), Format: FormatJSON} },
		"1s":               func(c *Config) { c.Server.IdleTimeout = Duration(time.Second) },
		"ipv6 per address": func(c *Config) { c.Security.IPv6PrefixLength = 128 },
		"ipv6 per /48":     func(c *Config) { c.Security.IPv6PrefixLength = 48 },
	} {
		cfg := Default()
		edit(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestValidateReportsAll checks that every problem is listed, one a line,
// each starting with its key.
func TestValidateReportsAll(t *testing.T) {
	cfg := Default()
	cfg.Server.Listen = "nowhere"
	_ = cfg.TLS.MinVersion.UnmarshalText([]byte("1.0"))
	_ = cfg.Passive.Ports.UnmarshalText([]byte("1-2"))
	cfg.Storage.Root = ""
	cfg.Users = []User{{Name: "", PasswordHash: ""}}
	cfg.Log.Format = "text"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	wantKeys := []string{"server.listen:", "tls.min_version:", "passive.ports:", "storage.root:",
		"users[0].name:", "users[0].password_hash:", "log.format:"}
	if len(lines) != len(wantKeys) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(wantKeys), err)
	}
	for i, k := range wantKeys {
		if !strings.HasPrefix(lines[i], k) {
			t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], k)
		}
	}
}

// TestS3Storage checks that the keys of backend "s3" are decoded into
// their values once.
func TestS3Storage(t *testing.T) {
	cfg, err := Parse(`
[storage]
backend = "s3"
endpoint = "http://127.0.0.1:9000"
bucket = "ftp"
part_size = "16MiB"
max_upload_memory = "1GiB"
`)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Storage
	if s.Endpoint.Host() != "127.0.0.1:9000" || s.Endpoint.Secure() {
		t.Errorf("endpoint = %q secure=%v, want 127.0.0.1:9000 over http", s.Endpoint.Host(), s.Endpoint.Secure())
	}
	if s.PartSize.Bytes() != 16<<20 || s.Timeout.Std() != 30*time.Second || s.Region != "us-east-1" {
		t.Errorf("part_size = %d, timeout = %s, region = %q; want 16MiB, 30s, us-east-1", s.PartSize.Bytes(), s.Timeout.Std(), s.Region)
	}
	if s.MaxUploadMemory.Bytes() != 1<<30 || Default().Storage.MaxUploadMemory.Bytes() != 256<<20 {
		t.Errorf("max_upload_memory = %d (default %s), want 1GiB (default 256MiB)", s.MaxUploadMemory.Bytes(), Default().Storage.MaxUploadMemory)
	}
	for text, want := range map[string]int64{"5MiB": 5 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "4096B": 4096} {
		if b, err := ParseByteSize(text); err != nil || b.Bytes() != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", text, b.Bytes(), err, want)
		}
	}
	for _, text := range []string{"8MB", "8", "-1MiB", "MiB", "1.5GiB"} {
		if _, err := ParseByteSize(text); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded, want an error", text)
		}
	}
}

// TestValidatePassiveProxy: passive.proxy_protocol needs the balancers
// (server.trusted_proxies) and refuses what would announce this node's own
// address, which a client reaches without the balancer's header.
func TestValidatePassiveProxy(t *testing.T) {
	balancer := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string // the key of the one problem; "" accepts
	}{
		"trusted, public after CCC": {func(c *Config) {
			c.Server.TrustedProxies, c.Passive.AnnounceAfterCCC = balancer, AnnouncePublic
		}, ""},
		"trusted, CCC denied": {func(c *Config) { c.Server.TrustedProxies, c.TLS.CCC = balancer, CCCDeny }, ""},
		"no balancer":         {func(c *Config) { c.Passive.AnnounceAfterCCC = AnnouncePublic }, "server.trusted_proxies:"},
		"internal networks": {func(c *Config) {
			c.Server.TrustedProxies, c.Passive.AnnounceAfterCCC = balancer, AnnouncePublic
			c.Passive.InternalNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}, "passive.internal_networks:"},
		"local after CCC": {func(c *Config) { c.Server.TrustedProxies = balancer }, "passive.announce_after_ccc:"},
	} {
		cfg := Default()
		cfg.Passive.ProxyProtocol = true
		tc.edit(&cfg)
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: Validate() = %v, want one problem of %s", name, err, tc.want)
		}
	}
}

// TestAnnouncePorts checks passive.announce_ports: empty (the default) is
// no translation, a range of the length of passive.ports is kept, and a
// range of another length or a bad text is refused naming the key.
func TestAnnouncePorts(t *testing.T) {
	cfg, err := Parse("[passive]\nports = \"50000-50019\"\nannounce_ports = \"\"\n")
	if err != nil || !cfg.Passive.AnnouncePorts.IsZero() {
		t.Fatalf("announce_ports = \"\": %v, %v; want no translation", cfg.Passive.AnnouncePorts, err)
	}
	if !Default().Passive.AnnouncePorts.IsZero() {
		t.Errorf("default announce_ports = %v, want none", Default().Passive.AnnouncePorts)
	}
	cfg, err = Parse("[passive]\nports = \"50000-50019\"\nannounce_ports = \"60000-60019\"\n")
	if err != nil || cfg.Passive.AnnouncePorts != PortsOf(60000, 60019) {
		t.Fatalf("announce_ports = \"60000-60019\": %v, %v", cfg.Passive.AnnouncePorts, err)
	}
	if _, err := Parse("[passive]\nports = \"\"\n"); err == nil || !strings.Contains(err.Error(), "passive.ports:") {
		t.Errorf("ports = \"\": %v, want an error naming passive.ports (only announce_ports may be empty)", err)
	}
	for _, bad := range []string{"60000-60018", "60000-60020", "60000", "6000x"} {
		_, err := Parse("[passive]\nports = \"50000-50019\"\nannounce_ports = \"" + bad + "\"\n")
		if err == nil || !strings.Contains(err.Error(), "passive.announce_ports:") {
			t.Errorf("announce_ports = %q: %v, want an error naming passive.announce_ports", bad, err)
		}
	}
}

// TestMultiplexCombinations: passive.multiplex refuses passive.proxy_protocol
// and passive.announce_ports, naming itself.
func TestMultiplexCombinations(t *testing.T) {
	for name, extra := range map[string]string{
		"proxy_protocol": "proxy_protocol = true\nannounce_after_ccc = \"public\"\n[server]\ntrusted_proxies = [\"10.0.0.5/32\"]\n",
		"announce_ports": "announce_ports = \"60000-60019\"\n",
	} {
		_, err := Parse("[passive]\nports = \"50000-50019\"\nmultiplex = true\n" + extra)
		if err == nil || !strings.Contains(err.Error(), "passive.multiplex: cannot be combined with passive."+name) {
			t.Errorf("multiplex with %s: %v, want a problem of passive.multiplex naming it", name, err)
		}
	}
	if _, err := Parse("[passive]\nports = \"50000\"\nmultiplex = true\n"); err != nil {
		t.Errorf("multiplex on one port: %v", err)
	}
}
