package driver

import (
	"net"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/tlsconf/recordbatch"
)

// TestDataHandshakenAcksAtOnce: when a data handshake is accepted, the
// server's flight held in the record batch goes out, and the socket below
// the wrappers leaves delayed-ACK ("pingpong") mode, so that the client's
// Finished is acknowledged at once (a client with Nagle's algorithm waits
// for that acknowledgement before it sends its first data record).
func TestDataHandshakenAcksAtOnce(t *testing.T) {
	client, conn := ftptest.Pair(t, recordbatch.Listener(ftptest.Listen(t)))
	raw := conn.(*recordbatch.Conn).NetConn().(*net.TCPConn)
	ftptest.SetQuickAck(t, raw, 0) // as after the server answered the ClientHello
	if _, err := conn.Write([]byte("flight")); err != nil {
		t.Fatal(err)
	}

	dataHandshaken(conn)

	if got := ftptest.QuickAck(t, raw); got != 1 {
		t.Errorf("TCP_QUICKACK after the handshake = %d, want 1", got)
	}
	_ = client.SetReadDeadline(time.Now().Add(ftptest.DefaultTimeout))
	buf := make([]byte, 16)
	n, err := client.Read(buf)
	if err != nil || string(buf[:n]) != "flight" {
		t.Fatalf("client read %q, %v; want the flight", buf[:n], err)
	}
}
