package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"ftpsd/refusal"
)

// opsDoc holds the administrator's table of the series /metrics serves.
const opsDoc = "../docs/operations.md"

// TestOperationsDocNamesEverySeries fails when a series ftpsd registers,
// or a reason of ftpsd_connections_refused_total, is missing from the
// metrics table of docs/operations.md, or the table names a series that
// does not exist.
func TestOperationsDocNamesEverySeries(t *testing.T) {
	raw, err := os.ReadFile(opsDoc)
	if err != nil {
		t.Fatalf("read the operations page: %v", err)
	}
	doc := string(raw)

	m := New()
	zero := func() int { return 0 }
	m.RegisterGauges(Gauges{
		SessionsOpen: zero, Unauthenticated: zero, BannedAddresses: zero,
		PassiveCapacity: zero, PassiveInUse: zero, PassiveWaiting: zero,
		PassiveExhaustions: func() uint64 { return 0 }, UploadMemory: zero,
		Quotas: func() []AccountQuota { return []AccountQuota{{User: "u", BytesLimit: 1, FilesLimit: 1}} },
	})
	m.RegisterCertificateExpiry(time.Now)
	m.RegisterBuildInfo("0.1.0", "846f209", "go1.26.8")
	m.RegisterACMERenewals()
	// Labelled series appear once they have a value.
	m.Login(ResultOK)
	m.Transfer(Upload, ResultOK, 1)
	for _, r := range refusal.Reasons() {
		m.ConnectionRefused(r)
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "ftpsd_") {
			continue
		}
		registered[name] = true
		if !regexp.MustCompile("`" + name + "[`{]").MatchString(doc) {
			t.Errorf("series %s is served but not in %s", name, opsDoc)
		}
	}
	if len(registered) == 0 {
		t.Fatal("no ftpsd_ series registered")
	}
	for _, name := range regexp.MustCompile("`(ftpsd_[a-z_]+)").FindAllStringSubmatch(doc, -1) {
		if !registered[name[1]] {
			t.Errorf("%s names series %s, which ftpsd does not serve", opsDoc, name[1])
		}
	}
	row := regexp.MustCompile("(?m)^\\| `ftpsd_connections_refused_total\\{reason\\}` \\|.*$").FindString(doc)
	if row == "" {
		t.Fatalf("%s has no row for ftpsd_connections_refused_total{reason}", opsDoc)
	}
	for _, r := range refusal.Reasons() {
		if !strings.Contains(row, "`"+r+"`") {
			t.Errorf("the row of ftpsd_connections_refused_total in %s lacks the reason %s", opsDoc, r)
		}
	}
}
