// Package dnsprovider solves ACME DNS-01 challenges: it adds and removes
// the challenge's TXT records, as libdns providers (RecordAppender and
// RecordDeleter) that certmagic's DNS01Solver takes, and waits until the
// zone's authoritative servers serve them.
//
//   - RFC2136 updates the zone's primary server with dynamic updates
//     (RFC 2136) signed with a TSIG key, over TCP, built on miekg/dns.
//   - Exec runs a command the administrator supplies, with "present" or
//     "cleanup", the record's name and its value, as lego's exec provider
//     does, so that any DNS API can be scripted.
//   - WaitPropagated wraps either so that AppendRecords returns only when
//     every authoritative server of the zone serves the records.
//
// # Propagation
//
// certmagic (v0.25.6) checks propagation itself in DNSManager.wait: after
// PropagationDelay, every two seconds until PropagationTimeout (2 minutes
// when zero; -1 turns the check off). What it asks depends on Resolvers:
//
//   - Resolvers empty: it finds the zone by asking the system's resolvers
//     (/etc/resolv.conf) for SOA records up the name, asks them for the
//     zone's NS records, and queries those name servers by name on port
//     53. It is satisfied by the first of them that serves the value, not
//     by all: a secondary that has not transferred the zone yet may still
//     be asked by the CA.
//   - Resolvers set ("host:port"; port 53 when missing): it finds the zone
//     and queries the TXT record on those addresses only, never looking up
//     NS records. A test server on a loopback port is thus reached with
//     Resolvers: []string{addr}; the zone certmagic finds there is the
//     zone passed to AppendRecords. This is needed in tests even with its
//     check turned off: the zone is found before AppendRecords is called.
//
// certmagic keeps the zones it finds in a cache global to the process
// (for the SOA's refresh time), keyed by name: tests that start several
// servers for the same zone get the same answer, which is harmless.
//
// WaitPropagated asks every server (each NS name at port 53, or the
// Servers given), so the ACME manager uses it and turns certmagic's check
// off:
//
//	p = dnsprovider.WaitPropagated(p, dnsprovider.PropagationOptions{Timeout: timeout, Logger: log})
//	solver := &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{DNSProvider: p, PropagationTimeout: -1}}
//
// and in tests, with knotd on a loopback port (internal/acmetest):
//
//	p = dnsprovider.WaitPropagated(p, dnsprovider.PropagationOptions{Servers: []string{dns.Addr}})
//	solver := &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{DNSProvider: p,
//		Resolvers: []string{dns.Addr}, PropagationTimeout: -1}}
package dnsprovider
