// Package pasv decides where passive-mode data connections listen and what
// address the server announces for them.
//
// Allocator hands ftpserverlib candidate ports from the range opened on the
// firewall and tracks which ones are leased. It satisfies the lib's
// PasvPortGetter by shape (NumberAttempts, FetchNext) and learns which port
// really bound through WrapPassiveListener.
//
// Announcer chooses the address of 227 replies: the firewall's public
// address (static, or a DNS name re-resolved periodically), or the
// server's own address for clients on internal networks.
package pasv
