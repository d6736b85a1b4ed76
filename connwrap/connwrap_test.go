package connwrap_test

import (
	"crypto/tls"
	"net"
	"testing"

	"ftpsd/connwrap"
)

type marked struct{ net.Conn }

func (m *marked) NetConn() net.Conn { return m.Conn }

// TestBelow: Below finds a layer under wrappers that return it from
// NetConn (here a *tls.Conn over a marked conn), and reports a layer no
// wrapper has as absent.
func TestBelow(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	m := &marked{Conn: a}
	top := tls.Server(m, &tls.Config{})
	if got, ok := connwrap.Below[*marked](top); !ok || got != m {
		t.Fatalf("Below[*marked](tls over marked) = %v, %v; want the marked conn", got, ok)
	}
	if got, ok := connwrap.Below[*tls.Conn](top); !ok || got != top {
		t.Fatalf("Below[*tls.Conn](tls) = %v, %v; want the conn itself", got, ok)
	}
	if _, ok := connwrap.Below[*net.TCPConn](top); ok {
		t.Fatal("Below[*net.TCPConn] found a layer that is not there")
	}
}
