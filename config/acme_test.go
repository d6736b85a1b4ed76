package config

import (
	"strings"
	"testing"
)

// acmeBase is a valid [acme] table with DNS-01 through RFC 2136.
const acmeBase = `[acme]
domains = ["ftp.example.net"]
dns_provider = "rfc2136"
[acme.rfc2136]
nameserver = "192.0.2.53:53"
zone = "example.net."
tsig_key_name = "ftpsd-acme."
tsig_secret_file = "/etc/ftpsd/tsig.secret"
`

// s3Storage is a [storage] table of backend s3 with prefix.
func s3Storage(prefix string) string {
	return "[storage]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\nprefix = \"" + prefix + "\"\n"
}

// Each bad [acme] setting is refused with an error that names its key; a
// valid table loads with its defaults.
func TestACMEValidation(t *testing.T) {
	cfg, err := Parse(acmeBase)
	if err != nil {
		t.Fatalf("valid [acme]: %v", err)
	}
	a := cfg.ACME
	if !a.Enabled() || a.DirectoryURL() != LetsEncryptProduction || a.KeyType != "p256" || a.Challenge != ChallengeDNS01 ||
		a.PropagationTimeout.Std().Minutes() != 2 || a.RFC2136.TSIGAlgorithm != "hmac-sha256" || a.HTTPListen != ":80" ||
		a.Storage != "/var/lib/ftpsd/acme" || a.StoragePrefix != "ftpsd-acme" || !cfg.TLS.SelfSigned {
		t.Errorf("defaults: %+v", a)
	}
	if c, err := Parse(strings.Replace(acmeBase, "[acme]\n", "[acme]\nca = \"staging\"\n", 1)); err != nil ||
		c.ACME.DirectoryURL() != LetsEncryptStaging {
		t.Errorf("ca = \"staging\": %v, %q", err, c.ACME.DirectoryURL())
	}
	for _, tc := range []struct{ name, text, key string }{
		{"with cert_file", "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n" + acmeBase, "acme.domains:"},
		{"bad domain", strings.Replace(acmeBase, `"ftp.example.net"`, `"ftp_example"`, 1), "acme.domains:"},
		{"upper case", strings.Replace(acmeBase, `"ftp.example.net"`, `"FTP.example.net"`, 1), "acme.domains:"},
		{"wildcard http-01", strings.Replace(acmeBase, `["ftp.example.net"]`, `["*.example.net"]`+"\nchallenge = \"http-01\"", 1),
			"acme.domains:"},
		{"http ca", strings.Replace(acmeBase, "[acme]\n", "[acme]\nca = \"http://ca.example/dir\"\n", 1), "acme.ca:"},
		{"eab half", strings.Replace(acmeBase, "[acme]\n", "[acme]\neab_key_id = \"kid\"\n", 1), "acme.eab_hmac_file:"},
		{"key type", strings.Replace(acmeBase, "[acme]\n", "[acme]\nkey_type = \"ed448\"\n", 1), "acme.key_type:"},
		{"renew_before", strings.Replace(acmeBase, "[acme]\n", "[acme]\nrenew_before = \"-1h\"\n", 1), "acme.renew_before:"},
		{"relative storage", strings.Replace(acmeBase, "[acme]\n", "[acme]\nstorage = \"acme\"\n", 1), "acme.storage:"},
		{"s3 without s3 backend", strings.Replace(acmeBase, "[acme]\n", "[acme]\nstorage = \"s3\"\n", 1), "acme.storage:"},
		{"s3 homes take the bucket", s3Storage("") + strings.Replace(acmeBase, "[acme]\n", "[acme]\nstorage = \"s3\"\n", 1),
			"acme.storage_prefix:"},
		{"s3 prefix inside the homes", s3Storage("ftp") + strings.Replace(acmeBase, "[acme]\n",
			"[acme]\nstorage = \"s3\"\nstorage_prefix = \"ftp/acme\"\n", 1), "acme.storage_prefix:"},
		{"s3 prefix = the homes", s3Storage("ftp/") + strings.Replace(acmeBase, "[acme]\n",
			"[acme]\nstorage = \"s3\"\nstorage_prefix = \"/ftp\"\n", 1), "acme.storage_prefix:"},
		{"s3 homes inside the prefix", s3Storage("acme/homes") + strings.Replace(acmeBase, "[acme]\n",
			"[acme]\nstorage = \"s3\"\nstorage_prefix = \"acme\"\n", 1), "acme.storage_prefix:"},
		{"challenge", strings.Replace(acmeBase, "[acme]\n", "[acme]\nchallenge = \"tls-alpn-01\"\n", 1), "acme.challenge:"},
		{"http_listen", strings.Replace(acmeBase, "[acme]\n", "[acme]\nchallenge = \"http-01\"\nhttp_listen = \"80\"\n", 1),
			"acme.http_listen:"},
		{"no provider", strings.Replace(acmeBase, "dns_provider = \"rfc2136\"\n", "", 1), "acme.dns_provider:"},
		{"propagation", strings.Replace(acmeBase, "[acme]\n", "[acme]\npropagation_timeout = \"0s\"\n", 1),
			"acme.propagation_timeout:"},
		{"resolver", strings.Replace(acmeBase, "[acme]\n", "[acme]\ndns_resolvers = [\"10.0.0.1\"]\n", 1), "acme.dns_resolvers:"},
		{"nameserver", strings.Replace(acmeBase, "192.0.2.53:53", "192.0.2.53", 1), "acme.rfc2136.nameserver:"},
		{"zone", strings.Replace(acmeBase, "\"example.net.\"", "\"\"", 1), "acme.rfc2136.zone:"},
		{"key name", strings.Replace(acmeBase, "\"ftpsd-acme.\"", "\"a b\"", 1), "acme.rfc2136.tsig_key_name:"},
		{"algorithm", acmeBase + "tsig_algorithm = \"hmac-md5\"\n", "acme.rfc2136.tsig_algorithm:"},
		{"secret file", strings.Replace(acmeBase, "tsig_secret_file = \"/etc/ftpsd/tsig.secret\"\n", "", 1),
			"acme.rfc2136.tsig_secret_file:"},
		{"exec without command", strings.Replace(acmeBase, "\"rfc2136\"", "\"exec\"", 1), "acme.exec.command:"},
		{"exec relative", strings.Replace(acmeBase, "\"rfc2136\"", "\"exec\"", 1) + "[acme.exec]\ncommand = [\"hook.sh\"]\n",
			"acme.exec.command:"},
	} {
		_, err := Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.key)
		}
	}
	// The s3 storage outside the homes is accepted.
	if _, err := Parse(s3Storage("ftp") + strings.Replace(acmeBase, "[acme]\n", "[acme]\nstorage = \"s3\"\n", 1)); err != nil {
		t.Errorf("s3 storage beside prefix \"ftp\": %v", err)
	}
}
