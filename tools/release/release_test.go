package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/testenv"
)

// TestVersionScheme checks the versions derived from git, and how dpkg
// orders them: each build after the one before, the untagged builds
// before the first release.
func TestVersionScheme(t *testing.T) {
	for _, tc := range []struct {
		described string
		count     int
		dirty     bool
		want      string
	}{
		{"", 480, false, "0.1.0-dev.480+g846f209abcde"},
		{"", 480, true, "0.1.0-dev.480+g846f209abcde.dirty"},
		{"v1.2.0-0-g846f209abcde", 500, false, "1.2.0"},
		{"v1.2.0-0-g846f209abcde", 500, true, "1.2.0+0.g846f209abcde.dirty"},
		{"v1.2.0-5-g846f209abcde", 505, false, "1.2.0+5.g846f209abcde"},
		{"v2.0.0-rc.1-3-g846f209abcde", 505, false, "2.0.0-rc.1+3.g846f209abcde"},
	} {
		got, err := versionFrom(tc.described, tc.count, "846f209abcde", tc.dirty)
		if err != nil || got != tc.want {
			t.Errorf("versionFrom(%q, %d, dirty %v) = %q, %v; want %q", tc.described, tc.count, tc.dirty, got, err, tc.want)
		}
		if !semver.MatchString(got) {
			t.Errorf("%q is not a semantic version", got)
		}
	}
	if _, err := versionFrom("release-1", 1, "846f209abcde", false); err == nil {
		t.Error("a tag that is not vMAJOR.MINOR.PATCH was accepted")
	}

	dpkg := testenv.NeedTool(t, "dpkg", "dpkg") // under CI=true a missing dpkg fails
	ordered := []string{"0.1.0-dev.9+gaaaaaaaaaaaa", "0.1.0-dev.10+gbbbbbbbbbbbb", "0.1.0", "0.1.0+1.gcccccccccccc", "0.1.0+10.gdddddddddddd", "0.1.1-rc.1", "0.1.1"}
	for i := 1; i < len(ordered); i++ {
		a, b := debVersion(ordered[i-1]), debVersion(ordered[i])
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", a, b)
		}
	}
}

// TestConfigManPageHasEveryKey checks that ftpsd.toml(5), made from
// docs/configuration.md, has every key of every table there, whatever
// rows the document holds, and that groff reads it without a warning.
func TestConfigManPageHasEveryKey(t *testing.T) {
	md, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	page, err := configPage(string(md), "1.2.0", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)`").FindAllStringSubmatch(string(md), -1)
	if len(rows) < 50 {
		t.Fatalf("only %d table rows found in docs/configuration.md", len(rows))
	}
	for _, r := range rows {
		key := strings.ReplaceAll(r[1], "-", `\-`)
		if !strings.Contains(page, ".TP\n\\fB"+key+"\\fR") {
			t.Errorf("ftpsd.toml(5) has no entry for %s", r[1])
		}
	}
	for _, h := range regexp.MustCompile("(?m)^## (.+)$").FindAllStringSubmatch(string(md), -1) {
		if !strings.Contains(page, ".SS "+roffText(h[1])+"\n") {
			t.Errorf("ftpsd.toml(5) has no section %s", h[1])
		}
	}
	checkGroff(t, page)
}

// TestDaemonManPageHasEveryCommand checks that ftpsd(8) lists every
// command of the usage text of cmd/ftpsd.
func TestDaemonManPageHasEveryCommand(t *testing.T) {
	src, err := os.ReadFile("../../cmd/ftpsd/run.go")
	if err != nil {
		t.Fatal(err)
	}
	usage, err := usageText(src)
	if err != nil {
		t.Fatal(err)
	}
	page := daemonPage(usage, "1.2.0", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	for _, cmd := range []string{"serve", "check", "rules", "hash\\-password", "health", "probe", "version"} {
		if !strings.Contains(page, "ftpsd "+cmd) && !strings.Contains(page, "ftpsd ["+cmd+"]") {
			t.Errorf("ftpsd(8) does not list the command %s", cmd)
		}
	}
	checkGroff(t, page)
}

// checkGroff renders a page with groff's warnings on, as lintian does,
// when groff is installed.
func checkGroff(t *testing.T, page string) {
	t.Helper()
	groff, err := exec.LookPath("groff")
	if err != nil || testing.Short() {
		return
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}

// TestMaintainerScriptsParse checks the shell syntax of the packages'
// maintainer scripts (the package test runs the .deb's).
func TestMaintainerScriptsParse(t *testing.T) {
	for _, name := range []string{"deb/postinst", "deb/prerm", "deb/postrm", "rpm/post", "rpm/preun", "rpm/postun"} {
		path := "../../packaging/" + name
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", name)
		}
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
}

// TestPackageUnit checks that the package's unit is the repository's,
// with the packaged binary's path in ExecStartPre= and ExecStart=.
func TestPackageUnit(t *testing.T) {
	raw, err := os.ReadFile("../../systemd/ftpsd.service")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := packageUnit(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"ExecStartPre=/usr/bin/ftpsd check -quiet -offline -config /etc/ftpsd/ftpsd.toml\n",
		"ExecStart=/usr/bin/ftpsd serve -config /etc/ftpsd/ftpsd.toml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"Documentation=man:ftpsd(8) man:ftpsd.toml(5)\n",
	} {
		if !strings.Contains(unit, line) {
			t.Errorf("the package's unit has no line %q", line)
		}
	}
	if strings.Contains(unit, unitBinary) {
		t.Errorf("the package's unit still names %s", unitBinary)
	}
	if _, err := packageUnit(strings.ReplaceAll(string(raw), "ExecStartPre=", "#ExecStartPre=")); err == nil {
		t.Error("a unit without ExecStartPre= check was accepted")
	}
}
