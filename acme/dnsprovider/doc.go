// Package dnsprovider solves ACME DNS-01 challenges: it adds and removes
// the challenge's TXT records, as libdns providers (RecordAppender and
// RecordDeleter) that certmagic's DNS01Solver takes.
//
//   - RFC2136 updates the zone's primary server with dynamic updates
//     (RFC 2136) signed with a TSIG key, over TCP, built on miekg/dns.
//   - Exec runs a command the administrator supplies, with "present" or
//     "cleanup", the record's name and its value, as lego's exec provider
//     does, so that any DNS API can be scripted.
//
// Neither waits for the record to propagate: certmagic's DNS01Solver does
// that before it tells the CA to validate (see the solver's Propagation
// fields, documented below).
//
// # Propagation check
//
// certmagic (v0.25.6) checks propagation in DNSManager.wait, every two
// seconds until PropagationTimeout (2 minutes when zero; -1 disables the
// check), after PropagationDelay. What it asks depends on Resolvers:
//
//   - Resolvers empty (production): it finds the zone by asking the
//     system's resolvers (/etc/resolv.conf) for SOA records up the name,
//     asks them for the zone's NS records, and queries those name servers
//     by name on port 53 for the TXT record. It is satisfied as soon as one
//     of them serves the value (not all of them).
//   - Resolvers set: it finds the zone and queries the TXT record on those
//     addresses only ("host:port", port 53 when missing), never looking up
//     the NS records. So a test's server on a loopback port is used by
//     setting Resolvers to its address: DNS01Solver{DNSManager:
//     DNSManager{DNSProvider: p, Resolvers: []string{addr}}}. The zone
//     found is also the zone passed to AppendRecords.
//
// certmagic keeps the zones it found (SOA lookups) in a cache global to
// the process, for the SOA's refresh time: tests that start several DNS
// servers for the same zone name get the same zone, which is harmless.
package dnsprovider
