// Package ticketbind binds data-channel TLS sessions to their control
// connection, like vsftpd's require_ssl_reuse.
//
// Every session ticket issued on a control connection carries, inside the
// encrypted and authenticated ticket (SessionState.Extra), the id of that
// control connection and the TLS version of the session (the screen below
// reads it there, never in crypto/tls's own encoding of the session). A
// data connection is handed to its owner (the control session that
// announced its port) by DataBinding.Resolve; its config only accepts
// tickets the owner's client holds: marked with the owner's id, or with the
// id of another control connection of the same user from the same address
// (DataBinding.Peer). A data connection that resumed therefore proves that
// its client holds the secrets of one of its user's TLS sessions from that
// address. Tickets issued on a data connection are marked with the owner's
// id too, so later data connections of the same control session may resume
// them.
//
// What a data connection must prove depends on the control channel's
// state (Decide): while it is TLS, resumption; once it was cleared by CCC,
// or when the client cannot resume at all (its control channel took no
// ticket), the control connection's client address.
//
// # Refusing cleanly
//
// Refusing inside crypto/tls (VerifyConnection) sends a bad_certificate
// alert, which clients print as a certificate problem ("sslv3 alert bad
// certificate", Java's "Broken pipe") while the real reason, a 425 on the
// control channel, goes unread. DataTLS therefore puts a screen in front of
// passive listeners: it reads the ClientHello before crypto/tls does,
// decrypts the tickets it offers and predicts the verdict. When Decide
// refuses, the screen completes a full handshake of its own (without
// issuing a ticket), sends close_notify, lets an upload drain briefly, and
// fails the lib's handshake: the client sees a clean, empty data connection
// and then reads the 425 with the reason. When the screen lets a
// connection through, DataConfig still enforces the verdict on the real
// outcome.
//
// # The crypto/tls behaviour it relies on
//
// Checked against the Go 1.26 sources:
//
//   - Server-side VerifyConnection runs on resumed handshakes too: in TLS 1.2
//     in doResumeHandshake, in TLS 1.3 in readClientCertificate (no client
//     certificate is requested on PSK handshakes, and VerifyConnection runs
//     in that branch as well).
//   - In TLS 1.3 the server sends its NewSessionTicket in its first flight
//     (right after its Finished), before VerifyConnection runs. A refused
//     data handshake would therefore still hand the client a valid ticket
//     marked with the owner's id, which it could resume on the next data
//     connection, defeating the binding. The data WrapSession therefore
//     refuses to issue a ticket on a non-resumed handshake when Required.
//     In that case the TLS 1.3 client sees its own handshake succeed (it is
//     complete after it sent Finished) and the refusal as an error on its
//     first read; the server side fails the handshake.
//   - In TLS 1.2, UnwrapSession is called even when the client sent no
//     ticket (with an empty identity); DecryptTicket ignores it.
//   - c.ticketKeys is taken from the config returned by GetConfigForClient
//     when it has explicitly set keys, and a clone copies the keys base had
//     when it was cloned, so the clones would not follow the rotation of
//     base's keys (tlsconf sets them with SetSessionTicketKeys): the hooks
//     always use base.EncryptTicket / base.DecryptTicket, and every config
//     derived from base calls base's GetConfigForClient, which rotates them,
//     before a ticket is decrypted.
//   - A refusal from VerifyConnection sends a bad_certificate alert; one from
//     WrapSession (TLS 1.3 without a client certificate request) sends none.
//   - A Go client drops its cached session when a handshake that offered it
//     fails (crypto/tls does so for both versions), so after a refused TLS 1.2
//     data connection that client has no ticket until its control connection
//     hands it a new one.
//   - The Go server resumes TLS 1.2 sessions from tickets only (no session
//     ID cache): a TLS 1.2 client without ticket support can never satisfy
//     Required.
package ticketbind
