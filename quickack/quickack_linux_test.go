package quickack_test

import (
	"crypto/tls"
	"net"
	"testing"

	"ftpsd/internal/ftptest"
	"ftpsd/quickack"
)

// TestAckBelowWrappers: Ack finds the socket below a wrapper (here a
// *tls.Conn, which returns it from NetConn) and takes it out of
// delayed-ACK mode.
func TestAckBelowWrappers(t *testing.T) {
	_, conn := ftptest.Pair(t, ftptest.Listen(t))
	raw := conn.(*net.TCPConn)
	ftptest.SetQuickAck(t, raw, 0)
	quickack.Ack(tls.Server(conn, &tls.Config{}))
	if got := ftptest.QuickAck(t, raw); got != 1 {
		t.Fatalf("TCP_QUICKACK after Ack = %d, want 1", got)
	}
}
