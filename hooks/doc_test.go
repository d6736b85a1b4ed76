package hooks

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/testenv"
)

// TestDocVerifierAcceptsSignature runs the receiver's check that
// docs/hooks.md gives (Python) on requests signed as a webhook signs
// them: it accepts a good one and refuses a changed body, another key
// and an old timestamp.
func TestDocVerifierAcceptsSignature(t *testing.T) {
	python := testenv.NeedTool(t, "python3", "python3")
	raw, err := os.ReadFile("../docs/hooks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "```python\n")
	snippet, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/hooks.md has no python block")
	}
	m, err := newMessage(record{ID: "0123", Event: uploadEvent("/in/a b.csv")})
	if err != nil {
		t.Fatal(err)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	type tryCase struct {
		Secret, Timestamp, Signature, Body string
		Want                               bool
	}
	body := string(m.body)
	cases := []tryCase{
		{"key", now, Sign([]byte("key"), now, m.body), body, true},
		{"key", now, Sign([]byte("key"), now, m.body), strings.Replace(body, "acme-bank", "acme-bonk", 1), false},
		{"other", now, Sign([]byte("key"), now, m.body), body, false},
		{"key", old, Sign([]byte("key"), old, m.body), body, false},
	}
	in, _ := json.Marshal(cases)
	driver := snippet + `
import json, sys
for c in json.load(sys.stdin):
    print(verify(c["Secret"].encode(), c["Timestamp"], c["Signature"], c["Body"].encode()) == c["Want"])
`
	cmd := exec.Command(python, "-c", driver)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != len(cases) || strings.Contains(string(out), "False") {
		t.Errorf("the documented check disagrees with the signature (True: as expected):\n%s", out)
	}
}
