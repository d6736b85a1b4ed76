// Package ftptest is the harness that ftpsd's tests share: one raw FTPS
// client, one policy for free ports, polling, checksums, test data and
// bounded runs of external programs.
//
// # The client
//
// Client speaks FTP(S) line by line, so that a test sees every reply and
// controls every connection: explicit (AUTH TLS) or implicit TLS, login,
// PROT P, PASV and EPSV, CCC with each order of close_notify, and data
// connections whose TLS sessions resume the control connection's (the
// control and data connections share one tls.Config, see NewTLS). Its
// methods return errors, so that it can run in goroutines; every read,
// write and dial is bounded by its Timeout. MustClient wraps it for a test
// goroutine: the same methods fail the test instead of returning an error.
//
//	c := ftptest.MustLogin(t, addr, "alice", "alice-secret") // AUTH TLS, USER, PASS, PBSZ 0, PROT P
//	c.Stor("a.txt", data)
//	got := c.Retr("a.txt")
//	c.Quit()
//
// # Ports
//
// PortRange and FreePort hand out ports below the kernel's ephemeral range
// (so that no client socket of any process takes one while a test uses
// it), each checked bindable on 127.0.0.1 and 0.0.0.0, and never the same
// port twice in one test process.
//
// # Everything else
//
// Eventually polls a condition; FakeClock is an injected clock; Serve runs a toy TCP server; RandomData,
// SHA256Hex, SameData and SameFile make and compare test data by
// checksum; WriteFile, DirNames, PartialUploads and HashPassword prepare
// and inspect a server's files; DuplicateKeys finds a key named twice in
// a JSON log line; Cmd runs an external program within a
// timeout; FtplibClient provides the Python ftplib client script (the
// ReusingFTP_TLS of docs/clients.md, CCC, and options for each test). Where a program, a file or a privilege is
// missing, tests use ftpsd/internal/testenv; certificates come from
// ftpsd/internal/testcert.
package ftptest
