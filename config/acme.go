package config

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// ACME holds the [acme] table: certificates obtained and renewed from an
// ACME CA (RFC 8555) instead of [tls] cert_file. It is on when Domains is
// not empty; every other key is then checked.
type ACME struct {
	// Domains are the DNS names to get certificates for, one certificate
	// each; the first is served to clients that send no server name (SNI)
	// or one that no certificate matches. Empty turns [acme] off.
	Domains []string `toml:"domains"`
	// Email is the ACME account's contact address (the CA's expiry
	// warnings); empty registers without one.
	Email string `toml:"email"`
	// CA is the directory URL of the CA: Let's Encrypt's production
	// directory by default, "staging" for Let's Encrypt's staging one, or
	// the https URL of any RFC 8555 CA.
	CA string `toml:"ca"`
	// CARootFile holds PEM roots trusted for the CA's HTTPS (a private CA);
	// empty trusts the system's roots.
	CARootFile string `toml:"ca_root_file"`
	// EABKeyID and EABHMACFile are the External Account Binding a CA may
	// require: its key identifier and a file holding its base64url HMAC key.
	EABKeyID    string `toml:"eab_key_id"`
	EABHMACFile string `toml:"eab_hmac_file"`
	// KeyType is the certificates' key: "p256", "p384", "rsa2048",
	// "rsa4096".
	KeyType string `toml:"key_type"`
	// RenewBefore renews a certificate that long before it expires; 0 is a
	// third of its lifetime (or the CA's renewal window, ARI).
	RenewBefore Duration `toml:"renew_before"`
	// Storage is the directory of the ACME account and certificates, or
	// "s3" for the [storage] bucket under StoragePrefix (several nodes).
	Storage string `toml:"storage"`
	// StoragePrefix is the key prefix in the bucket with Storage "s3"; it
	// must lie outside the homes (storage.prefix).
	StoragePrefix string `toml:"storage_prefix"`
	// Challenge is "dns-01" or "http-01".
	Challenge string `toml:"challenge"`
	// DNSProvider is how DNS-01 records are made: "rfc2136" or "exec".
	DNSProvider string `toml:"dns_provider"`
	// PropagationTimeout bounds the wait for a DNS-01 record to be served
	// by the zone's authoritative servers before the CA is told to check.
	PropagationTimeout Duration `toml:"propagation_timeout"`
	// DNSResolvers ("host:port") are asked for the zone and the record
	// instead of the zone's authoritative servers (found through the
	// system's resolvers); for split-horizon DNS.
	DNSResolvers []string `toml:"dns_resolvers"`
	// HTTPListen is where HTTP-01 challenges are answered (the CA
	// connects to port 80 of each domain).
	HTTPListen string `toml:"http_listen"`
	// HTTPListenAlways keeps HTTPListen open; false opens it only while an
	// order is pending.
	HTTPListenAlways bool `toml:"http_listen_always"`
	// RFC2136 is the [acme.rfc2136] table: the DNS server taking
	// TSIG-signed dynamic updates.
	RFC2136 RFC2136 `toml:"rfc2136"`
	// Exec is the [acme.exec] table: the command that makes the records.
	Exec ACMEExec `toml:"exec"`
}

// RFC2136 is the DNS server of dns_provider "rfc2136".
type RFC2136 struct {
	// Nameserver is the primary server's "host:port".
	Nameserver string `toml:"nameserver"`
	// Zone is the zone updated ("example.net.").
	Zone string `toml:"zone"`
	// TSIGKeyName, TSIGAlgorithm and TSIGSecretFile are the TSIG key: its
	// name, algorithm ("hmac-sha256") and a file holding its base64 secret.
	TSIGKeyName    string `toml:"tsig_key_name"`
	TSIGAlgorithm  string `toml:"tsig_algorithm"`
	TSIGSecretFile string `toml:"tsig_secret_file"`
}

// ACMEExec is the command of dns_provider "exec".
type ACMEExec struct {
	// Command is the program and its first arguments; ftpsd appends
	// "present" or "cleanup", the record's name and its value.
	Command []string `toml:"command"`
}

// The CA directories named by a word in [acme] ca.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Words of [acme].
const (
	ChallengeDNS01  = "dns-01"
	ChallengeHTTP01 = "http-01"
	DNSRFC2136      = "rfc2136"
	DNSExec         = "exec"
	ACMEStorageS3   = "s3"
)

// ACMEKeyTypes are the words of [acme] key_type.
var ACMEKeyTypes = []string{"p256", "p384", "rsa2048", "rsa4096"}

// TSIGAlgorithms are the words of [acme.rfc2136] tsig_algorithm.
var TSIGAlgorithms = []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}

// Enabled reports whether [acme] is on.
func (a ACME) Enabled() bool { return len(a.Domains) > 0 }

// DirectoryURL returns the CA's directory URL, "staging" resolved.
func (a ACME) DirectoryURL() string {
	if a.CA == "staging" {
		return LetsEncryptStaging
	}
	return a.CA
}

func defaultACME() ACME {
	return ACME{
		CA: LetsEncryptProduction, KeyType: "p256",
		Storage: "/var/lib/ftpsd/acme", StoragePrefix: "ftpsd-acme",
		Challenge: ChallengeDNS01, PropagationTimeout: Duration(2 * time.Minute),
		HTTPListen: ":80",
		RFC2136:    RFC2136{TSIGAlgorithm: "hmac-sha256"},
	}
}

func (c *Config) validateACME(add addFunc) {
	a := c.ACME
	if !a.Enabled() {
		return
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		add("acme.domains", "cannot be set together with tls.cert_file/tls.key_file: the certificate comes from the CA")
	}
	for _, d := range a.Domains {
		name := strings.TrimPrefix(d, "*.")
		if !validHostname(name) || !strings.Contains(strings.TrimSuffix(name, "."), ".") || d != strings.ToLower(d) {
			add("acme.domains", "%q is not a lower-case DNS name with a dot (a wildcard \"*.\" only in front)", d)
		} else if name != d && a.Challenge != ChallengeDNS01 {
			add("acme.domains", "%q: a wildcard name needs challenge = \"dns-01\"", d)
		}
	}
	if a.CA != "staging" {
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			add("acme.ca", "%q is neither \"staging\" nor an https URL of an ACME directory", a.CA)
		}
	}
	if (a.EABKeyID == "") != (a.EABHMACFile == "") {
		add("acme.eab_hmac_file", "acme.eab_key_id and acme.eab_hmac_file go together")
	}
	if !slices.Contains(ACMEKeyTypes, a.KeyType) {
		add("acme.key_type", "%q is not one of %s", a.KeyType, strings.Join(ACMEKeyTypes, ", "))
	}
	if a.RenewBefore < 0 {
		add("acme.renew_before", "must not be negative (0 means a third of the lifetime)")
	}
	c.validateACMEStorage(add)
	switch a.Challenge {
	case ChallengeHTTP01:
		if a.HTTPListen == "" {
			add("acme.http_listen", "required with challenge = \"http-01\"")
		}
		checkAddr(add, "acme.http_listen", a.HTTPListen)
	case ChallengeDNS01:
		c.validateDNS01(add)
	default:
		add("acme.challenge", "%q is not one of \"dns-01\", \"http-01\"", a.Challenge)
	}
}

func (c *Config) validateACMEStorage(add addFunc) {
	a := c.ACME
	switch {
	case a.Storage == "":
		add("acme.storage", "required: a directory, or \"s3\"")
	case a.Storage == ACMEStorageS3:
		if c.Storage.Backend != BackendS3 {
			add("acme.storage", "\"s3\" needs storage.backend = \"s3\" (the bucket it uses)")
			return
		}
		p := strings.Trim(path.Clean("/"+a.StoragePrefix), "/")
		homes := strings.Trim(c.Storage.Prefix, "/")
		switch {
		case p == "":
			add("acme.storage_prefix", "required with storage = \"s3\"")
		case homes == "":
			add("acme.storage_prefix", "storage.prefix is empty: the homes take the whole bucket, so %q would be inside them "+
				"and users could read the ACME account key; set storage.prefix", p)
		case p == homes || strings.HasPrefix(p, homes+"/") || strings.HasPrefix(homes, p+"/"):
			add("acme.storage_prefix", "%q overlaps storage.prefix %q (the homes): users could read the ACME account key", p, homes)
		}
	case !path.IsAbs(a.Storage):
		add("acme.storage", "%q: want an absolute directory, or \"s3\"", a.Storage)
	}
}

func (c *Config) validateDNS01(add addFunc) {
	a := c.ACME
	atLeastSecond(add, "acme.propagation_timeout", a.PropagationTimeout)
	for _, r := range a.DNSResolvers {
		checkAddr(add, "acme.dns_resolvers", r)
	}
	switch a.DNSProvider {
	case DNSRFC2136:
		r := a.RFC2136
		if r.Nameserver == "" {
			add("acme.rfc2136.nameserver", "required with dns_provider = \"rfc2136\" (host:port)")
		}
		checkAddr(add, "acme.rfc2136.nameserver", r.Nameserver)
		if !validHostname(r.Zone) {
			add("acme.rfc2136.zone", "%q is not a DNS zone name", r.Zone)
		}
		if !validHostname(r.TSIGKeyName) {
			add("acme.rfc2136.tsig_key_name", "%q is not a TSIG key name", r.TSIGKeyName)
		}
		if !slices.Contains(TSIGAlgorithms, r.TSIGAlgorithm) {
			add("acme.rfc2136.tsig_algorithm", "%q is not one of %s", r.TSIGAlgorithm, strings.Join(TSIGAlgorithms, ", "))
		}
		if r.TSIGSecretFile == "" {
			add("acme.rfc2136.tsig_secret_file", "required with dns_provider = \"rfc2136\"")
		}
	case DNSExec:
		if len(a.Exec.Command) == 0 || a.Exec.Command[0] == "" {
			add("acme.exec.command", "required with dns_provider = \"exec\": the program and its first arguments")
		} else if !path.IsAbs(a.Exec.Command[0]) {
			add("acme.exec.command", "%q: the program must be an absolute path (it is run without a shell)", a.Exec.Command[0])
		}
	default:
		add("acme.dns_provider", "%q is not one of \"rfc2136\", \"exec\" (required with challenge = \"dns-01\")", a.DNSProvider)
	}
}
