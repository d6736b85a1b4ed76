// Package closenotify tells a TLS connection that ended with the peer's
// close_notify from one cut by a bare TCP FIN.
//
// crypto/tls accepts a FIN at a record boundary as the end of the stream:
// Read returns io.EOF, exactly as after a close_notify. For an upload
// that is a truncation anybody on the path can cause (vsftpd's
// strict_ssl_read_eof guards against it). Below crypto/tls the difference
// shows: after a close_notify crypto/tls never reads the socket again, so
// the socket itself only reports its end when the stream was cut.
//
// Listener wraps a listener whose connections the caller hands to
// tls.Server with a config from Config. Once a TLS handshake starts on a
// connection, the end of its socket reads as ErrTruncated instead of
// io.EOF, so crypto/tls's Read, and an io.Copy from it, fail. A connection
// that never starts TLS (a clear data connection) is left alone.
package closenotify

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"

	"ftpsd/connwrap"
)

// ErrTruncated is the error of a read from a TLS connection whose peer
// closed the socket without sending close_notify.
var ErrTruncated = errors.New("connection closed without TLS close_notify: the data may be truncated")

// Listener returns l whose connections report a cut TLS stream (see the
// package doc). Only connections handed to tls.Server with a Config from
// Config are watched.
func Listener(l net.Listener) net.Listener {
	return connwrap.Listener(l, func(c net.Conn) net.Conn { return &conn{Conn: c} })
}

// conn turns the end of its socket into ErrTruncated once it carries TLS.
type conn struct {
	net.Conn
	tls atomic.Bool
}

// NetConn returns the connection below (as *tls.Conn does).
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) && c.tls.Load() {
		err = ErrTruncated
	}
	return n, err
}

// find returns the conn of Listener that c is or wraps: wrappers above it
// (a deadline, say) expose the conn below with NetConn, as *tls.Conn does.
func find(c net.Conn) *conn {
	cc, _ := connwrap.Below[*conn](c)
	return cc
}

// Config returns a copy of base that marks the connections of Listener
// as TLS when their handshake starts. base's own GetConfigForClient, if
// any, still decides the connection's config.
func Config(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	next := base.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if c := find(hello.Conn); c != nil {
			c.tls.Store(true)
		}
		if next == nil {
			return nil, nil
		}
		return next(hello)
	}
	return cfg
}
