package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/podmantest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// The two builds the package test installs one after the other.
const (
	firstVersion  = "0.1.0-test.1"
	secondVersion = "0.1.0-test.2"
)

// TestDebianPackage builds the release twice (two versions), checks the
// artifacts on the host (static binaries of both architectures,
// SHA256SUMS, the same bytes from a rebuild, lintian on the .deb, the
// .rpm's file list), then, in a
// clean Debian 12 container running systemd, installs the first .deb and
// checks what an administrator meets: the version, the account, the file
// modes, the unit verified and enabled but not started, ftpsd check
// failing until a certificate is set, then passing; the service started
// by systemctl serving an upload and a download with curl over FTPS, a
// reload; the upgrade to the second build (config kept, service
// restarted on the new version); removal (config and data kept) and
// purge (config gone, data and account kept).
//
// The container image is a Debian 12 root file system made by debootstrap
// (.ci/run makes it once, into $FTPSD_DEBIAN_IMAGE or
// ~/.cache/ftpsd-debian12.tar), imported with podman import: no image
// registry is needed.
func TestDebianPackage(t *testing.T) {
	p := podmantest.New(t, "Debian package test skipped: set FTPSD_CONTAINER_TEST=1 to build the packages and install them in a Debian 12 container with podman (Debian packages: podman runc lintian rpm debootstrap)")
	lintian := testenv.NeedTool(t, "lintian", "lintian")
	rpm := testenv.NeedTool(t, "rpm", "rpm")
	dpkgDeb := testenv.NeedTool(t, "dpkg-deb", "dpkg")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "the Debian package test runs systemd in a container: it needs root")
	}
	imageTar := debianImage(t)
	t0 := time.Now()

	dist1, dist2 := t.TempDir(), t.TempDir()
	var log bytes.Buffer
	if err := run([]string{"-out", dist1, "-version", firstVersion}, &log, &log); err != nil {
		t.Fatalf("release %s: %v\n%s", firstVersion, err, log.String())
	}
	t.Logf("timing: release %s (amd64, arm64) built in %s", firstVersion, since(t0))
	checkArtifacts(t, dist1)
	t1 := time.Now()
	if err := run([]string{"-out", dist2, "-version", secondVersion, "-arch", "amd64"}, &log, &log); err != nil {
		t.Fatalf("release %s: %v\n%s", secondVersion, err, log.String())
	}
	t.Logf("timing: release %s (amd64) built in %s", secondVersion, since(t1))
	// The same source and version build the same bytes.
	again := t.TempDir()
	if err := run([]string{"-out", again, "-version", firstVersion, "-arch", "amd64"}, &log, &log); err != nil {
		t.Fatalf("release %s again: %v\n%s", firstVersion, err, log.String())
	}
	for _, pattern := range []string{"ftpsd_*_linux_amd64", "ftpsd_*_amd64.deb", "ftpsd-*.x86_64.rpm"} {
		a, _ := fileSHA256(only(t, dist1, pattern))
		b, _ := fileSHA256(only(t, again, pattern))
		if a != b {
			t.Errorf("%s differs between two builds of the same source: %s, %s", pattern, a, b)
		}
	}
	deb := only(t, dist1, "ftpsd_*_amd64.deb")
	runLintian(t, lintian, deb)
	compareRPM(t, rpm, dpkgDeb, deb, only(t, dist1, "ftpsd-*.x86_64.rpm"))

	c := startDebian(t, p, imageTar, dist1, dist2)
	t.Logf("timing: Debian 12 container with systemd up at %s", since(t0))

	// Installation: enabled, not started (no certificate yet).
	out := c.sh("apt-get install -y --no-install-recommends /pkgs/1/ftpsd_*_amd64.deb 2>&1")
	t.Logf("apt-get install:\n%s", lastLines(out, 8))
	if !strings.Contains(out, `does not pass "ftpsd check" yet`) {
		t.Errorf("installation did not say the service waits for a valid configuration:\n%s", out)
	}
	commit := strings.TrimSpace(gitOut(t, "rev-parse", "HEAD"))
	if out := c.sh("ftpsd version"); !strings.HasPrefix(out, "ftpsd "+firstVersion+" commit="+commit+" date=") {
		t.Errorf("ftpsd version printed %q, want the stamped %s and commit %s", out, firstVersion, commit)
	}
	checkAccount(t, c)
	checkModes(t, c, map[string]string{
		"/usr/bin/ftpsd":                           "755 root root",
		"/usr/lib/systemd/system/ftpsd.service":    "644 root root",
		"/usr/lib/sysusers.d/ftpsd.conf":           "644 root root",
		"/usr/lib/tmpfiles.d/ftpsd.conf":           "644 root root",
		"/etc/ftpsd":                               "750 root ftpsd",
		"/etc/ftpsd/ftpsd.toml":                    "640 root ftpsd",
		"/var/lib/ftpsd":                           "700 ftpsd ftpsd",
		"/var/log/ftpsd":                           "750 ftpsd ftpsd",
		"/srv/ftp":                                 "750 ftpsd ftpsd",
		"/usr/share/man/man8/ftpsd.8.gz":           "644 root root",
		"/usr/share/man/man5/ftpsd.toml.5.gz":      "644 root root",
		"/usr/share/doc/ftpsd/copyright":           "644 root root",
		"/usr/share/doc/ftpsd/changelog.Debian.gz": "644 root root",
	})
	if out := c.sh("systemd-analyze verify /usr/lib/systemd/system/ftpsd.service 2>&1"); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify of the installed unit said:\n%s", out)
	}
	if got := c.shStatus("systemctl is-enabled ftpsd"); got != "enabled" {
		t.Errorf("systemctl is-enabled ftpsd: %q after installation, want enabled", got)
	}
	if got := c.shStatus("systemctl is-active ftpsd"); got != "inactive" {
		t.Errorf("systemctl is-active ftpsd: %q before a certificate is set, want inactive", got)
	}
	if out, err := c.run("runuser -u ftpsd -- ftpsd check -config /etc/ftpsd/ftpsd.toml 2>&1"); err == nil || !strings.Contains(out, "/etc/ftpsd/cert.pem") {
		t.Errorf("ftpsd check of the packaged configuration without a certificate: %v, want a failure naming /etc/ftpsd/cert.pem:\n%s", err, out)
	}
	if out := c.sh("man -w ftpsd ftpsd.toml 2>&1 || ls /usr/share/man/man8/ftpsd.8.gz /usr/share/man/man5/ftpsd.toml.5.gz"); !strings.Contains(out, "ftpsd.8.gz") || !strings.Contains(out, "ftpsd.toml.5.gz") {
		t.Errorf("man pages: %s", out)
	}

	// What the administrator does: a certificate, an account, and (for
	// the test) loopback addresses and the metrics endpoint.
	password := hex.EncodeToString(ftptest.RandomData(t, 8))
	work := c.work
	testcert.SelfSigned(t, "localhost").Write(t, work)
	data := ftptest.RandomData(t, 3<<20+17)
	ftptest.WriteFile(t, work, "data.bin", data)
	ftptest.WriteFile(t, work, "admin.toml", []byte(fmt.Sprintf(
		"\n[[users]]\nname = \"alice\"\npassword_hash = %q\nhome = \"alice\"\n\n[metrics]\nlisten = \"127.0.0.1:9121\"\n",
		ftptest.HashPassword(t, password))))
	c.sh(`install -m 0640 -g ftpsd /work/cert.pem /etc/ftpsd/cert.pem && install -m 0640 -g ftpsd /work/key.pem /etc/ftpsd/key.pem &&
sed -i 's/^listen = "0.0.0.0:21"$/listen = "127.0.0.1:2121"/' /etc/ftpsd/ftpsd.toml && cat /work/admin.toml >> /etc/ftpsd/ftpsd.toml &&
grep -q '^listen = "127.0.0.1:2121"$' /etc/ftpsd/ftpsd.toml`)
	c.sh("runuser -u ftpsd -- ftpsd check -config /etc/ftpsd/ftpsd.toml >/dev/null")
	edited := c.sh("sha256sum /etc/ftpsd/ftpsd.toml")

	c.sh("systemctl start ftpsd")
	c.waitActive(firstVersion)
	want := sha256.Sum256(data)
	curl := "curl -sS --ssl-reqd -k --user alice:" + password + " "
	c.sh(curl + "-T /work/data.bin ftp://127.0.0.1:2121/data.bin")
	c.sh(curl + "-o /tmp/down.bin ftp://127.0.0.1:2121/data.bin")
	for _, f := range []string{"/tmp/down.bin", "/srv/ftp/alice/data.bin"} {
		if got := strings.Fields(c.sh("sha256sum " + f))[0]; got != hex.EncodeToString(want[:]) {
			t.Errorf("%s: sha256 %s, want %x (the uploaded file)", f, got, want)
		}
	}
	if owner := c.sh("stat -c %U:%G /srv/ftp/alice/data.bin"); owner != "ftpsd:ftpsd\n" {
		t.Errorf("the uploaded file belongs to %q, want the service's account", owner)
	}
	t.Logf("timing: served an upload and a download over FTPS at %s", since(t0))

	// systemctl reload: SIGHUP, the same process.
	pid := c.sh("systemctl show -p MainPID --value ftpsd")
	c.sh("systemctl reload ftpsd")
	if !ftptest.Eventually(10*time.Second, func() bool {
		out, _ := c.run("journalctl -u ftpsd --no-pager -o cat | grep -c 'configuration reloaded'")
		return strings.TrimSpace(out) == "1"
	}) {
		t.Errorf("systemctl reload: no \"configuration reloaded\" in the journal:\n%s", c.journal())
	}
	if after := c.sh("systemctl show -p MainPID --value ftpsd"); after != pid {
		t.Errorf("systemctl reload changed the main process from %s to %s", pid, after)
	}

	// Upgrade: the configuration stays, the service runs the new build.
	out = c.sh("apt-get install -y --no-install-recommends /pkgs/2/ftpsd_*_amd64.deb 2>&1")
	t.Logf("apt-get install (upgrade):\n%s", lastLines(out, 6))
	if out := c.sh("ftpsd version"); !strings.HasPrefix(out, "ftpsd "+secondVersion+" ") {
		t.Errorf("after the upgrade ftpsd version printed %q, want %s", out, secondVersion)
	}
	if got := c.sh("sha256sum /etc/ftpsd/ftpsd.toml"); got != edited {
		t.Errorf("the upgrade changed the edited configuration: %s, was %s", got, edited)
	}
	if out := c.sh("ls /etc/ftpsd"); strings.Contains(out, "dpkg-") {
		t.Errorf("the upgrade left %s", out)
	}
	c.waitActive(secondVersion)
	if after := c.sh("systemctl show -p MainPID --value ftpsd"); after == pid {
		t.Errorf("the upgrade did not restart the service (main process %s)", strings.TrimSpace(pid))
	}
	c.sh(curl + "-o /tmp/down2.bin ftp://127.0.0.1:2121/data.bin && cmp /tmp/down2.bin /work/data.bin")
	checkModes(t, c, map[string]string{"/etc/ftpsd": "750 root ftpsd", "/etc/ftpsd/ftpsd.toml": "640 root ftpsd"})

	// Removal keeps the configuration and the data; purge the data only.
	c.sh("apt-get remove -y ftpsd >/dev/null 2>&1")
	if got := c.shStatus("systemctl is-active ftpsd"); got != "inactive" {
		t.Errorf("after removal the service is %q, want inactive", got)
	}
	if _, err := c.run("test -e /usr/bin/ftpsd"); err == nil {
		t.Error("after removal /usr/bin/ftpsd is still there")
	}
	if got, _ := c.run("sha256sum /etc/ftpsd/ftpsd.toml"); got != edited {
		t.Errorf("removal did not keep the configuration: %q", got)
	}
	c.sh("test -d /var/lib/ftpsd && test -f /etc/ftpsd/key.pem && cmp /srv/ftp/alice/data.bin /work/data.bin && getent passwd ftpsd >/dev/null")
	c.sh("apt-get purge -y ftpsd >/dev/null 2>&1")
	for _, gone := range []string{"/etc/ftpsd", "/var/lib/ftpsd", "/var/log/ftpsd"} {
		if _, err := c.run("test -e " + gone); err == nil {
			t.Errorf("after purge %s is still there", gone)
		}
	}
	c.sh("cmp /srv/ftp/alice/data.bin /work/data.bin && getent passwd ftpsd >/dev/null")
	if out, err := c.run("dpkg-query -W -f '${Status}' ftpsd 2>&1"); err == nil && !strings.Contains(out, "not-installed") {
		t.Errorf("after purge dpkg still knows ftpsd: %s", out)
	}
	t.Logf("timing: package test done in %s", since(t0))
}

// debianImage returns the Debian 12 root file system archive the test
// imports, or skips (fails under CI=true) when it is missing.
func debianImage(t *testing.T) string {
	t.Helper()
	path := os.Getenv("FTPSD_DEBIAN_IMAGE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(home, ".cache", "ftpsd-debian12.tar")
	}
	if _, err := os.Stat(path); err != nil {
		testenv.Unavailable(t, "the Debian 12 image %s is missing (%v): .ci/run makes it with debootstrap, or set FTPSD_DEBIAN_IMAGE", path, err)
	}
	return path
}

// checkArtifacts checks the artifacts of a release for both
// architectures: static binaries of the right machine, and SHA256SUMS
// naming every artifact with its digest.
func checkArtifacts(t *testing.T, dist string) {
	t.Helper()
	for goarch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := only(t, dist, "ftpsd_*_linux_"+goarch)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		libs, _ := f.ImportedLibraries()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", bin)
			}
		}
		if f.Machine != machine || len(libs) > 0 {
			t.Errorf("%s: machine %s, libraries %v; want %s, none", bin, f.Machine, libs, machine)
		}
		_ = f.Close()
		only(t, dist, "ftpsd_*_"+goarch+".deb")
	}
	only(t, dist, "ftpsd-*.aarch64.rpm")
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dist)
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		got, err := fileSHA256(filepath.Join(dist, name))
		if err != nil || got != sum {
			t.Errorf("SHA256SUMS: %s is %s, file %s (%v)", name, sum, got, err)
		}
		listed[name] = true
	}
	for _, e := range entries {
		if !listed[e.Name()] && e.Name() != "SHA256SUMS" {
			t.Errorf("SHA256SUMS does not list %s", e.Name())
		}
	}
	if len(listed) != 6 {
		t.Errorf("SHA256SUMS lists %d artifacts, want 6 (2 binaries, 2 .deb, 2 .rpm):\n%s", len(listed), sums)
	}
}

// runLintian runs lintian on deb: errors fail the test; everything it
// says, overridden tags too, is logged.
func runLintian(t *testing.T, lintian, deb string) {
	t.Helper()
	start := time.Now()
	out, errOut, err := ftptest.Cmd{Timeout: 5 * time.Minute}.Run(lintian, "--pedantic", "--show-overrides", deb)
	t.Logf("lintian (%s):\n%s%s", since(start), out, errOut)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian error: %s", line)
		}
	}
	// With --show-overrides lintian exits 2 for an overridden error too
	// (the override is then the tag's "O:" line, not an "E:" one).
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 2) {
		t.Errorf("lintian: %v", err)
	}
}

// compareRPM checks that the .rpm installs the files the .deb installs,
// but for Debian's own (changelog.Debian.gz, the lintian overrides).
func compareRPM(t *testing.T, rpm, dpkgDeb, deb, rpmFile string) {
	t.Helper()
	debOut, _, err := ftptest.Cmd{}.Run(dpkgDeb, "--fsys-tarfile", deb)
	if err != nil {
		t.Fatalf("dpkg-deb: %v", err)
	}
	var debFiles []string
	for _, name := range tarFiles(t, debOut) {
		if !strings.HasSuffix(name, "/changelog.Debian.gz") && !strings.HasPrefix(name, "/usr/share/lintian/") {
			debFiles = append(debFiles, name)
		}
	}
	out, errOut, err := ftptest.Cmd{}.Run(rpm, "-qp", "--qf", "[%{FILENAMES} %{FILEMODES:perms}\n]", rpmFile)
	if err != nil {
		t.Fatalf("rpm -qp: %v\n%s", err, errOut)
	}
	var rpmFiles []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, perms, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(perms, "d") {
			rpmFiles = append(rpmFiles, name)
		}
	}
	slices.Sort(debFiles)
	slices.Sort(rpmFiles)
	if !slices.Equal(debFiles, rpmFiles) {
		t.Errorf("the .rpm's files\n %v\ndiffer from the .deb's\n %v", rpmFiles, debFiles)
	}
	version, _, _ := ftptest.Cmd{}.Run(rpm, "-qp", "--qf", "%{VERSION}-%{RELEASE}", rpmFile)
	t.Logf(".rpm %s: %d files, the same as the .deb's", version, len(rpmFiles))
	if config, _, _ := (ftptest.Cmd{}).Run(rpm, "-qpc", rpmFile); strings.TrimSpace(config) != configPath {
		t.Errorf("the .rpm's configuration files: %q, want %s", config, configPath)
	}
}

// debian is a Debian 12 container running systemd.
type debian struct {
	t    *testing.T
	p    *podmantest.Podman
	name string
	work string // the host directory mounted read-only at /work
}

// startDebian imports the image, starts its systemd with the two
// releases at /pkgs/1 and /pkgs/2 and a work directory at /work, and
// waits until systemd has booted.
func startDebian(t *testing.T, p *podmantest.Podman, imageTar, dist1, dist2 string) *debian {
	t.Helper()
	suffix := fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(ftptest.RandomData(t, 4)))
	image := "localhost/ftpsd-debian12-test:" + suffix
	start := time.Now()
	p.MustRun(5*time.Minute, "import", imageTar, image)
	t.Cleanup(func() { _, _ = p.Run(time.Minute, "rmi", "--force", image) })
	t.Logf("timing: Debian 12 image imported in %s", since(start))
	c := &debian{t: t, p: p, name: "ftpsd-debian12-" + suffix, work: t.TempDir()}
	p.MustRun(time.Minute, "run", "-d", "--name", c.name, "--systemd=always", "--network", "none",
		"-v", dist1+":/pkgs/1:ro", "-v", dist2+":/pkgs/2:ro", "-v", c.work+":/work:ro", image, "/sbin/init")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journal of ftpsd:\n%s", lastLines(c.journal(), 40))
		}
		_, _ = p.Run(time.Minute, "rm", "--force", "--time", "0", c.name)
	})
	var state string
	if !ftptest.Eventually(time.Minute, func() bool {
		state, _ = c.run("systemctl is-system-running")
		state = strings.TrimSpace(state)
		return state == "running" || state == "degraded"
	}) {
		t.Fatalf("systemd in the container did not boot: %q", state)
	}
	if state == "degraded" {
		out, _ := c.run("systemctl --failed --no-pager")
		t.Logf("systemd in the container is degraded (units of the image, not ftpsd):\n%s", out)
	}
	return c
}

// run runs a shell script in the container and returns its output.
func (c *debian) run(script string) (string, error) {
	return c.p.Run(2*time.Minute, "exec", c.name, "sh", "-c", script)
}

// sh runs a shell script in the container, which must succeed, and
// returns its standard output.
func (c *debian) sh(script string) string {
	c.t.Helper()
	return c.p.MustRun(2*time.Minute, "exec", c.name, "sh", "-c", script)
}

// shStatus runs a command that prints one word whatever its exit status
// (systemctl is-active, is-enabled) and returns the word.
func (c *debian) shStatus(script string) string {
	out, _ := c.p.Run(time.Minute, "exec", c.name, "sh", "-c", script)
	return strings.TrimSpace(out)
}

func (c *debian) journal() string {
	out, _ := c.run("journalctl -u ftpsd --no-pager -o cat")
	return out
}

// waitActive waits until the service runs version: active, and its
// metrics name the version.
func (c *debian) waitActive(version string) {
	c.t.Helper()
	want := fmt.Sprintf(`ftpsd_build_info{commit="%s",go_version=`, strings.TrimSpace(gitOut(c.t, "rev-parse", "HEAD")))
	var metrics string
	if !ftptest.Eventually(30*time.Second, func() bool {
		metrics, _ = c.run("curl -sS http://127.0.0.1:9121/metrics | grep '^ftpsd_build_info'")
		return strings.HasPrefix(metrics, want) && strings.Contains(metrics, `version="`+version+`"} 1`)
	}) {
		c.t.Fatalf("the service does not serve version %s: %q, systemctl: %s\n%s", version, metrics,
			c.shStatus("systemctl is-active ftpsd"), lastLines(c.journal(), 30))
	}
}

// checkAccount checks the system account the package made.
func checkAccount(t *testing.T, c *debian) {
	t.Helper()
	f := strings.Split(strings.TrimSpace(c.sh("getent passwd ftpsd")), ":")
	if len(f) != 7 || f[5] != "/srv/ftp" || f[6] != "/usr/sbin/nologin" || len(f[2]) > 3 {
		t.Errorf("account ftpsd: %q, want a system account (uid below 1000), home /srv/ftp, shell /usr/sbin/nologin", f)
	}
	if out := c.sh("id -gn ftpsd"); out != "ftpsd\n" {
		t.Errorf("primary group of ftpsd: %q", out)
	}
}

// checkModes compares each path's mode, owner and group with want.
func checkModes(t *testing.T, c *debian, want map[string]string) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out := c.sh("stat -c '%n %a %U %G' " + strings.Join(paths, " "))
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, got, _ := strings.Cut(line, " ")
		if got != want[name] {
			t.Errorf("%s: %s, want %s", name, got, want[name])
		}
	}
}

// only returns the one file of dir matching pattern.
func only(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v, want one file", pattern, dir, m)
	}
	return m[0]
}

func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := ftptest.Cmd{}.MustRun(t, "git", args...)
	return out
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// tarFiles lists the regular files of a tar archive as absolute paths.
func tarFiles(t *testing.T, archive string) []string {
	t.Helper()
	var names []string
	r := tar.NewReader(strings.NewReader(archive))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("reading the .deb's files: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, strings.TrimPrefix(h.Name, "."))
		}
	}
}
