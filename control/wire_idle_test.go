package control

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return server, client
}

// TestWireHoldsNoBufferWhenConsumed: the wire gives its buffer back once
// every byte was taken or a read failed, keeps bytes not taken yet, and
// reads everything a client sent at once, more than a buffer's worth,
// without waiting for more (waitReadable does not miss bytes already in
// the socket).
func TestWireHoldsNoBufferWhenConsumed(t *testing.T) {
	server, client := tcpPair(t)
	w := &wire{conn: server}
	if err := server.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	sent := bytes.Repeat([]byte("NOOP\r\n"), 3*readChunk/6+100)
	if _, err := client.Write(sent); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < len(sent) {
		if err := w.fill(); err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(sent), err)
		}
		if len(w.buf) >= 2 {
			half := make([]byte, len(w.buf)/2)
			got = append(got, half[:w.take(half, len(half))]...)
			if len(w.buf) == 0 {
				t.Fatal("bytes not taken yet were dropped")
			}
		}
		rest := make([]byte, len(w.buf))
		got = append(got, rest[:w.take(rest, len(rest))]...)
		if w.buf != nil || w.chunk != nil {
			t.Fatal("every byte taken, the wire still holds its buffer")
		}
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("read %d bytes, not the %d sent", len(got), len(sent))
	}

	if err := server.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := w.fill(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("fill of a quiet client past the deadline: %v, want a timeout", err)
	}
	if w.buf != nil || w.chunk != nil {
		t.Error("the wire holds a buffer after a failed read")
	}
}
