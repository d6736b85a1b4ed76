//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpsd/internal/ftptest"
	"ftpsd/internal/netlab"
	"ftpsd/probe"
)

// TestNetnsProbe runs ftpsd probe from the lab's client namespace against
// ftpsd behind the lab's firewall (see TestNetnsFirewall) in five set-ups
// and asserts its verdicts:
//
//  1. the passive range closed on the firewall, its FTP helper present:
//     the data step fails naming the port to open; after CCC the helper
//     reads the 227 and the data connection works (an inspector);
//  2. all correct (range open): every step ok, a transfer with checksums,
//     exit 0 (the certificate is self-signed: -insecure, a warning);
//  3. CCC denied by the server (tls.ccc = "deny"), range closed: the CCC
//     step is skipped and says the range must be opened;
//  4. NAT without passive.public_address: the PASV step names the private
//     address announced and the key to set;
//  5. a firewall without the FTP helper, range closed: after CCC the data
//     connection fails (the inspector does not open pinholes).
func TestNetnsProbe(t *testing.T) {
	t.Run("routed", func(t *testing.T) {
		t.Parallel()
		lab := netlab.New(t, netlab.WithControlPort(labControlPort))
		site := startProbeSite(t, lab, "")

		t.Run("1_range_closed_inspector_present", func(t *testing.T) {
			rep, code := site.probe(t)
			wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepLogin: probe.OK, probe.StepPASV: probe.OK,
				probe.StepData: probe.Fail, probe.StepCCC: probe.OK, probe.StepCCCData: probe.OK})
			wantClosedPortNamed(t, rep.Step(probe.StepData))
			if s := rep.Step(probe.StepCCCData); !strings.Contains(s.Detail, "an FTP inspector on the path read the clear reply") {
				t.Errorf("ccc_data step %+v: want that an inspector opened the port", s)
			}
			if code == 0 {
				t.Errorf("exit 0 with a failed step")
			}
		})

		setRange(t, lab, labRangeStart, labRangeEnd)
		t.Run("2_all_correct", func(t *testing.T) {
			rep, code := site.probe(t, "-path", "/")
			want := map[string]probe.Verdict{probe.StepCertificate: probe.Warn}
			for _, name := range []string{probe.StepTCP, probe.StepTLS, probe.StepLogin, probe.StepProtection, probe.StepEPSV,
				probe.StepPASV, probe.StepData, probe.StepResumption, probe.StepTransfer, probe.StepCCC, probe.StepCCCData} {
				want[name] = probe.OK
			}
			wantVerdicts(t, rep, want)
			if code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
		})

		site.srv.terminate(t)
		site = startProbeSite(t, lab, "[tls]\nccc = \"deny\"\n\n")
		setRange(t, lab, 0, 0)
		t.Run("3_ccc_denied", func(t *testing.T) {
			rep, _ := site.probe(t)
			wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepData: probe.Fail, probe.StepCCC: probe.Skipped, probe.StepCCCData: probe.Skipped})
			wantClosedPortNamed(t, rep.Step(probe.StepData))
			if s := rep.Step(probe.StepCCC); !strings.Contains(s.Detail, "does not offer CCC") || !strings.Contains(s.Remedy, "open the passive range") {
				t.Errorf("ccc step %+v: want \"does not offer CCC\" and that the range must be opened", s)
			}
		})
	})

	t.Run("4_nat_without_public_address", func(t *testing.T) {
		t.Parallel()
		lab := netlab.New(t, netlab.WithTopology(netlab.NAT), netlab.WithControlPort(labControlPort))
		setRange(t, lab, labRangeStart, labRangeEnd)
		site := startProbeSite(t, lab, "")
		rep, code := site.probe(t)
		wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepLogin: probe.OK, probe.StepPASV: probe.Fail, probe.StepData: probe.OK})
		s := rep.Step(probe.StepPASV)
		if !strings.Contains(s.Detail, "227 announces "+lab.ServerAddr().String()) || !strings.Contains(s.Detail, "NAT misconfiguration") ||
			!strings.Contains(s.Remedy, fmt.Sprintf("passive.public_address = %q", lab.PublicAddr())) {
			t.Errorf("pasv step %+v: want the announced %v, NAT misconfiguration and passive.public_address = %q", s, lab.ServerAddr(), lab.PublicAddr())
		}
		if code == 0 {
			t.Errorf("exit 0 with a failed step")
		}
	})

	t.Run("5_no_inspector", func(t *testing.T) {
		t.Parallel()
		lab := netlab.New(t, netlab.WithControlPort(labControlPort), netlab.WithoutFTPHelper())
		site := startProbeSite(t, lab, "")
		rep, _ := site.probe(t)
		wantVerdicts(t, rep, map[string]probe.Verdict{probe.StepData: probe.Fail, probe.StepCCC: probe.OK, probe.StepCCCData: probe.Fail})
		if s := rep.Step(probe.StepCCCData); !strings.Contains(s.Remedy, "does not open pinholes") {
			t.Errorf("ccc_data step %+v: want \"does not open pinholes\"", s)
		}
	})
}

// probeSite is ftpsd in the lab's server namespace, on the defaults plus
// the passive range and extra, with user alice.
type probeSite struct {
	lab    *netlab.Lab
	srv    *server
	pwFile string
}

func startProbeSite(t *testing.T, lab *netlab.Lab, extra string) *probeSite {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	ftptest.WriteFile(t, filepath.Join(root, labUser), "hello.txt", []byte("hello\n"))
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"0.0.0.0:%d\"\n\n%s", labControlPort, extra)
	fmt.Fprintf(&b, "[passive]\nports = \"%d-%d\"\n", labRangeStart, labRangeEnd)
	fmt.Fprintf(&b, "\n[storage]\nroot = %q\n\n", root)
	fmt.Fprintf(&b, "[[users]]\nname = %q\npassword_hash = %q\nhome = %q\n\n", labUser, ftptest.HashPassword(t, password(labUser)), labUser)
	b.WriteString("[log]\nformat = \"json\"\n")
	path := writeText(t, dir, "ftpsd.toml", b.String())
	srv := startFtpsdOn(t, lab, netlab.Server, dir, "-config", path)
	srv.waitLog(t, "ftpsd started", 1, startTimeout)
	return &probeSite{lab: lab, srv: srv, pwFile: writeText(t, dir, "password", password(labUser)+"\n")}
}

// probeTimeout is the probe's per-step timeout in the lab: a dropped
// connection fails within it.
const probeTimeout = 3 * time.Second

// probe runs ftpsd probe -json in the client namespace and returns the
// report and the exit status.
func (s *probeSite) probe(t *testing.T, args ...string) (*probe.Report, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientRunTimeout)
	defer cancel()
	args = append([]string{"probe", "-json", "-insecure", "-timeout", probeTimeout.String(), "-password-file", s.pwFile},
		append(args, "ftps://"+labUser+"@"+s.lab.ControlAddr().String())...)
	cmd := s.lab.Command(ctx, netlab.Client, ftpsdBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("ftpsd probe: %v\n%s", err, stderr.String())
	}
	var rep probe.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("ftpsd probe -json: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var human bytes.Buffer
	_ = rep.WriteText(&human)
	t.Logf("ftpsd probe (exit %d):\n%s", code, human.String())
	return &rep, code
}

// wantClosedPortNamed checks that a failed data step names a port of the
// lab's range as the one to open.
func wantClosedPortNamed(t *testing.T, s probe.Step) {
	t.Helper()
	for p := labRangeStart; p <= labRangeEnd; p++ {
		if strings.Contains(s.Remedy, fmt.Sprintf("open TCP port %d", p)) && strings.Contains(s.Remedy, "passive.ports") {
			return
		}
	}
	t.Errorf("data step %+v: want \"open TCP port N\" (N in %d-%d) and passive.ports", s, labRangeStart, labRangeEnd)
}

func setRange(t *testing.T, lab *netlab.Lab, start, end int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), netlab.DefaultCommandTimeout)
	defer cancel()
	if err := lab.SetOpenRange(ctx, start, end); err != nil {
		t.Fatal(err)
	}
}
