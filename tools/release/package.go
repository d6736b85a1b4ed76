package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the "rpm" packager
)

// Where the package puts ftpsd's files.
const (
	binPath    = "/usr/bin/ftpsd"
	unitPath   = "/usr/lib/systemd/system/ftpsd.service"
	configPath = "/etc/ftpsd/ftpsd.toml"
	docDir     = "/usr/share/doc/ftpsd"
)

// unitBinary is where systemd/ftpsd.service expects a binary installed by
// hand; the package's copy of the unit names binPath instead.
const unitBinary = "/usr/local/bin/ftpsd"

// packageUnit returns the unit the package installs: the repository's
// hardened unit with the packaged binary's path and the manual pages.
func packageUnit(unit string) (string, error) {
	if !regexp.MustCompile(`(?m)^ExecStart=`+unitBinary+` `).MatchString(unit) ||
		!regexp.MustCompile(`(?m)^ExecStartPre=`+unitBinary+` check `).MatchString(unit) {
		return "", fmt.Errorf("systemd/ftpsd.service: no ExecStart= and ExecStartPre=%s check", unitBinary)
	}
	unit = strings.ReplaceAll(unit, unitBinary, binPath)
	// The package installs the manual pages too.
	return strings.Replace(unit, "\nDocumentation=", "\nDocumentation=man:ftpsd(8) man:ftpsd.toml(5)\nDocumentation=", 1), nil
}

// staged are the files a package is made of, in a staging directory: the
// binary of its architecture and the generated files shared by all.
type staged struct {
	root   string // the repository
	dir    string // the staging directory
	binary string // the ftpsd binary
}

// generated are the files made for the packages, by name in the staging
// directory.
const (
	stagedUnit      = "ftpsd.service"
	stagedDaemonMan = "ftpsd.8.gz"
	stagedConfigMan = "ftpsd.toml.5.gz"
	stagedChangelog = "changelog.Debian.gz"
)

// stage writes the generated files into dir.
func stage(root, dir string, src source, maintainer string) error {
	read := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(root, name))
		return string(data), err
	}
	unit, err := read("systemd/ftpsd.service")
	if err != nil {
		return err
	}
	if unit, err = packageUnit(unit); err != nil {
		return err
	}
	configurationMD, err := read("docs/configuration.md")
	if err != nil {
		return err
	}
	configMan, err := configPage(configurationMD, src.version, src.date)
	if err != nil {
		return err
	}
	runGo, err := read("cmd/ftpsd/run.go")
	if err != nil {
		return err
	}
	usage, err := usageText([]byte(runGo))
	if err != nil {
		return fmt.Errorf("cmd/ftpsd/run.go: %w", err)
	}
	for _, f := range []struct {
		name, text string
		gzip       bool
	}{
		{stagedUnit, unit, false},
		{stagedDaemonMan, daemonPage(usage, src.version, src.date), true},
		{stagedConfigMan, configMan, true},
		{stagedChangelog, debianChangelog(src, maintainer), true},
	} {
		data := []byte(f.text)
		if f.gzip {
			if data, err = gzipped(data); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// debianChangelog is the package's changelog.Debian: one entry per
// release build, naming the commit (the project's history is git's).
func debianChangelog(src source, maintainer string) string {
	commit := src.commit
	if commit == "" {
		commit = "(not a git checkout)"
	}
	return fmt.Sprintf("ftpsd (%s) unstable; urgency=medium\n\n  * Release build of commit %s.\n\n -- %s  %s\n",
		debVersion(src.version), commit, maintainer, src.date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// debianRevision is the Debian revision of every package of a release.
const debianRevision = "1"

// debVersion is the package version dpkg sees for a release version: the
// prerelease after "~", so that it sorts before the release, and the
// Debian revision.
func debVersion(v string) string {
	core, meta, hasMeta := strings.Cut(v, "+")
	core = strings.Replace(core, "-", "~", 1)
	if hasMeta {
		core += "+" + meta
	}
	return core + "-" + debianRevision
}

// packageInfo describes the ftpsd package of one architecture for one
// format ("deb" or "rpm").
func packageInfo(s staged, format, goarch string, src source, maintainer string) *nfpm.Info {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	repo := func(name string) string { return filepath.Join(s.root, name) }
	gen := func(name string) string { return filepath.Join(s.dir, name) }
	contents := files.Contents{
		file(s.binary, binPath, 0o755),
		file(gen(stagedUnit), unitPath, 0o644),
		file(repo("systemd/ftpsd.sysusers"), "/usr/lib/sysusers.d/ftpsd.conf", 0o644),
		file(repo("packaging/tmpfiles.conf"), "/usr/lib/tmpfiles.d/ftpsd.conf", 0o644),
		// root:root in the archive (the group does not exist yet when it
		// is unpacked); postinst gives both to the group ftpsd.
		{Destination: "/etc/ftpsd", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
		{Source: repo("packaging/ftpsd.toml"), Destination: configPath, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o640}},
		file(gen(stagedDaemonMan), "/usr/share/man/man8/ftpsd.8.gz", 0o644),
		file(gen(stagedConfigMan), "/usr/share/man/man5/ftpsd.toml.5.gz", 0o644),
		file(repo("packaging/copyright"), docDir+"/copyright", 0o644),
		file(repo("README.md"), docDir+"/README.md", 0o644),
		file(repo("config.example.toml"), docDir+"/examples/config.example.toml", 0o644),
	}
	if docs, err := filepath.Glob(repo("docs/*.md")); err == nil {
		for _, d := range docs {
			contents = append(contents, file(d, docDir+"/docs/"+filepath.Base(d), 0o644))
		}
	}
	info := &nfpm.Info{
		Name:        "ftpsd",
		Arch:        goarch,
		Platform:    "linux",
		Version:     src.version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  maintainer,
		Description: "FTPS server for hosts behind stateful firewalls\nftpsd serves files over FTPS (explicit and implicit TLS) to accounts\nconfined to their homes. It keeps data connections inside the passive\nport range opened on the firewall and can clear the control channel\nafter login so that a firewall's FTP inspection keeps working while\nevery transfer stays encrypted.",
		License:     "none stated",
		MTime:       src.date,
		Overridables: nfpm.Overridables{
			// The unit's ExecReload= runs /bin/kill. Nothing else: the
			// binary is static, and the maintainer scripts use what a
			// system has (systemd-sysusers, else useradd).
			Depends:    []string{"procps"},
			Recommends: []string{"systemd"},
		},
	}
	switch format {
	case "deb":
		contents = append(contents,
			file(gen(stagedChangelog), docDir+"/changelog.Debian.gz", 0o644),
			file(repo("packaging/deb/lintian-overrides"), "/usr/share/lintian/overrides/ftpsd", 0o644))
		// A Debian revision: the package is made outside Debian's
		// archive from an upstream version (non-native).
		info.Release = debianRevision
		info.Scripts = nfpm.Scripts{
			PostInstall: repo("packaging/deb/postinst"),
			PreRemove:   repo("packaging/deb/prerm"),
			PostRemove:  repo("packaging/deb/postrm"),
		}
	case "rpm":
		info.Scripts = nfpm.Scripts{
			PostInstall: repo("packaging/rpm/post"),
			PreRemove:   repo("packaging/rpm/preun"),
			PostRemove:  repo("packaging/rpm/postun"),
		}
		info.RPM.Summary = "FTPS server for hosts behind stateful firewalls"
		info.RPM.Group = "System Environment/Daemons"
	}
	info.Contents = contents
	return nfpm.WithDefaults(info)
}

// writePackage writes the package of info in format into dir and returns
// its path.
func writePackage(info *nfpm.Info, format, dir string) (string, error) {
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, packager.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("%s package: %w", format, err)
	}
	return path, f.Close()
}
