// Package guard keeps ftpsd's per-client defences: it counts failed
// logins, answers each with a growing delay, bans a client that fails too
// often, lets one password check per client run at a time, and thins out
// the log lines of refused connections to one per client and interval. A
// client is a network (Network): an IPv4 address, or an IPv6 prefix.
//
// A Guard is made once per server from the [security] settings and asked
// by the control listener (Banned, Refused) and by the login (Failed,
// Denied, Succeeded, Turn). Its memory is bounded in two tables: it observes at
// most Options.MaxAddresses networks and forgets the one touched longest
// ago first, and it holds at most Options.MaxBans bans, which nothing
// evicts before they end. Its clock is injected (Options.Now) for tests.
package guard
