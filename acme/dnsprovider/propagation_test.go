package dnsprovider_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ftpsd/acme/dnsprovider"
	"ftpsd/internal/acmetest"
)

// TestWaitPropagatedEveryServer: with a primary and a second server that
// gets the record late (as a secondary does), AppendRecords returns only
// once both serve it; when the second never does, it fails at the
// timeout naming that server, and the record is removed again.
func TestWaitPropagatedEveryServer(t *testing.T) {
	primary := acmetest.NewDNS(t, testZone)
	secondary := acmetest.NewDNS(t, testZone)
	opts := dnsprovider.PropagationOptions{Servers: []string{primary.Addr, secondary.Addr},
		Timeout: 20 * time.Second, Interval: 200 * time.Millisecond}
	p := dnsprovider.WaitPropagated(newRFC2136(t, primary, nil), opts)
	ctx := context.Background()
	fqdn := "_acme-challenge.late." + testZone

	const lag = 2 * time.Second
	transferred := make(chan struct{})
	go func() {
		defer close(transferred)
		time.Sleep(lag)
		secondary.SetTXT(t, fqdn, "token")
	}()
	began := time.Now()
	if _, err := p.AppendRecords(ctx, testZone, []libdns.Record{txt("_acme-challenge.late", "token")}); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	took := time.Since(began)
	<-transferred
	if took < lag {
		t.Errorf("AppendRecords returned after %s, before the second server had the record (%s)", took, lag)
	}
	if took > lag+3*time.Second {
		t.Errorf("AppendRecords returned %s after the second server had the record, want within a few intervals", took-lag)
	}

	opts.Timeout = 1500 * time.Millisecond
	p = dnsprovider.WaitPropagated(newRFC2136(t, primary, nil), opts)
	began = time.Now()
	_, err := p.AppendRecords(ctx, testZone, []libdns.Record{txt("_acme-challenge.never", "token")})
	if err == nil {
		t.Fatal("AppendRecords succeeded with the record on one server of two")
	}
	t.Logf("error: %v", err)
	for _, w := range []string{"the record is not on every authoritative server of ftpsd.test.", secondary.Addr + ": _acme-challenge.never.ftpsd.test. TXT lacks \"token\""} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), primary.Addr) {
		t.Errorf("error %q names the primary, which serves the record", err)
	}
	if took := time.Since(began); took < opts.Timeout || took > opts.Timeout+3*time.Second {
		t.Errorf("failed after %s, want the %s timeout", took, opts.Timeout)
	}
	if v := txtValues(t, primary, "_acme-challenge.never."+testZone); len(v) != 0 {
		t.Errorf("after the failed wait the primary still serves %q, want the record removed", v)
	}
}

// TestWaitPropagatedFindsNameservers: without Servers the zone's NS
// records are looked up and each name server asked (here the test
// server, through a resolver that asks it, at its port).
func TestWaitPropagatedFindsNameservers(t *testing.T) {
	d := acmetest.NewDNS(t, testZone)
	_, port, _ := net.SplitHostPort(d.Addr)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, d.Addr)
	}}
	core, logs := observer.New(zap.InfoLevel)
	nsPort, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	p := dnsprovider.WaitPropagated(newRFC2136(t, d, nil), dnsprovider.PropagationOptions{Resolver: resolver,
		NameserverPort: nsPort, Timeout: 10 * time.Second, Interval: 200 * time.Millisecond, Logger: zap.New(core)})
	if _, err := p.AppendRecords(context.Background(), testZone, []libdns.Record{txt("_acme-challenge.ns", "v")}); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	lines := logs.FilterMessage("acme dns record propagated").All()
	if len(lines) != 1 {
		t.Fatalf("logged %d propagated lines, want 1", len(lines))
	}
	servers, _ := lines[0].ContextMap()["servers"].([]any)
	if want := "ns.ftpsd.test.:" + port; len(servers) != 1 || servers[0] != want {
		t.Errorf("checked %v, want [%s] (the zone's NS)", servers, want)
	}
	if v := txtValues(t, d, "_acme-challenge.ns."+testZone); !slices.Equal(v, []string{"v"}) {
		t.Errorf("knot serves %q, want [v]", v)
	}
}
