// Package acmetest runs, on loopback, what ftpsd's ACME tests validate
// against: a real authoritative DNS server that takes TSIG-signed dynamic
// updates (Knot DNS) and Pebble, the ACME test CA, which asks that DNS
// server when it validates a DNS-01 challenge.
//
//	dns := acmetest.NewDNS(t, "ftpsd.test.")  // knotd, zone + TSIG key
//	ca := acmetest.NewPebble(t, dns.Addr)     // Pebble resolving through it
//	client := acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
//
// knotd comes from Debian's knot package; Pebble is $FTPSD_PEBBLE or
// ~/.cache/ftpsd-pebble/pebble. Without them the test is skipped (always
// under -short: they are in the full tier), and fails under CI=true
// (internal/testenv). Each server is stopped when the test ends; its
// output is logged when the test has failed.
package acmetest

import (
	"os/exec"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// readyTimeout bounds each server's start.
const readyTimeout = 30 * time.Second

// process is a started server program and its output.
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	output *testenv.SyncBuffer
}

// start runs cmd with its output captured, waits until ready reports true
// (failing the test when the program exits first or readyTimeout passes),
// and kills it when the test ends, logging its output if the test failed.
func start(t testing.TB, name string, cmd *exec.Cmd, ready func() bool) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, exited: make(chan struct{}), output: &testenv.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output.String())
		}
	})
	ok := ftptest.Eventually(readyTimeout, func() bool {
		select {
		case <-p.exited:
			return true
		default:
		}
		return ready()
	})
	select {
	case <-p.exited:
		t.Fatalf("%s exited at start (%v):\n%s", name, cmd.ProcessState, p.output.String())
	default:
	}
	if !ok {
		t.Fatalf("%s not ready within %s:\n%s", name, readyTimeout, p.output.String())
	}
	return p
}
