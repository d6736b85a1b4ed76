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
// This package, and the rest of ftpsd's TLS, relies on details of
// crypto/tls that its documentation does not promise. They are listed in
// cryptotls.go, each with the code that relies on it and the test that
// catches a change; TestCryptoTLSReviewed fails on a Go release the list
// was not reviewed for.
package ticketbind
