// Command release builds the release artifacts of ftpsd into one
// directory: static binaries for Linux (amd64 and arm64) stamped with the
// version, commit and date, a .deb and an .rpm package of each, and
// SHA256SUMS over them all.
//
//	go run ./tools/release -out dist                 # version from git
//	go run ./tools/release -out dist -version 1.2.0  # a given version
//	go run ./tools/release -print-version            # the version only
//
// The version scheme is in docs/operations.md (Versions); the package's
// files are in packaging/ and systemd/.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"ftpsd/internal/buildstamp"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// run builds every artifact the flags in args ask for, telling log what
// it made (or prints the version on stdout).
func run(args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(log)
	out := fs.String("out", "", "directory the artifacts are written to (created)")
	version := fs.String("version", "", "release version, MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA] (default: from git describe)")
	arches := fs.String("arch", "amd64,arm64", "comma-separated GOARCH values to build for (GOOS is linux)")
	maintainer := fs.String("maintainer", "", "the packages' Maintainer (default: the last commit's committer)")
	printVersion := fs.Bool("print-version", false, "print the version a release would have, and build nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printVersion && fs.NArg() == 0 {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		src, err := readSource(root, *version)
		if err == nil {
			_, err = fmt.Fprintln(stdout, src.version)
		}
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: go run ./tools/release -out DIR [-version V] [-arch amd64,arm64] [-maintainer M], or -print-version")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	src, err := readSource(root, *version)
	if err != nil {
		return err
	}
	if *maintainer == "" {
		if *maintainer, err = committer(root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	stageDir, err := os.MkdirTemp("", "ftpsd-release-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(stageDir) }()
	if err := stage(root, stageDir, src, *maintainer); err != nil {
		return err
	}
	fmt.Fprintf(log, "ftpsd %s, commit %s, date %s\n", src.version, src.commit, src.date.Format(time.RFC3339))
	var artifacts []string
	for _, goarch := range strings.Split(*arches, ",") {
		bin := filepath.Join(*out, fmt.Sprintf("ftpsd_%s_linux_%s", src.version, goarch))
		if err := buildstamp.Build(root, goarch, src.stamp(), bin); err != nil {
			return err
		}
		artifacts = append(artifacts, bin)
		for _, format := range []string{"deb", "rpm"} {
			info := packageInfo(staged{root: root, dir: stageDir, binary: bin}, format, goarch, src, *maintainer)
			path, err := writePackage(info, format, *out)
			if err != nil {
				return fmt.Errorf("linux/%s: %w", goarch, err)
			}
			artifacts = append(artifacts, path)
		}
	}
	sums, err := writeSums(*out, artifacts)
	if err != nil {
		return err
	}
	for _, a := range append(artifacts, sums) {
		fmt.Fprintln(log, a)
	}
	return nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not in the ftpsd module: run from a checkout")
	}
	return filepath.Dir(gomod), nil
}

// committer is the last commit's committer, "Name <email>".
func committer(root string) (string, error) {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%cn <%ce>").Output()
	if err != nil {
		return "", fmt.Errorf("the last commit's committer (give -maintainer): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// writeSums writes SHA256SUMS for the artifacts into dir, in the format
// "sha256sum -c" reads, and returns its path.
func writeSums(dir string, artifacts []string) (string, error) {
	var lines []string
	for _, a := range artifacts {
		sum, err := fileSHA256(a)
		if err != nil {
			return "", err
		}
		lines = append(lines, sum+"  "+filepath.Base(a))
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	path := filepath.Join(dir, "SHA256SUMS")
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
