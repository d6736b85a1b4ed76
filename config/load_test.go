package config

import (
	"crypto/tls"
	"encoding"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// A real bcrypt hash (cost 10) of a random password nobody knows.
const testHash = "$2a$10$su1.5oQnBJC9SawxgltQCuiFlQBDybag0Yv9kI7sXAjdMJzVZMyP6"

// badExpectations reads the "# want: SUBSTRING" lines at the top of a
// testdata/*.bad.toml file, and its optional "# problems: N" line (the exact
// number of problems the error must list, one a line).
func badExpectations(t *testing.T, text string) (wants []string, problems int) {
	t.Helper()
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			break
		}
		comment := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if w, ok := strings.CutPrefix(comment, "want:"); ok {
			wants = append(wants, strings.TrimSpace(w))
		}
		if n, ok := strings.CutPrefix(comment, "problems:"); ok {
			var err error
			if problems, err = strconv.Atoi(strings.TrimSpace(n)); err != nil {
				t.Fatalf("bad # problems line %q", line)
			}
		}
	}
	return wants, problems
}

// TestBadConfigs loads every testdata/*.bad.toml and checks that the error
// holds each "# want:" substring.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("found %d testdata/*.bad.toml files, want at least 30", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".bad.toml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wants, problems := badExpectations(t, string(data))
			if len(wants) == 0 {
				t.Fatalf("%s has no \"# want:\" line", file)
			}
			_, err = Load(file)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want an error", file)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config "+file+": ") {
				t.Errorf("error does not start with the file name:\n%s", msg)
			}
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if problems > 0 {
				if got := len(strings.Split(msg, "\n")); got != problems {
					t.Errorf("error lists %d problems, want %d:\n%s", got, problems, msg)
				}
			}
		})
	}
}

// TestParseFixedUp checks, for a few representative mistakes, that the
// corrected text parses: the errors come from the mistake itself.
func TestParseFixedUp(t *testing.T) {
	for _, tc := range []struct{ bad, good string }{
		{"[server]\nlisen = \"0.0.0.0:21\"\n", "[server]\nlisten = \"0.0.0.0:21\"\n"},
		{"[server]\nidle_timeout = \"5 minutes\"\n", "[server]\nidle_timeout = \"5m\"\n"},
		{"[passive]\nports = \"60000-50000\"\n", "[passive]\nports = \"50000-60000\"\n"},
		{"[tls]\nrequire = \"always\"\n", "[tls]\nrequire = \"control\"\n"},
		{"[[users]]\nname = \"a\"\npassword_hash = \"x\"\n", "[[users]]\nname = \"a\"\npassword_hash = \"" + testHash + "\"\n"},
		{"[[users]]\nname = \"a\"\npassword_hash = \"" + testHash + "\"\nhome = \"../a\"\n",
			"[[users]]\nname = \"a\"\npassword_hash = \"" + testHash + "\"\nhome = \"a/..b/c\"\n"},
	} {
		if _, err := Parse(tc.bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", tc.bad)
		}
		if _, err := Parse(tc.good); err != nil {
			t.Errorf("Parse(%q): %v", tc.good, err)
		}
	}
}

func TestUnknownTableReportedOnce(t *testing.T) {
	_, err := Parse("[sever]\nlisten = \"0.0.0.0:21\"\nbanner = \"x\"\n")
	if err == nil {
		t.Fatal("Parse succeeded, want an unknown-key error")
	}
	if got, want := err.Error(), `unknown key "sever"`; got != want {
		t.Errorf("error = %q, want %q (keys inside an unknown table not repeated)", got, want)
	}
}

func TestUnknownKeysAllReported(t *testing.T) {
	_, err := Parse("[server]\nlisen = \"x\"\n[tls]\ncert = \"y\"\n[[users]]\nnom = \"z\"\n")
	if err == nil {
		t.Fatal("Parse succeeded, want unknown-key errors")
	}
	for _, key := range []string{"server.lisen", "tls.cert", "users.nom"} {
		if !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Errorf("error does not name %q:\n%v", key, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one wrapping ErrNotExist and naming %s", err, path)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, text := range []string{"", "\n", "# only a comment\n", "[server]\n[tls]\n[log]\n"} {
		cfg, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default() = %+v", text, cfg, Default())
		}
	}
}

func TestDefaultValidates(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	// The first-run default is a loopback, TLS-everywhere server.
	if cfg.Server.Listen != "127.0.0.1:2121" || cfg.TLS.Require != RequireAll || !cfg.TLS.SelfSigned {
		t.Errorf("unexpected first-run default: %+v", cfg)
	}
	if got := cfg.Passive.Ports; got.Len() <= 0 || got.Contains(2121) {
		t.Errorf("default passive ports %v", got)
	}
}

// TestParseOverridesDefaults checks that a partial file overrides only the
// keys it sets.
func TestParseOverridesDefaults(t *testing.T) {
	cfg, err := Parse(`
[server]
listen = ""
implicit_listen = "[::1]:9990"
idle_timeout = "90s"
[storage]
backend = "memory"
root = ""
[[users]]
name = "alice"
password_hash = "` + testHash + `"
read_only = true
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Listen = ""
	want.Server.ImplicitListen = "[::1]:9990"
	want.Server.IdleTimeout = Duration(90 * time.Second)
	want.Storage.Backend, want.Storage.Root = BackendMemory, ""
	want.Users = []User{{Name: "alice", PasswordHash: testHash, ReadOnly: true}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

// TestEncodeRoundTrip writes configurations with the TOML encoder (as
// "ftpsd check" does) and parses them back.
func TestEncodeRoundTrip(t *testing.T) {
	full := Default()
	full.Server.ImplicitListen = "0.0.0.0:990"
	full.Server.IdleTimeout = Duration(90*time.Minute + 1500*time.Millisecond)
	full.TLS = TLS{CertFile: "/c.pem", KeyFile: "/k.pem", MinVersion: TLSVersionOf(tls.VersionTLS13), Require: RequireControl, CCC: CCCDeny}
	full.Users = []User{{Name: "a", PasswordHash: testHash, Home: "a", ReadOnly: true}, {Name: "b", PasswordHash: testHash}}
	for name, cfg := range map[string]Config{"default": Default(), "full": full} {
		var b strings.Builder
		if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b.String())
		if err != nil {
			t.Fatalf("%s: Parse(encoded): %v\n%s", name, err, b.String())
		}
		if !reflect.DeepEqual(got, cfg) {
			t.Errorf("%s: round trip =\n%+v\nwant\n%+v\nencoded:\n%s", name, got, cfg, b.String())
		}
	}
}

// exampleConfig returns ../config.example.toml with its certificate paths
// pointed at files that exist.
func exampleConfig(t *testing.T) (text, certFile, keyFile string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	text = string(data)
	for from, to := range map[string]string{"/etc/ftpsd/cert.pem": certFile, "/etc/ftpsd/key.pem": keyFile} {
		if n := strings.Count(text, strconv.Quote(from)); n != 1 {
			t.Fatalf("config.example.toml holds %q %d times, want once", from, n)
		}
		text = strings.ReplaceAll(text, strconv.Quote(from), strconv.Quote(to))
		if err := os.WriteFile(to, []byte("placeholder\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return text, certFile, keyFile
}

func TestExampleConfig(t *testing.T) {
	text, certFile, keyFile := exampleConfig(t)
	path := filepath.Join(t.TempDir(), "ftpsd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("config.example.toml does not load: %v", err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"server.listen", cfg.Server.Listen, "0.0.0.0:21"},
		{"server.implicit_listen", cfg.Server.ImplicitListen, "0.0.0.0:990"},
		{"server.idle_timeout", cfg.Server.IdleTimeout.Std(), 5 * time.Minute},
		{"tls.cert_file", cfg.TLS.CertFile, certFile},
		{"tls.key_file", cfg.TLS.KeyFile, keyFile},
		{"tls.self_signed", cfg.TLS.SelfSigned, false},
		{"tls.require", cfg.TLS.Require, RequireAll},
		{"passive.ports", cfg.Passive.Ports, PortsOf(50000, 50099)},
		{"storage.backend", cfg.Storage.Backend, BackendOS},
		{"storage.root", cfg.Storage.Root, "/srv/ftp"},
		{"len(users)", len(cfg.Users), 3},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
	}
	if len(cfg.Users) == 3 && (cfg.Users[0].ReadOnly || !cfg.Users[1].ReadOnly) {
		t.Errorf("users: want a read-write user then a read-only one, got %+v", cfg.Users)
	}
	if len(cfg.Users) == 3 {
		p := cfg.Users[2].Policy(cfg.Defaults)
		if len(p.AllowedNetworks) != 2 || p.QuotaBytes != 10<<30 || p.MaxDownloadRate != 5<<20 || p.Expires.IsZero() {
			t.Errorf("users[2] (the partner account): policy %+v", p)
		}
	}
}

// TestExampleConfigCoversEveryKey checks that config.example.toml sets every
// key of Config, so it documents them all.
func TestExampleConfigCoversEveryKey(t *testing.T) {
	text, _, _ := exampleConfig(t)
	var cfg Config
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := tomlKeys(reflect.TypeFor[Config](), nil)
	if len(keys) < 18 {
		t.Fatalf("found only %d keys in Config: %v", len(keys), keys)
	}
	defined := map[string]bool{}
	for _, key := range md.Keys() {
		defined[key.String()] = true
	}
	for _, key := range keys {
		if !defined[strings.Join(key, ".")] {
			t.Errorf("config.example.toml does not set %s", strings.Join(key, "."))
		}
	}
}

// tomlKeys lists the leaf keys of a struct type by their toml tags.
func tomlKeys(typ reflect.Type, prefix []string) [][]string {
	var keys [][]string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := append(append([]string(nil), prefix...), name)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		// A value written as text (a size, an endpoint) is one key.
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			keys = append(keys, tomlKeys(ft, key)...)
		} else {
			keys = append(keys, key)
		}
	}
	return keys
}

// Certificate files alone switch the self-signed default off; saying both
// is a contradiction.
func TestCertFilesImplyNotSelfSigned(t *testing.T) {
	cfg, err := Parse("[tls]\ncert_file = \"/etc/ftpsd/cert.pem\"\nkey_file = \"/etc/ftpsd/key.pem\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.SelfSigned {
		t.Fatal("self_signed still true with cert files given")
	}
	_, err = Parse("[tls]\nself_signed = true\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n")
	if err == nil || !strings.Contains(err.Error(), "tls.self_signed") {
		t.Fatalf("explicit self_signed with cert files: %v", err)
	}
}
