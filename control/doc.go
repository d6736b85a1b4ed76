// Package control owns the FTP control connection below ftpserverlib: it
// answers AUTH TLS itself, runs the TLS handshake on the raw socket (or starts
// the connection in TLS for implicit FTPS), and hands the lib one plain
// command line at a time, so the lib never sees TLS on the control channel.
//
// Owning TLS here is what makes it possible to clear the control channel
// again (CCC) and to know, per connection, whether and how it is protected.
//
// Use NewListener around a TCP listener and give the result to the lib
// through Settings.Listener; find a connection's TLS facts through the
// Registry by its remote address.
package control
