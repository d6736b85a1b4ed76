//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"ftpsd/internal/testenv"
)

// Loopback is a network namespace with nothing but its loopback, up: a
// second host on one machine, for programs that bind the addresses and
// ports the test's own namespace holds already (a balancer's front for
// the passive ports of nodes on the same machine). Its connections come
// from one source address of 127.0.0.0/8 by default.
type Loopback struct {
	name   string
	ipPath string
}

// NewLoopback creates the namespace, whose connections come from src (in
// 127.0.0.0/8) unless bound elsewhere; it is deleted when the test ends.
// It needs root (the test is skipped without, and fails under CI=true).
func NewLoopback(t testing.TB, src netip.Addr) *Loopback {
	t.Helper()
	needRoot(t)
	n := &Loopback{ipPath: testenv.NeedTool(t, "ip", "iproute2")}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n.name = fmt.Sprintf("ftlb%d-%s", os.Getpid(), hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
		defer cancel()
		if out, err := exec.CommandContext(ctx, n.ipPath, "netns", "delete", n.name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v: %s", n.name, err, out)
		}
	})
	for _, args := range [][]string{
		{"netns", "add", n.name},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "addr", "add", src.String() + "/8", "dev", "lo"},
		// The kernel's source for 127.0.0.0/8 is the route's: src, not 127.0.0.1.
		{"-n", n.name, "route", "replace", "local", "127.0.0.0/8", "dev", "lo", "proto", "kernel", "scope", "host", "src", src.String(), "table", "local"},
	} {
		if out, err := exec.CommandContext(ctx, n.ipPath, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	return n
}

// Name is the namespace's name (for "ip netns exec", HAProxy's "namespace").
func (n *Loopback) Name() string { return n.name }

// Command returns a command that runs name with args in the namespace; ctx
// kills it. It is not started.
func (n *Loopback) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, n.ipPath, append([]string{"netns", "exec", n.name, name}, args...)...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// DialContext opens a TCP connection in the namespace from its default
// source (the signature of ftptest.Dialer.DialContext).
func (n *Loopback) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return n.DialFrom(ctx, netip.Addr{}, address)
}

// DialFrom opens a TCP connection in the namespace from local (the zero
// Addr: the default source) to address.
func (n *Loopback) DialFrom(ctx context.Context, local netip.Addr, address string) (net.Conn, error) {
	var conn net.Conn
	err := inNamespace(n.name, func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
		var err error
		conn, err = d.DialContext(ctx, "tcp", address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in namespace %s: %w", address, n.name, err)
	}
	return conn, nil
}
