//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/netlab"
	"ftpsd/internal/testenv"
)

// TestNetnsMultiplexOnePort runs ftpsd with passive.multiplex on a range
// of ONE port, the only port of the range the firewall opens (docs/
// firewall.md, "One port for everyone"), and drives it with curl, lftp and
// Python's ftplib (the resuming subclass of docs/clients.md), each
// downloading and uploading with checksums:
//
//  1. at once from three client addresses;
//  2. at once from ONE client address (as behind a client-side NAT): the
//     TLS session each data connection resumes tells their sessions apart;
//  3. a data connection from a fourth address to the port, while a session
//     waits on it, is closed, and the session's own transfer then works;
//  4. while two sessions of one address wait on the port, a data
//     connection from that address offering a third session's TLS session
//     is matched to neither (closed); the two then get their own files.
func TestNetnsMultiplexOnePort(t *testing.T) {
	tools := labTools{
		curl:   testenv.NeedTool(t, "curl", "curl"),
		lftp:   testenv.NeedTool(t, "lftp", "lftp"),
		python: testenv.NeedTool(t, "python3", "python3"),
	}
	s := newNetSiteWith(t, netlab.Routed, tools, strconv.Itoa(labRangeStart), "multiplex = true\n")
	ctx, cancel := context.WithTimeout(context.Background(), netlab.DefaultCommandTimeout)
	defer cancel()
	if err := s.lab.SetOpenRange(ctx, labRangeStart, labRangeStart); err != nil {
		t.Fatal(err)
	}
	extra := s.lab.ExtraClientAddrs()
	three := []netip.Addr{s.lab.ClientAddr(), s.lab.OtherClientAddr(), extra[0]}

	clients := func(t *testing.T, addrs []netip.Addr) {
		t.Helper()
		// A session of each address waits on the port all along: the
		// clients' sessions share it with them.
		for _, a := range addrs[:1+len(addrs)/3] {
			h := s.holdPassive(t, a)
			t.Cleanup(func() { h.finish(t) }) // after the parallel subtests
		}
		t.Run("curl", func(t *testing.T) {
			t.Parallel()
			s.curlTransfer(t, "--interface", addrs[0].String())
		})
		t.Run("lftp", func(t *testing.T) {
			t.Parallel()
			s.lftpTransfer(t, false, "set net:socket-bind-ipv4 "+addrs[1].String())
		})
		t.Run("python", func(t *testing.T) {
			t.Parallel()
			s.pythonTransfer(t, "reuse", "--source", addrs[2].String())
		})
	}
	t.Run("1_three_addresses", func(t *testing.T) { clients(t, three) })
	one := s.lab.ClientAddr()
	t.Run("2_one_address", func(t *testing.T) { clients(t, []netip.Addr{one, one, one}) })
	t.Run("3_stranger_refused", func(t *testing.T) { s.caseMuxStranger(t, extra[1]) })
	t.Run("4_foreign_ticket_refused", func(t *testing.T) { s.caseMuxForeignTicket(t, one) })
	if c := s.logCounters(t); c[netlab.CounterRange].Packets == 0 {
		t.Errorf("no connection went through the one open port: counters %v", c)
	}
	s.srv.waitLog(t, "multiplexed data connection refused", 2, 5*time.Second)
}

// heldPassive is a session waiting on its passive port.
type heldPassive struct {
	s      *netSite
	c      *ftptest.MustClient
	target netip.AddrPort
}

// holdPassive logs in from local and sends PASV: the session then waits
// on the one port of the range until finish.
func (s *netSite) holdPassive(t *testing.T, local netip.Addr) *heldPassive {
	t.Helper()
	c := s.loginFrom(t, local)
	target, err := labPASV(c.Client)
	if err != nil {
		t.Fatal(err)
	}
	if target.Port() != labRangeStart {
		t.Fatalf("227 announces port %d, want the one port %d", target.Port(), labRangeStart)
	}
	return &heldPassive{s: s, c: c, target: target}
}

// loginFrom logs in from local, through the firewall.
func (s *netSite) loginFrom(t *testing.T, local netip.Addr) *ftptest.MustClient {
	t.Helper()
	dial := func(ctx context.Context, _, address string) (net.Conn, error) {
		target, err := netip.ParseAddrPort(address)
		if err != nil {
			return nil, err
		}
		return s.lab.DialContext(ctx, netlab.Client, local, target)
	}
	return ftptest.Dialer{DialContext: dial, RequireResume: true}.MustLogin(t, s.lab.ControlAddr().String(), labUser, password(labUser))
}

// finish downloads over the held port and checks the file.
func (h *heldPassive) finish(t *testing.T) {
	t.Helper()
	x, err := h.c.Client.OpenAt(h.target.String(), "RETR download.bin")
	if err == nil {
		var got []byte
		if got, err = x.Receive(); err == nil {
			err = ftptest.SameData(got, h.s.down)
		}
	}
	if err != nil {
		t.Errorf("the session that waited on the port all along: %v", err)
	}
	h.c.Quit()
}

// caseMuxStranger: a session from the client address waits on the port;
// a connection from stranger to it is closed, and the session's download
// then arrives whole.
func (s *netSite) caseMuxStranger(t *testing.T, stranger netip.Addr) {
	victim := ftptest.Dialer{DialContext: s.labDial}.MustLogin(t, s.lab.ControlAddr().String(), labUser, password(labUser))
	target, err := labPASV(victim.Client)
	if err != nil {
		t.Fatal(err)
	}
	if target.Port() != labRangeStart {
		t.Errorf("227 announces port %d, want the one port %d", target.Port(), labRangeStart)
	}
	ctx, cancel := context.WithTimeout(context.Background(), attackTimeout)
	defer cancel()
	raw, err := s.lab.DialContext(ctx, netlab.Client, stranger, target)
	if err != nil {
		t.Fatalf("stranger's connection to %v: %v", target, err)
	}
	_ = raw.SetDeadline(time.Now().Add(attackTimeout))
	n, err := raw.Read(make([]byte, 1))
	_ = raw.Close()
	if n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stranger from %v read %d bytes, %v; want its connection closed", stranger, n, err)
	} else if err != io.EOF {
		t.Logf("stranger's connection ended with %v", err)
	}
	x, err := victim.Client.OpenAt(target.String(), "RETR download.bin")
	if err != nil {
		t.Fatalf("the session's own download after the stranger: %v", err)
	}
	got, err := x.Receive()
	if err != nil {
		t.Fatalf("the session's own download after the stranger: %v", err)
	}
	if err := ftptest.SameData(got, s.down); err != nil {
		t.Errorf("the session's own download after the stranger: %v", err)
	}
	victim.Quit()
}

// caseMuxForeignTicket: two sessions of addr wait on the port; a third
// session of addr opens a data connection to it offering its own TLS
// session: it is closed unanswered, and the two waiting sessions' downloads
// arrive whole.
func (s *netSite) caseMuxForeignTicket(t *testing.T, addr netip.Addr) {
	a, b, third := s.holdPassive(t, addr), s.holdPassive(t, addr), s.loginFrom(t, addr)
	raw, err := third.Client.DialData(a.target.String())
	if err != nil {
		t.Fatal(err)
	}
	if x, err := third.Client.Attach(raw, "stray"); err == nil {
		got, _ := io.ReadAll(x.Conn)
		t.Errorf("a data connection offering a third session's ticket was taken (read %d bytes)", len(got))
	}
	a.finish(t)
	b.finish(t)
	third.Quit()
}
