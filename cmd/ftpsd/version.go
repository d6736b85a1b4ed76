package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion is what the binary knows of the source it was built from:
// the module version and the version-control state that go build stamps
// into a binary built in a git clone (go run and -buildvcs=false stamp
// none, and neither does a linked git worktree: golang/go#58218).
type buildVersion struct {
	module    string // a tag, a pseudo-version ("+dirty" when modified), "(devel)" or "unknown"
	revision  string // vcs.revision, the commit; empty without VCS information
	time      string // vcs.time, the commit's time
	modified  string // vcs.modified: "true" when built with uncommitted changes
	goVersion string
}

// readBuildVersion returns the running binary's build version.
func readBuildVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info)
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

// String is the line "ftpsd version" prints after "ftpsd ": the module
// version, the VCS settings under their build-information names, and the
// Go version.
func (v buildVersion) String() string {
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
