package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// TestVersionLine checks the line "ftpsd version" prints from build
// information, with and without the VCS state Go stamps into a binary.
func TestVersionLine(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "ftpsd", Version: "v0.0.0-20261207140907-00e9ee31f425+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "00e9ee31f425052124cd7e26575f70b6f2d1c46f"},
			{Key: "vcs.time", Value: "2026-12-07T14:09:07Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	unstamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "ftpsd", Version: "(devel)"}}
	tagged := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "ftpsd", Version: "v1.2.0"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "00e9ee31f425052124cd7e26575f70b6f2d1c46f"}},
	}
	for _, tc := range []struct {
		name       string
		info       *debug.BuildInfo
		line, logs string
	}{
		{"tag", tagged,
			"v1.2.0 vcs.revision=00e9ee31f425052124cd7e26575f70b6f2d1c46f go1.26.8",
			"v1.2.0 00e9ee31f425"},
		{"git checkout", stamped,
			"v0.0.0-20261207140907-00e9ee31f425+dirty vcs.revision=00e9ee31f425052124cd7e26575f70b6f2d1c46f vcs.time=2026-12-07T14:09:07Z vcs.modified=true go1.26.8",
			"v0.0.0-20261207140907-00e9ee31f425+dirty"},
		{"no VCS information", unstamped,
			"(devel) (no VCS information: built by go run, with -buildvcs=false or outside a git checkout) go1.26.8",
			"(devel)"},
		{"no build information", nil, "unknown (no build information)", "unknown"},
	} {
		v := stampedVersion(versionOf(tc.info), "", "", "")
		if got := v.String(); got != tc.line {
			t.Errorf("%s: version line\n %q, want\n %q", tc.name, got, tc.line)
		}
		if got := v.short(); got != tc.logs {
			t.Errorf("%s: logged version %q, want %q", tc.name, got, tc.logs)
		}
	}
}

// TestVersionStamped checks that the version, commit and date the release
// build stamps with -ldflags -X replace what Go recorded, whatever that was.
func TestVersionStamped(t *testing.T) {
	const rev = "846f209abcde0123456789abcdef0123456789ab"
	for _, info := range []*debug.BuildInfo{
		{GoVersion: "go1.26.8", Main: debug.Module{Path: "ftpsd", Version: "(devel)"}},
		{GoVersion: "go1.26.8", Main: debug.Module{Path: "ftpsd", Version: "v0.0.0-20261207140907-00e9ee31f425+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "00e9ee31f425052124cd7e26575f70b6f2d1c46f"}, {Key: "vcs.modified", Value: "true"}}},
	} {
		v := stampedVersion(versionOf(info), "0.1.0-dev.42+g846f209abcde", rev, "2026-12-07T18:00:00Z")
		want := "0.1.0-dev.42+g846f209abcde commit=" + rev + " date=2026-12-07T18:00:00Z go1.26.8"
		if got := v.String(); got != want {
			t.Errorf("stamped over %s: version line\n %q, want\n %q", info.Main.Version, got, want)
		}
		if got := v.short(); got != "0.1.0-dev.42+g846f209abcde" {
			t.Errorf("stamped over %s: logged version %q", info.Main.Version, got)
		}
	}
	v := stampedVersion(versionOf(nil), "1.2.0", rev, "")
	if got, want := v.String(), "1.2.0 commit="+rev+" "+runtime.Version(); got != want {
		t.Errorf("stamped without build information: %q, want %q", got, want)
	}
	if got := v.short(); got != "1.2.0 846f209abcde" {
		t.Errorf("stamped tag: logged version %q, want the tag and the commit", got)
	}
}

// TestVersionGitCheckout builds ftpsd in a git checkout of the sources
// under test (copied, committed) and runs "ftpsd version", "--version" and
// "-version": each prints the module version Go derives from the commit
// and the commit itself, then "modified" once a file changes.
func TestVersionGitCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the sources into a git checkout and builds ftpsd there twice")
	}
	git := testenv.NeedTool(t, "git", "git")
	checkout := copySources(t, git)
	gitIn := ftptest.Cmd{Dir: checkout, Home: t.TempDir()}
	gitIn.MustRun(t, git, "init", "-q")
	gitIn.MustRun(t, git, "add", "-A")
	gitIn.MustRun(t, git, "-c", "user.name=ftpsd test", "-c", "user.email=test@ftpsd.invalid", "commit", "-q", "-m", "sources under test")
	out, _ := gitIn.MustRun(t, git, "rev-parse", "HEAD")
	revision := strings.TrimSpace(out)

	// GOFLAGS overrides any -buildvcs=false of the environment's go env.
	build := ftptest.Cmd{Dir: checkout, Env: []string{"GOFLAGS=-buildvcs=auto"}, Timeout: 5 * time.Minute}
	bin := filepath.Join(t.TempDir(), "ftpsd")
	build.MustRun(t, "go", "build", "-o", bin, "./cmd/ftpsd")
	for _, arg := range []string{"version", "--version", "-version"} {
		line, _ := ftptest.Cmd{}.MustRun(t, bin, arg)
		t.Logf("ftpsd %s: %s", arg, strings.TrimSpace(line))
		for _, want := range []string{"ftpsd v0.0.0-", revision[:12] + " ", "vcs.revision=" + revision + " ", "vcs.time=", "vcs.modified=false"} {
			if !strings.Contains(line, want) {
				t.Errorf("ftpsd %s printed %q, want %q in it", arg, line, want)
			}
		}
	}

	ftptest.WriteFile(t, checkout, "README.md", []byte("changed after the commit\n"))
	build.MustRun(t, "go", "build", "-o", bin, "./cmd/ftpsd")
	line, _ := ftptest.Cmd{}.MustRun(t, bin, "version")
	t.Logf("ftpsd version, modified: %s", strings.TrimSpace(line))
	for _, want := range []string{"+dirty", "vcs.revision=" + revision + " ", "vcs.modified=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("ftpsd version from a modified checkout printed %q, want %q in it", line, want)
		}
	}
}

// copySources copies the repository's files (tracked and untracked but
// not ignored, as they are now) to a new directory and returns it.
func copySources(t *testing.T, git string) string {
	t.Helper()
	top, _ := ftptest.Cmd{}.MustRun(t, git, "rev-parse", "--show-toplevel")
	top = strings.TrimSpace(top)
	list, _ := ftptest.Cmd{Dir: top}.MustRun(t, git, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(list, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(top, name))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		ftptest.WriteFile(t, dst, name, data)
	}
	return dst
}
