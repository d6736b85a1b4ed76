package ticketbind

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello returns the first flight of a Go client configured by cfg.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		_ = client.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tls.Client(client, cfg).Handshake()
		client.Close()
	}()
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	raw, msg, err := readClientHello(server)
	if err != nil || msg == nil {
		t.Fatalf("readClientHello: %v (msg %d bytes)", err, len(msg))
	}
	return raw
}

func TestParseClientHello(t *testing.T) {
	eachVersion(t, func(t *testing.T, f *bindFixture) {
		cache := tls.NewLRUClientSessionCache(4)
		f.handshakeControl(t, 7, cache)
		cfg := &tls.Config{ServerName: "localhost", RootCAs: f.roots, ClientSessionCache: cache, MinVersion: f.vers, MaxVersion: f.vers}
		raw := clientHello(t, cfg)
		_, msg, err := readClientHello(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		h, ok := parseClientHello(msg)
		if !ok {
			t.Fatal("a Go ClientHello did not parse")
		}
		tls13 := f.vers == tls.VersionTLS13
		if h.tls13 != tls13 {
			t.Fatalf("tls13 = %v", h.tls13)
		}
		offered := h.offered(tls13)
		if len(offered) != 1 {
			t.Fatalf("%d tickets offered, want the cached one", len(offered))
		}
		ss, err := f.base.DecryptTicket(offered[0], tls.ConnectionState{})
		if err != nil || ss == nil {
			t.Fatalf("the offered ticket does not decrypt: %v", err)
		}
		if m, ok := markOf(ss); !ok || m != (mark{owner: 7, version: f.vers}) {
			t.Fatalf("ticket mark %+v, %v; want owner 7, version %#04x", m, ok, f.vers)
		}
	})
}

// FuzzClientHello feeds arbitrary bytes to the ClientHello reader and
// parser, which see every passive data connection's first bytes.
func FuzzClientHello(f *testing.F) {
	fx := newBindFixture(f, tls.VersionTLS13)
	f.Add(clientHello(f, &tls.Config{ServerName: "localhost", RootCAs: fx.roots}))
	f.Add(clientHello(f, &tls.Config{ServerName: "localhost", RootCAs: fx.roots, MaxVersion: tls.VersionTLS12}))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff})
	f.Add([]byte("STOR file contents, not TLS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, msg, _ := readClientHello(bytes.NewReader(data))
		if !bytes.HasPrefix(data, raw) {
			t.Fatalf("readClientHello returned bytes that were not read")
		}
		if len(raw) > maxHelloLen+recordHeaderLen*2 {
			t.Fatalf("read %d bytes", len(raw))
		}
		if msg != nil {
			h, _ := parseClientHello(msg)
			_ = h.offered(true)
			_ = h.offered(false)
		}
	})
}
