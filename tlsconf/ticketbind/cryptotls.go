package ticketbind

// reviewedFor is the Go release (major.minor, as runtime.Version() names
// it) whose crypto/tls sources the list below was last checked against.
// TestCryptoTLSReviewed fails under any other release until the list has
// been re-read and this constant updated.
const reviewedFor = "go1.26"

// The crypto/tls behaviours ftpsd relies on.
//
// Each entry says what crypto/tls does (checked in its sources for
// reviewedFor), where ftpsd relies on it, and which test fails when it
// changes. On a new Go release: read crypto/tls's release notes and diff,
// check every entry, run the tests named (with the tools they need: the
// audit test needs openssl), fix what moved, then set reviewedFor.
//
// Session tickets and resumption (this package, tlsconf):
//
//  1. WrapSession and UnwrapSession see a *SessionState whose Extra records
//     are encrypted and authenticated with the ticket (EncryptTicket,
//     DecryptTicket) and come back unchanged. ftpsd keeps its own data
//     there: the mark (owner id and TLS version, binding.go). ftpsd never
//     reads SessionState.Bytes(), whose encoding Go documents as opaque.
//     Caught by TestDataResumesControlSession, TestParseClientHello and
//     TestScreenPredictsVersion.
//  2. A session resumes only under the TLS version it was made with; TLS
//     1.3 resumes only from pre_shared_key identities, TLS 1.2 only from
//     the session_ticket extension (no session ID cache, so a TLS 1.2
//     client without tickets never resumes). The screen's prediction
//     (screen.go resumes, hello.go offered) and Owner.Ticketless rely on
//     it. Caught in part: TestScreenResumedPasses and
//     TestScreenRefusesCleanly cover both versions; no test offers a ticket
//     of the other version (no client sends one), where a change would only
//     make the screen refuse what crypto/tls would resume.
//  3. The server's VerifyConnection runs on resumed handshakes too: in TLS
//     1.2 in doResumeHandshake, in TLS 1.3 in readClientCertificate (in the
//     branch where no client certificate is requested on PSK handshakes).
//     DataConfig enforces its verdict there and calls
//     DataBinding.Handshaken, which ends the driver's connect deadline.
//     Caught by TestDataHandshakenOnResumption.
//  4. In TLS 1.3 the server sends its NewSessionTicket in its first flight,
//     right after its Finished and before VerifyConnection runs (unless it
//     requested a client certificate); in TLS 1.2 after VerifyConnection.
//     A refused data handshake would still hand the client a ticket marked
//     with the owner's id, so the data WrapSession refuses to issue one
//     (binding.go DataConfig); the TLS 1.3 client then sees its handshake
//     succeed and the refusal on its first read. Caught by
//     TestDataRefusesFreshClient (a refused client holds no ticket) and
//     TestDataBindingWithClientAuthRequested.
//  5. An error from VerifyConnection sends a bad_certificate alert, which
//     clients report as a certificate problem; one from WrapSession sends
//     none. This is why the screen refuses passive data connections itself
//     (screen.go, see "Refusing cleanly" in the package doc). Caught by
//     TestDataRefusesOtherControlSession, TestDataBindingWithClientAuthRequested
//     (both expect the alert) and TestScreenRefusesCleanly.
//  6. In TLS 1.2, UnwrapSession is called even when the client sent no
//     ticket (an empty identity), and DecryptTicket fails on it: anyUnwrap
//     and ownedUnwrap answer (nil, nil), a full handshake. Caught by
//     TestDataRefusesFreshClient and TestDataNoOwner.
//  7. A config returned by GetConfigForClient encrypts tickets with its own
//     keys when they were set explicitly, and Clone copies the keys a
//     config has at that moment, so clones would not follow the rotation
//     of base's keys (tlsconf's ticketKeys, SetSessionTicketKeys): every
//     hook uses base.EncryptTicket and base.DecryptTicket, and base's
//     GetConfigForClient, which rotates the keys, runs before any ticket is
//     decrypted (templateFor). Caught by TestTicketKeyRotation.
//  8. ClientHelloInfo.Conn is the net.Conn given to tls.Server, and the
//     server reads the ClientHello from it with Read before anything else.
//     DataConfig resolves the owner from it, closenotify.Config finds its
//     conn from it, and the screen reads and replays the ClientHello in
//     the first Read (screen.go). Caught by
//     TestDataRefusesOtherControlSession (the conn given to Refused),
//     TestScreenResumedPasses and closenotify's TestTLSEnds.
//  9. A Go client drops its cached session when a handshake that offered
//     it fails, for both versions: after a refused TLS 1.2 data connection
//     it has no ticket until its control connection hands it a new one.
//     Caught by TestDataBindingConcurrent, which expects it.
//  10. The lifetime a ticket announces is not configurable: 604800 s (7
//     days, maxSessionTicketLifetime) in a TLS 1.3 NewSessionTicket, 0
//     ("unspecified") in a TLS 1.2 one; and crypto/tls refuses to resume a
//     session created more than 7 days ago (a TLS 1.2 ticket re-issued on
//     resumption keeps its creation time). docs/security.md's TLS
//     paragraph and the Commons Net row of docs/clients.md state these
//     figures; tlsconf's key deletion after TicketLifetime is what bounds
//     resumption. Caught by
//     TestTLSAuditTicketLifetime (cmd/ftpsd, reads both on the wire); the
//     7-day refusal by no test (re-read handshake_server.go and
//     handshake_server_tls13.go).
//
// Streams (control, tlsconf/closenotify, tlsconf/recordbatch, pasv):
//
//  11. crypto/tls reads ahead of the current record when its conn gives it
//     more; after the peer's close_notify, Read returns io.EOF and
//     crypto/tls reads nothing more. CloseWrite sends close_notify and
//     leaves the socket open. CCC relies on all three: control's
//     recordReader hands crypto/tls one record at a time, so the clear
//     text after the client's close_notify stays in the wire. Caught by
//     control's TestCCCClientClosesFirstWithNextCommandInSameSegment,
//     TestCCCLateClientCloseNotifyIsConsumed and
//     TestRecordReaderStopsAtRecordBoundary.
//  12. A bare FIN at a record boundary reads as io.EOF, exactly as a
//     close_notify does. closenotify turns the socket's end into
//     ErrTruncated once TLS started (tls.strict_upload_eof). Caught by
//     closenotify's TestTLSEnds.
//  13. crypto/tls writes each record with its own Write (at most 16 KiB
//     and a few bytes) and, in Close, sets a 5-second write deadline around
//     its close_notify and then one in the past. recordbatch gathers the
//     records and writes them out before a deadline changes; pasv's
//     deadlineConn keeps the deadline its user set. Caught by
//     recordbatch's TestDownload (records per socket write, and the
//     close_notify after the data).
//  14. *tls.Conn exposes the connection below with NetConn. Wrappers do the
//     same and are walked down through it (closenotify.find, the driver's
//     below). Caught by closenotify's TestTLSEnds.
