package closenotify_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testcert"
	"ftpsd/tlsconf/closenotify"
)

// ends are the ways a client ends the stream it sent.
var ends = map[string]func(tc *tls.Conn, raw net.Conn) error{
	"bare FIN": func(_ *tls.Conn, raw net.Conn) error { return raw.(*net.TCPConn).CloseWrite() },
	"close_notify": func(tc *tls.Conn, _ net.Conn) error {
		return tc.CloseWrite() // the socket stays open until the server is done
	},
	"close_notify and FIN in one segment": ftptest.CloseWriteInOneSegment,
}

// TestTLSEnds sends a stream over TLS 1.2 and 1.3 to a server behind
// Listener and Config and ends it each way: only the close_notify ends
// read as a clean end of file; the bare FIN reads as ErrTruncated.
func TestTLSEnds(t *testing.T) {
	cert := testcert.SelfSigned(t, "localhost").TLS()
	payload := ftptest.RandomData(t, 100_000)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for name, end := range ends {
			t.Run(tls.VersionName(version)+"/"+name, func(t *testing.T) {
				server := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
				got, err := receive(t, closenotify.Config(server), payload, func(raw net.Conn) error {
					tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MaxVersion: version}) //nolint:gosec // test
					if _, err := tc.Write(payload); err != nil {
						return err
					}
					return end(tc, raw)
				}, true)
				if name == "bare FIN" {
					if !errors.Is(err, closenotify.ErrTruncated) {
						t.Fatalf("read %d bytes, error %v; want ErrTruncated", len(got), err)
					}
					return
				}
				if err != nil {
					t.Fatalf("read after %s: %v", name, err)
				}
				ftptest.MustSameData(t, "received", got, payload)
			})
		}
	}
}

// TestClearConnectionUntouched: a connection that never starts TLS ends
// with io.EOF as usual.
func TestClearConnectionUntouched(t *testing.T) {
	payload := ftptest.RandomData(t, 10_000)
	got, err := receive(t, nil, payload, func(raw net.Conn) error {
		if _, err := raw.Write(payload); err != nil {
			return err
		}
		return raw.(*net.TCPConn).CloseWrite()
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	ftptest.MustSameData(t, "received", got, payload)
}

// receive accepts one connection behind closenotify.Listener, lets send
// write to it from a client, and reads it to its end (over tls.Server
// with cfg when useTLS).
func receive(t *testing.T, cfg *tls.Config, payload []byte, send func(net.Conn) error, useTLS bool) ([]byte, error) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := closenotify.Listener(inner)
	defer l.Close()
	sent := make(chan error, 1)
	go func() {
		raw, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			sent <- err
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		err = send(raw)
		sent <- err
		_, _ = io.Copy(io.Discard, raw) // until the server closes
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var r io.Reader = c
	if useTLS {
		r = tls.Server(c, cfg)
	}
	got, err := io.ReadAll(r)
	if serr := <-sent; serr != nil {
		t.Fatalf("client: %v", serr)
	}
	return got, err
}
