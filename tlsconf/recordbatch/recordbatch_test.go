package recordbatch_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/tlsconf/recordbatch"
)

// errBareFIN is what the client's socket reads at its end: crypto/tls
// reads the socket again after the data only if no close_notify came.
var errBareFIN = errors.New("socket ended without close_notify")

type finConn struct{ net.Conn }

func (c finConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		err = errBareFIN
	}
	return n, err
}

// countingListener counts the writes of its connections to the socket.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &countingConn{Conn: c, l: l}, err
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

// TestDownload sends 1 MiB over TLS 1.2 and 1.3 from a server behind
// Listener in 32 KiB writes (as io.Copy does), then closes: the client
// gets the handshake, every byte and then close_notify, and the server
// wrote its 64 records and more in a handful of socket writes.
func TestDownload(t *testing.T) {
	cert := testcert.SelfSigned(t, "localhost").TLS()
	payload := ftptest.RandomData(t, 1<<20)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			counting := &countingListener{Listener: ftptest.Listen(t)}
			ln := tls.NewListener(recordbatch.Listener(counting),
				&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
			defer ln.Close()
			served := make(chan error, 1)
			go func() { served <- serve(ln, payload) }()

			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(ftptest.DefaultTimeout))
			tc := tls.Client(finConn{raw}, &tls.Config{InsecureSkipVerify: true, MaxVersion: version}) //nolint:gosec // test
			got, err := io.ReadAll(tc)
			if err != nil {
				t.Fatalf("read %d bytes, then: %v", len(got), err)
			}
			ftptest.MustSameData(t, "received", got, payload)
			if err, ok := ftptest.Receive(served, ftptest.DefaultTimeout); !ok || err != nil {
				t.Fatalf("server: %v (returned: %t)", err, ok)
			}
			// 1 MiB is 64 records: 5 batches, the alert, the handshake.
			if n := counting.writes.Load(); n > 10 {
				t.Fatalf("the server wrote 1 MiB in %d socket writes, want at most 10", n)
			}
		})
	}
}

func serve(ln net.Listener, payload []byte) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	_ = c.SetDeadline(time.Now().Add(ftptest.DefaultTimeout))
	for rest := payload; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		if _, err := c.Write(rest[:n]); err != nil {
			_ = c.Close()
			return err
		}
		rest = rest[n:]
	}
	return c.Close()
}

// TestCloseCutsBlockedWrite: Close during a Write blocked on a client
// that reads nothing ends the Write, as on a plain connection.
func TestCloseCutsBlockedWrite(t *testing.T) {
	counting := &countingListener{Listener: ftptest.Listen(t)}
	client, c := ftptest.Pair(t, recordbatch.Listener(counting))
	_ = client.(*net.TCPConn).SetReadBuffer(4096)
	wrote := make(chan error, 1)
	go func() {
		// Far more than the socket buffers hold: the client reads nothing.
		_, err := c.Write(make([]byte, 64*recordbatch.Size))
		wrote <- err
	}()
	ftptest.MustEventually(t, ftptest.DefaultTimeout, "the write to reach the socket",
		func() bool { return counting.writes.Load() > 0 })
	_ = c.Close()
	if err, ok := ftptest.Receive(wrote, ftptest.DefaultTimeout); !ok {
		t.Fatal("Write still blocked after Close")
	} else if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}
