// Package docs_test checks what the administrator's pages in docs/ tell
// administrators to copy: every nftables ruleset must load as printed.
package docs_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ftpsd/internal/testenv"
)

// block is one fenced code block of a page.
type block struct {
	page string
	line int    // of the opening fence
	lang string // the fence's info string
	text string
}

// codeBlocks returns the fenced code blocks of the Markdown pages.
func codeBlocks(t *testing.T, pages ...string) []block {
	t.Helper()
	var blocks []block
	for _, page := range pages {
		f, err := os.Open(page)
		if err != nil {
			t.Fatalf("open %s: %v", page, err)
		}
		sc := bufio.NewScanner(f)
		var cur *block
		var text strings.Builder
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			fence := strings.HasPrefix(strings.TrimSpace(line), "```")
			switch {
			case fence && cur == nil:
				cur = &block{page: page, line: n, lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```"))}
				text.Reset()
			case fence:
				cur.text = text.String()
				blocks = append(blocks, *cur)
				cur = nil
			case cur != nil:
				text.WriteString(line + "\n")
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", page, err)
		}
		if cur != nil {
			t.Fatalf("%s:%d: code block never closed", page, cur.line)
		}
	}
	return blocks
}

// nftInputPreamble is the table Debian's /etc/nftables.conf defines, which
// the "nft add rule inet filter input ..." lines the pages print (those
// `ftpsd check` prints) add to.
const nftInputPreamble = "add table inet filter\nadd chain inet filter input { type filter hook input priority filter; }\n"

// nftChecks returns what nft must accept: each ```nft block, and each
// page's "nft add rule ..." command lines (in a ```sh block) as one batch
// after nftInputPreamble. A block that starts "table " and is not marked
// nft fails the test, so that no ruleset escapes the check.
func nftChecks(t *testing.T, blocks []block) map[string]string {
	t.Helper()
	checks := map[string]string{}
	for _, b := range blocks {
		where := b.page + ":" + strconv.Itoa(b.line)
		switch {
		case b.lang == "nft":
			checks[where] = b.text
		case strings.HasPrefix(strings.TrimSpace(b.text), "table "):
			t.Errorf("%s: a ruleset in a code block not marked nft", where)
		case b.lang == "sh":
			var cmds strings.Builder
			for _, l := range strings.Split(b.text, "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "nft "); ok {
					cmds.WriteString(rest + "\n")
				}
			}
			if cmds.Len() > 0 {
				checks[where] = nftInputPreamble + cmds.String()
			}
		}
	}
	return checks
}

// TestNftRulesetsLoad has nft check (nft -c -f: parsed and validated by
// the kernel, never committed) every ruleset and nft command the pages
// print, as printed.
func TestNftRulesetsLoad(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	checks := nftChecks(t, codeBlocks(t, append(pages, "../README.md")...))
	for _, want := range []string{"firewall.md", "cluster.md"} {
		found := false
		for where := range checks {
			found = found || strings.HasPrefix(where, want+":")
		}
		if !found {
			t.Errorf("no nft ruleset found in %s", want)
		}
	}
	nft := testenv.NeedTool(t, "nft", "nftables")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "nft -c needs root (euid %d) to check rulesets with the kernel; package nftables", os.Geteuid())
	}
	for where, ruleset := range checks {
		file := filepath.Join(t.TempDir(), "ruleset.nft")
		if err := os.WriteFile(file, []byte(ruleset), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(nft, "-c", "-f", file).CombinedOutput()
		if err != nil {
			t.Errorf("%s: nft -c -f refuses the ruleset: %v\n%s\nruleset:\n%s", where, err, out, ruleset)
		}
	}
}
