package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// The release build (tools/release) stamps these at link time:
//
//	-ldflags "-X main.version=0.1.0 -X main.commit=<40 hex> -X main.date=<RFC 3339>"
//
// They are the only package variables of ftpsd, as -X can set nothing
// else. Empty (go build, go run): the build information Go records is
// used instead.
var (
	version string // the release version, docs/operations.md#versions
	commit  string // the full commit hash the release was built from
	date    string // the commit's time, so that a rebuild is identical
)

// buildVersion is what the binary knows of the source it was built from:
// the version, commit and date stamped by the release build or, without
// them, the module version and the version-control state that go build
// stamps into a binary built in a git clone (go run and -buildvcs=false
// stamp none, and neither does a linked git worktree: golang/go#58218).
type buildVersion struct {
	module    string // a release version, a tag, a pseudo-version ("+dirty" when modified), "(devel)" or "unknown"
	revision  string // the commit; empty without VCS information
	time      string // the commit's time
	modified  string // vcs.modified: "true" when built with uncommitted changes
	goVersion string
	stamped   bool // set by the release build's -ldflags
}

// readBuildVersion returns the running binary's build version.
func readBuildVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return stampedVersion(versionOf(info), version, commit, date)
}

// stampedVersion returns v with the version, commit and date stamped at
// link time in place of what Go recorded; v itself when none is stamped.
func stampedVersion(v buildVersion, version, commit, date string) buildVersion {
	if version == "" {
		return v
	}
	if v.goVersion == "" {
		v.goVersion = runtime.Version()
	}
	return buildVersion{module: version, revision: commit, time: date, goVersion: v.goVersion, stamped: true}
}

// versionOf extracts the build version from info; nil is a binary without
// build information.
func versionOf(info *debug.BuildInfo) buildVersion {
	if info == nil {
		return buildVersion{module: "unknown"}
	}
	v := buildVersion{module: info.Main.Version, goVersion: info.GoVersion}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value
		}
	}
	return v
}

// String is the line "ftpsd version" prints after "ftpsd ": the stamped
// version, commit and date, or the module version and the VCS settings
// under their build-information names; then the Go version.
func (v buildVersion) String() string {
	if v.stamped {
		parts := []string{v.module}
		if v.revision != "" {
			parts = append(parts, "commit="+v.revision)
		}
		if v.time != "" {
			parts = append(parts, "date="+v.time)
		}
		return strings.Join(append(parts, v.goVersion), " ")
	}
	if v.goVersion == "" {
		return v.module + " (no build information)"
	}
	parts := []string{v.module}
	if v.revision == "" {
		parts = append(parts, "(no VCS information: built by go run, with -buildvcs=false or outside a git checkout)")
	}
	for _, s := range []struct{ key, value string }{
		{"vcs.revision", v.revision}, {"vcs.time", v.time}, {"vcs.modified", v.modified},
	} {
		if s.value != "" {
			parts = append(parts, s.key+"="+s.value)
		}
	}
	return strings.Join(append(parts, v.goVersion), " ")
}

// short is the version the start-up log shows: the module version, and the
// commit's first 12 hex digits unless the module version already holds
// them (a pseudo-version does).
func (v buildVersion) short() string {
	if len(v.revision) < 12 || strings.Contains(v.module, v.revision[:12]) {
		return v.module
	}
	return v.module + " " + v.revision[:12]
}
