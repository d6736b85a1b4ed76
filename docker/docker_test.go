// Package docker_test builds the repository's Dockerfile with podman and
// drives the resulting container with curl: login and listing over explicit
// TLS, upload and download with a checksum compare, implicit TLS, the image's
// HEALTHCHECK command and a clean stop.
//
// It runs only with FTPSD_CONTAINER_TEST=1 or CI=true (and then fails when
// podman or curl is missing): Debian's "podman" and "runc" packages, and
// "curl". No image registry is needed: the Dockerfile's build stage is
// given, through --build-arg GO_IMAGE, an image made here from this
// machine's Go installation, and the modules come from the host's module
// cache, mounted read-only, so that the build runs with --network none.
// Otherwise the image is built as a user builds it, with podman's default
// layer cache, and the test removes every image the build made, the cache's
// intermediate ones included.
package docker_test

import (
	"archive/tar"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/podmantest"
	"ftpsd/internal/testcert"
	"ftpsd/internal/testenv"
)

// Fixed facts of the Dockerfile that the test checks.
const (
	imageUID     = 10001
	configPath   = "/etc/ftpsd/ftpsd.toml"
	storageRoot  = "/srv/ftp"
	passiveCount = 20
)

// The release stamp the test builds the image with.
const (
	stampVersion = "0.1.0-test.3"
	stampCommit  = "846f209abcde0123456789abcdef0123456789ab"
	stampDate    = "2026-12-07T18:00:00Z"
)

// healthCmd is the Dockerfile's HEALTHCHECK command.
var healthCmd = []string{"/ftpsd", "health", "-config", configPath}

func TestContainerImage(t *testing.T) {
	p := newPodman(t)
	curl := testenv.NeedTool(t, "curl", "curl")
	root := moduleRoot(t)
	suffix := uniqueSuffix(t)
	t0 := time.Now()

	baseImage := "localhost/ftpsd-test-go:" + suffix
	image := "localhost/ftpsd-test:" + suffix
	label := "ftpsd-test.run=" + suffix
	t.Cleanup(func() { p.removeImages(baseImage, image, label) })
	start := time.Now()
	p.importGoImage(root, baseImage)
	t.Logf("timing: Go build image imported from %s in %s", goEnv(t, "GOROOT"), since(start))

	// The module cache must hold every module the image build needs, since
	// the build has no network: fill it the way a developer's go command
	// would (a no-op when the tests already compiled).
	start = time.Now()
	goCmd(t, root, 5*time.Minute, "mod", "download")
	t.Logf("timing: go mod download on the host in %s", since(start))

	start = time.Now()
	p.build(root, baseImage, image, label)
	t.Logf("timing: image built in %s", since(start))

	checkImageConfig(t, p, image)

	// The default configuration baked into the image is valid, and the
	// binary runs on the empty base. A named volume on the storage root
	// starts as a copy of the image's, owned by the image's user.
	volume := "ftpsd-test-" + suffix
	p.MustRun(time.Minute, "volume", "create", volume)
	t.Cleanup(func() { p.Run(time.Minute, "volume", "rm", "-f", volume) })
	out := p.MustRun(time.Minute, "run", "--rm", "--network", "none", "-v", volume+":"+storageRoot,
		image, "check", "-config", configPath)
	if !strings.Contains(out, "is valid") {
		t.Errorf("check of the image's default configuration said:\n%s", out)
	}
	if os.Geteuid() == 0 {
		mountpoint := strings.TrimSpace(p.MustRun(time.Minute, "volume", "inspect", "--format", "{{.Mountpoint}}", volume))
		if st, err := os.Stat(mountpoint); err != nil {
			t.Errorf("named volume: %v", err)
		} else if uid := st.Sys().(*syscall.Stat_t).Uid; uid != imageUID {
			t.Errorf("a new named volume on %s belongs to uid %d, want %d", storageRoot, uid, imageUID)
		}
	}
	// The build arguments stamp the release's version, commit and date,
	// as tools/release does.
	out = p.MustRun(time.Minute, "run", "--rm", "--network", "none", image, "version")
	if want := "ftpsd " + stampVersion + " commit=" + stampCommit + " date=" + stampDate + " go"; !strings.HasPrefix(out, want) {
		t.Errorf("version printed %q, want it to start with %q", out, want)
	}

	start = time.Now()
	runServer(t, p, curl, image, suffix)
	t.Logf("timing: container run, driven and stopped in %s", since(start))
	t.Logf("timing: whole test %s (before clean-up)", since(t0))
}

// runServer starts the image with a test configuration, certificate and
// storage volume, drives it with curl and stops it.
func runServer(t *testing.T, p *podman, curl, image, suffix string) {
	confDir := t.TempDir()
	certFile, keyFile := testcert.SelfSigned(t, "ftpsd test").Write(t, confDir)
	// The container runs as an unprivileged uid: let it read the (throw-away)
	// key and write to the storage volume.
	for _, f := range []string{certFile, keyFile} {
		chmod(t, f, 0o644)
	}
	chmod(t, confDir, 0o755)
	dataDir := t.TempDir()
	chmod(t, dataDir, 0o777)
	if os.Geteuid() != 0 {
		// Rootless podman: files the container made belong to a sub-uid.
		t.Cleanup(func() { p.Run(time.Minute, "unshare", "rm", "-rf", filepath.Join(dataDir, "home")) })
	}

	ports := ftptest.PortRange(t, 2+passiveCount)
	listen, implicit := ports.Start, ports.Start+1
	pasvLo, pasvHi := ports.Start+2, ports.End
	user, pass := "tester", randomHex(t, 12)
	hash := ftptest.HashPassword(t, pass)
	conf := fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
implicit_listen = "127.0.0.1:%d"
banner = "ftpsd container test"

[tls]
cert_file = "/etc/ftpsd/cert.pem"
key_file = "/etc/ftpsd/key.pem"
self_signed = false

[passive]
ports = "%d-%d"

[storage]
backend = "os"
root = %q

[[users]]
name = %q
password_hash = %q
home = "home"

[log]
level = "info"
`, listen, implicit, pasvLo, pasvHi, storageRoot, user, hash)
	ftptest.WriteFile(t, confDir, "ftpsd.toml", []byte(conf))

	container := "ftpsd-test-" + suffix
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.Run(30*time.Second, "logs", container)
			t.Logf("container logs:\n%s", logs)
		}
		p.Run(time.Minute, "rm", "-f", "-v", "-t", "0", container)
	})
	start := time.Now()
	// --network host: the passive ports must be the host's (no NAT here),
	// and only loopback addresses are used. The image's own CMD and
	// configuration path are used; the configuration directory replaces
	// the image's /etc/ftpsd.
	p.MustRun(2*time.Minute, "run", "-d", "--name", container, "--network", "host",
		"-v", confDir+":/etc/ftpsd:ro", "-v", dataDir+":"+storageRoot, image)
	greeting := waitGreeting(t, p, container, fmt.Sprintf("127.0.0.1:%d", listen), 30*time.Second)
	t.Logf("timing: greeting %q after %s", greeting, since(start))

	checkUnprivileged(t, p, container)

	// Explicit FTPS: login and LIST of the empty home.
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", listen)
	cred := user + ":" + pass
	curlFTP := func(args ...string) string {
		t.Helper()
		full := append([]string{"--silent", "--show-error", "--noproxy", "*", "--ssl-reqd", "--insecure",
			"--max-time", "30", "--user", cred}, args...)
		out, errOut, err := ftptest.Cmd{Timeout: 45 * time.Second}.Run(curl, full...)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	if out := curlFTP(base); strings.TrimSpace(out) != "" {
		t.Errorf("LIST of the new home = %q, want empty", out)
	}

	// Upload, list, download, compare.
	work := t.TempDir()
	payload := ftptest.RandomData(t, 3<<20+123)
	upFile := ftptest.WriteFile(t, work, "upload.bin", payload)
	curlFTP("--upload-file", upFile, base+"data.bin")
	if out := curlFTP(base); !strings.Contains(out, "data.bin") {
		t.Errorf("LIST after upload does not show data.bin:\n%s", out)
	}
	downFile := filepath.Join(work, "download.bin")
	curlFTP("--output", downFile, base+"data.bin")
	checkSum(t, "explicit FTPS download", downFile, payload)

	// Implicit FTPS on the second port.
	implicitFile := filepath.Join(work, "implicit.bin")
	out, errOut, err := ftptest.Cmd{Timeout: 45 * time.Second}.Run(curl, "--silent", "--show-error", "--noproxy", "*", "--insecure", "--max-time", "30",
		"--user", cred, "--output", implicitFile, fmt.Sprintf("ftps://127.0.0.1:%d/data.bin", implicit))
	if err != nil {
		t.Fatalf("curl implicit FTPS: %v\n%s%s", err, out, errOut)
	}
	checkSum(t, "implicit FTPS download", implicitFile, payload)

	// The upload landed in the volume, in the user's home, owned by the
	// image's user.
	stored := filepath.Join(dataDir, "home", "data.bin")
	checkSum(t, "file in the storage volume", stored, payload)
	if st, err := os.Stat(stored); err == nil && os.Geteuid() == 0 {
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != imageUID {
			t.Errorf("uploaded file belongs to uid %d, want %d", uid, imageUID)
		}
	}

	// The HEALTHCHECK command, run in the container as the runtime would.
	out = p.MustRun(time.Minute, append([]string{"exec", container}, healthCmd...)...)
	if !strings.Contains(out, "220 ftpsd container test") {
		t.Errorf("health printed %q", out)
	}
	// podman's own health check run (its timer needs systemd, a run on
	// demand does not).
	if out, err := p.Run(time.Minute, "healthcheck", "run", container); err != nil {
		t.Errorf("podman healthcheck run: %v\n%s", err, out)
	} else if status := strings.TrimSpace(p.MustRun(30*time.Second, "inspect", "--format", "{{.State.Health.Status}}", container)); status != "healthy" {
		t.Errorf("health status after a check = %q, want healthy", status)
	}

	// SIGTERM: a clean, prompt exit with status 0.
	start = time.Now()
	p.MustRun(time.Minute, "stop", "-t", "10", container)
	stopTook := time.Since(start)
	t.Logf("timing: podman stop took %s", stopTook.Round(time.Millisecond))
	if stopTook > 9*time.Second {
		t.Errorf("podman stop took %s: ftpsd did not stop on SIGTERM before the 10s kill", stopTook)
	}
	state := strings.TrimSpace(p.MustRun(30*time.Second, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container))
	if state != "exited 0" {
		t.Errorf("after stop the container is %q, want \"exited 0\"", state)
	}
	if logs, _ := p.Run(30*time.Second, "logs", container); !strings.Contains(logs, "ftpsd stopped") {
		t.Errorf("logs do not end with a clean stop:\n%s", logs)
	}
}

// checkImageConfig checks what the Dockerfile declares: non-root user,
// exposed ports, volume, health check, entry point.
func checkImageConfig(t *testing.T, p *podman, image string) {
	t.Helper()
	var info []struct {
		Size   int64
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Entrypoint   []string
			Cmd          []string
		}
		HealthCheck *struct{ Test []string }
	}
	if err := json.Unmarshal([]byte(p.MustRun(time.Minute, "image", "inspect", image)), &info); err != nil || len(info) != 1 {
		t.Fatalf("image inspect: %v (%d images)", err, len(info))
	}
	img := info[0]
	t.Logf("image size %.1f MB", float64(img.Size)/1e6)
	if want := fmt.Sprintf("%d:%d", imageUID, imageUID); img.Config.User != want {
		t.Errorf("USER = %q, want %q", img.Config.User, want)
	}
	for _, port := range []string{"21/tcp", "990/tcp", "50000-50099/tcp"} {
		if _, ok := img.Config.ExposedPorts[port]; !ok && !(port == "50000-50099/tcp" && exposesRange(img.Config.ExposedPorts, 50000, 50099)) {
			t.Errorf("EXPOSE lacks %s: %v", port, img.Config.ExposedPorts)
		}
	}
	if _, ok := img.Config.Volumes[storageRoot]; !ok {
		t.Errorf("VOLUME lacks %s: %v", storageRoot, img.Config.Volumes)
	}
	if img.HealthCheck == nil || !slices.Equal(img.HealthCheck.Test, append([]string{"CMD"}, healthCmd...)) {
		t.Errorf("HEALTHCHECK = %+v, want CMD %v", img.HealthCheck, healthCmd)
	}
	if got := append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...); !slices.Equal(got, []string{"/ftpsd", "serve", "-config", configPath}) {
		t.Errorf("ENTRYPOINT+CMD = %v", got)
	}
	if img.Size > 40e6 {
		t.Errorf("image is %d bytes: the runtime stage should hold little more than the binary", img.Size)
	}
}

// exposesRange reports whether every port lo..hi is exposed one by one
// (Docker's builder expands a range).
func exposesRange(ports map[string]struct{}, lo, hi int) bool {
	for p := lo; p <= hi; p++ {
		if _, ok := ports[strconv.Itoa(p)+"/tcp"]; !ok {
			return false
		}
	}
	return true
}

// checkUnprivileged checks, where the host sees the container's uids
// (rootful podman), that ftpsd runs as the image's user with no
// capabilities.
func checkUnprivileged(t *testing.T, p *podman, container string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	pid := strings.TrimSpace(p.MustRun(30*time.Second, "inspect", "--format", "{{.State.Pid}}", container))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Errorf("read the server's status: %v", err)
		return
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "Uid:" && f[1] != strconv.Itoa(imageUID):
			t.Errorf("ftpsd runs as uid %s, want %d", f[1], imageUID)
		case len(f) == 2 && f[0] == "CapEff:" && strings.Trim(f[1], "0") != "":
			t.Errorf("ftpsd has effective capabilities %s, want none", f[1])
		}
	}
}

// waitGreeting dials addr until the server answers 220, failing early when
// the container has exited.
func waitGreeting(t *testing.T, p *podman, container, addr string, limit time.Duration) string {
	t.Helper()
	var greeting string
	var err error
	if !ftptest.Eventually(limit, func() bool {
		var c *ftptest.Client
		if c, err = (ftptest.Dialer{Timeout: 5 * time.Second}).Dial(addr); err == nil {
			greeting = c.Greeting().String()
			_ = c.Quit()
			return true
		}
		state, _ := p.Run(30*time.Second, "inspect", "--format", "{{.State.Status}}", container)
		if s := strings.TrimSpace(state); s != "running" && s != "created" && s != "" {
			t.Fatalf("container is %s before answering on %s", s, addr)
		}
		time.Sleep(200 * time.Millisecond)
		return false
	}) {
		t.Fatalf("no 220 greeting on %s within %s: %v", addr, limit, err)
	}
	return greeting
}

// checkSum fails the test (and goes on) unless the file at path holds want.
func checkSum(t *testing.T, what, path string, want []byte) {
	t.Helper()
	if err := ftptest.SameFile(path, want); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// podman runs podman for this test.
type podman struct {
	*podmantest.Podman
	t *testing.T
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	return &podman{podmantest.New(t, "container image test skipped: set FTPSD_CONTAINER_TEST=1 to build the Dockerfile with podman and drive the container with curl (Debian packages: podman runc curl)"), t}
}

// importGoImage makes the build stage's Go image from this machine's Go
// installation (static, so it needs no libraries), its CA certificates, the
// directories a Go image has and a stand-in for mkdir (the official image
// has Debian's coreutils; the Dockerfile's build stage runs "mkdir -p"),
// with the official image's settings.
func (p *podman) importGoImage(root, name string) {
	t := p.t
	t.Helper()
	goroot := goEnv(t, "GOROOT")
	mkdir := filepath.Join(t.TempDir(), "mkdir")
	if out, errOut, err := (ftptest.Cmd{Env: append(os.Environ(), "CGO_ENABLED=0"), Timeout: 5 * time.Minute}).Run(goBin(),
		"build", "-C", filepath.Join(root, "docker"), "-o", mkdir, "./testdata/mkdir"); err != nil {
		t.Fatalf("go build of the mkdir stand-in: %v\n%s%s", err, out, errOut)
	}
	archive, w := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeGoImage(w, goroot, mkdir)
		_ = w.CloseWithError(err)
		written <- err
	}()
	stdout, stderr, err := ftptest.Cmd{Env: p.Env, Stdin: archive, Timeout: 5 * time.Minute}.Run(p.Bin, append(slices.Clone(p.Args), "import",
		"--change", "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", "ENV GOPATH=/go",
		"--change", "ENV GOTOOLCHAIN=local",
		"--change", "WORKDIR /go",
		"-", name)...)
	_ = archive.Close() // the writer stops if podman stopped reading
	if werr := <-written; err != nil || werr != nil {
		t.Fatalf("podman import: %v, writing the archive: %v\n%s%s", err, werr, stdout, stderr)
	}
}

// build builds the Dockerfile at root with goImage as the build stage's
// base, with no network: the modules come from the host's module cache,
// mounted read-only; a Go build cache of its own is kept between runs.
// Layers are podman's default, as in a user's "podman build"; every image
// the build commits, the intermediate ones too, carries label, so that
// removeImages finds them.
func (p *podman) build(root, goImage, image, label string) {
	t := p.t
	t.Helper()
	gocache := filepath.Join(cacheDir(t), "go-build")
	if err := os.MkdirAll(gocache, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"build", "--pull=never", "--network", "none",
		"--format", "docker", // HEALTHCHECK is kept only in Docker's image format
		"--label", label,
		"--build-arg", "GO_IMAGE=" + goImage,
		"--build-arg", "VERSION=" + stampVersion, "--build-arg", "COMMIT=" + stampCommit, "--build-arg", "DATE=" + stampDate,
		"-v", goEnv(t, "GOMODCACHE") + ":/go/pkg/mod:ro",
		"-v", gocache + ":/root/.cache/go-build",
		"-t", image, "-f", filepath.Join(root, "Dockerfile"), root}
	out, err := p.Run(10*time.Minute, args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 60))
	}
	if testing.Verbose() {
		t.Logf("podman build:\n%s", lastLines(out, 40))
	}
}

// removeImages removes the images of one run: the tagged image and Go
// image, every image carrying label (all that the build committed, the
// layer cache's intermediate images included) and every image descending
// from the Go image (in case a podman version labels only the final image).
// Leaves go first, and podman's rmi also removes their untagged parents;
// an image that another image still builds on is left alone. What is left
// of the run's images at the end is an error.
func (p *podman) removeImages(goImage, image, label string) {
	t := p.t
	t.Helper()
	labelKey, labelValue, _ := strings.Cut(label, "=")
	goImageID := ""
	var ours, tried []string
	for round := 0; ; round++ {
		var list []struct {
			ID       string   `json:"Id"`
			ParentID string   `json:"ParentId"`
			Names    []string // podman 4 (RepoTags is null there)
			RepoTags []string
			Labels   map[string]string
		}
		out, err := p.Run(time.Minute, "images", "--all", "--format", "json")
		if err == nil {
			err = json.Unmarshal([]byte(out), &list)
		}
		if err != nil {
			t.Errorf("listing images to remove this run's: %v\n%s", err, out)
			return
		}
		isOurs, isParent := map[string]bool{}, map[string]bool{}
		for _, img := range list {
			isParent[img.ParentID] = true
			names := slices.Concat(img.Names, img.RepoTags)
			if slices.Contains(names, goImage) {
				goImageID = img.ID
			}
			if slices.Contains(names, image) || img.Labels[labelKey] == labelValue {
				isOurs[img.ID] = true
			}
		}
		if goImageID != "" {
			// The Go image is new in every run: all below it is this run's.
			below := map[string]bool{goImageID: true}
			for grew := true; grew; {
				grew = false
				for _, img := range list {
					if !below[img.ID] && below[img.ParentID] {
						below[img.ID], grew = true, true
					}
				}
			}
			for id := range below {
				isOurs[id] = true
			}
		}
		var leaves []string
		ours = ours[:0]
		for _, img := range list {
			if isOurs[img.ID] {
				ours = append(ours, img.ID)
				if !isParent[img.ID] {
					leaves = append(leaves, img.ID)
				}
			}
		}
		if len(leaves) == 0 || slices.Equal(leaves, tried) || round == 20 {
			break
		}
		tried = leaves
		if out, err := p.Run(2*time.Minute, append([]string{"rmi", "--ignore"}, leaves...)...); err != nil {
			t.Logf("podman rmi: %v\n%s", err, out)
		}
	}
	if len(ours) > 0 {
		t.Errorf("images of this run left behind: %v", ours)
	}
}

// writeGoImage writes a tar archive of a minimal Go image: GOROOT at
// /usr/local/go (without its tests), the CA certificates, /tmp, /root, /go,
// and the host file mkdir as /usr/bin/mkdir.
func writeGoImage(w io.Writer, goroot, mkdir string) error {
	tw := newTar(w)
	for _, d := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"etc/ssl/", 0o755}, {"etc/ssl/certs/", 0o755}, {"tmp/", 0o1777},
		{"root/", 0o700}, {"go/", 0o777}, {"go/bin/", 0o777}, {"usr/", 0o755}, {"usr/bin/", 0o755}, {"usr/local/", 0o755}} {
		tw.dir(d.name, d.mode)
	}
	tw.file("etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
	tw.file("usr/bin/mkdir", mkdir)
	goroot, err := filepath.EvalSymlinks(goroot)
	if err != nil {
		return err
	}
	err = filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		name := filepath.ToSlash(filepath.Join("usr/local/go", rel))
		switch {
		case d.IsDir() && (rel == "test" || rel == "api" || rel == "doc" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir():
			tw.dir(name+"/", 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			tw.link(name, target)
		case d.Type().IsRegular():
			tw.file(name, path)
		}
		return tw.err
	})
	if err != nil {
		return err
	}
	return tw.close()
}

// cacheDir is where the test keeps the image build's Go build cache.
func cacheDir(t *testing.T) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "ftpsd-container-test")
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, errOut, err := ftptest.Cmd{Timeout: time.Minute}.Run(goBin(), "env", key)
	v := strings.TrimSpace(out)
	if err != nil || v == "" {
		t.Fatalf("go env %s: %v %s%s", key, err, out, errOut)
	}
	return v
}

func goCmd(t *testing.T, dir string, limit time.Duration, args ...string) {
	t.Helper()
	ftptest.Cmd{Dir: dir, Timeout: limit}.MustRun(t, goBin(), args...)
}

// goBin is the go command that runs this test.
func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// moduleRoot is the repository root, where the Dockerfile is.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatalf("no Dockerfile at the module root: %v", err)
	}
	return root
}

func uniqueSuffix(t *testing.T) string {
	return fmt.Sprintf("%d-%s", os.Getpid(), randomHex(t, 4))
}

func randomHex(t *testing.T, n int) string { return hex.EncodeToString(ftptest.RandomData(t, n)) }

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tarWriter writes a tar archive of directories, host files and symbolic
// links owned by root, keeping the first error.
type tarWriter struct {
	tw  *tar.Writer
	err error
}

func newTar(w io.Writer) *tarWriter { return &tarWriter{tw: tar.NewWriter(w)} }

func (w *tarWriter) header(h *tar.Header) bool {
	if w.err == nil {
		h.Format = tar.FormatPAX
		h.ModTime = time.Unix(0, 0)
		w.err = w.tw.WriteHeader(h)
	}
	return w.err == nil
}

func (w *tarWriter) dir(name string, mode int64) {
	w.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode})
}

func (w *tarWriter) link(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// file copies the host file src (its permission bits) to name.
func (w *tarWriter) file(name, src string) {
	if w.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		w.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		w.err = err
		return
	}
	if w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(st.Mode().Perm()), Size: st.Size()}) {
		_, w.err = io.Copy(w.tw, f)
	}
}

func (w *tarWriter) close() error {
	if w.err != nil {
		return w.err
	}
	return w.tw.Close()
}
