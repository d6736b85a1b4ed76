// Package guard keeps ftpsd's per-client-address defences: it counts
// failed logins, answers each with a growing delay, bans an address that
// fails too often, lets one password check per address run at a time, and
// thins out the log lines of refused connections to one per address and
// interval.
//
// A Guard is made once per server from the [security] settings and asked
// by the control listener (Banned, Refused) and by the login (Failed,
// Succeeded, Turn). Its memory is bounded: it tracks at most
// Options.MaxAddresses addresses and forgets the one touched longest ago
// first. Its clock is injected (Options.Now) for tests.
package guard
