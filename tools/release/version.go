package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"ftpsd/internal/buildstamp"
)

// untaggedBase is the version of a build from a history without a
// release tag: the version the first tag will have. Builds before it are
// "0.1.0-dev.N+gCOMMIT", N the number of commits, so that each sorts
// after the one before and before 0.1.0 (dpkg and rpm read the "-" of
// the prerelease as "~").
const untaggedBase = "0.1.0"

// source is what a release build stamps into the binary and the packages.
type source struct {
	version string    // semantic version, without "v"
	commit  string    // full commit hash; empty outside a git checkout
	date    time.Time // the commit's time (SOURCE_DATE_EPOCH overrides it)
}

// stamp is what the build stamps into the binary.
func (s source) stamp() buildstamp.Stamp {
	return buildstamp.Stamp{Version: s.version, Commit: s.commit, Date: s.date.Format(time.RFC3339)}
}

// semver is the form of a release version: MAJOR.MINOR.PATCH, an optional
// prerelease after "-" and build metadata after "+".
var semver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?(\+[0-9A-Za-z.]+)?$`)

// describe matches the output of git describe --long: tag, commits since
// the tag, abbreviated commit.
var describe = regexp.MustCompile(`^v([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?)-([0-9]+)-g([0-9a-f]+)$`)

// versionFrom derives the release version from git: described is the
// output of "git describe --tags --match 'v[0-9]*' --long --abbrev=12"
// ("" when no tag exists), count the number of commits, abbrev the
// abbreviated commit and dirty whether tracked files have changes.
//
//	v1.2.0 exactly, clean       1.2.0
//	5 commits after v1.2.0      1.2.0+5.gabcdef012345
//	no tag, 42 commits          0.1.0-dev.42+gabcdef012345
//	uncommitted changes         ... ".dirty" appended to the metadata
func versionFrom(described string, count int, abbrev string, dirty bool) (string, error) {
	suffix := ""
	if dirty {
		suffix = ".dirty"
	}
	if described == "" {
		return fmt.Sprintf("%s-dev.%d+g%s%s", untaggedBase, count, abbrev, suffix), nil
	}
	m := describe.FindStringSubmatch(described)
	if m == nil {
		return "", fmt.Errorf("git describe said %q, want vMAJOR.MINOR.PATCH-N-gCOMMIT", described)
	}
	if m[2] == "0" && !dirty {
		return m[1], nil
	}
	return fmt.Sprintf("%s+%s.g%s%s", m[1], m[2], m[3], suffix), nil
}

// readSource reads the version, commit and date of the checkout at root;
// version, when not empty, is the version to use instead of git's.
func readSource(root, version string) (source, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
			}
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var src source
	commit, err := git("rev-parse", "HEAD")
	if err != nil {
		if version == "" {
			return src, fmt.Errorf("not a git checkout (give -version): %w", err)
		}
		src.date = time.Now()
	} else {
		src.commit = commit
		unix, err := git("log", "-1", "--format=%ct")
		if err != nil {
			return src, err
		}
		sec, err := strconv.ParseInt(unix, 10, 64)
		if err != nil {
			return src, fmt.Errorf("commit time %q: %w", unix, err)
		}
		src.date = time.Unix(sec, 0)
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return src, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", epoch, err)
		}
		src.date = time.Unix(sec, 0)
	}
	src.date = src.date.UTC()
	if version != "" {
		src.version = strings.TrimPrefix(version, "v")
		if !semver.MatchString(src.version) {
			return src, fmt.Errorf("-version %q: want MAJOR.MINOR.PATCH with an optional -PRERELEASE and +METADATA", version)
		}
		return src, nil
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return src, err
	}
	count, err := git("rev-list", "--count", "HEAD")
	if err != nil {
		return src, err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return src, fmt.Errorf("commit count %q: %w", count, err)
	}
	described, err := git("describe", "--tags", "--match", "v[0-9]*", "--long", "--abbrev=12")
	if err != nil {
		described = "" // no release tag yet
	}
	src.version, err = versionFrom(described, n, commit[:12], status != "")
	return src, err
}
