package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"ftpsd/probe"
)

// passwordEnv is the environment variable that holds the probe's password.
const passwordEnv = "FTPSD_PASSWORD"

// probeCommand diagnoses an FTPS server from the client side and prints
// a verdict and a remedy for each step; it fails when a step fails.
func probeCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	passwordFile := fs.String("password-file", "", "file whose first line is the password (else $"+passwordEnv+", else a prompt)")
	insecure := fs.Bool("insecure", false, "accept any certificate (the report says so)")
	caFile := fs.String("ca", "", "PEM file of the CA that signs the server's certificate, instead of the system roots")
	path := fs.String("path", "", "writable directory on the server for an upload and download with checksums")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "bound of each step's network waits")
	// The URL may come before or after the flags.
	var target string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usage("probe: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		if target != "" {
			return usage("probe: unexpected argument %q", fs.Arg(0))
		}
		target, args = fs.Arg(0), fs.Args()[1:]
	}
	if target == "" {
		return usage("probe: ftps://USER@HOST[:PORT] or ftpss://USER@HOST[:PORT] is required")
	}
	o, err := parseProbeURL(target)
	if err != nil {
		return err
	}
	o.Insecure, o.Path, o.Timeout = *insecure, *path, *timeout
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("probe: -ca: %w", err)
		}
		o.RootCAs, o.CAFile = x509.NewCertPool(), *caFile
		if !o.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("probe: -ca %s: no PEM certificate in it", *caFile)
		}
	}
	if o.Password, err = probePassword(*passwordFile, o.User+"@"+o.Host, stdin, stderr); err != nil {
		return err
	}
	rep := probe.Run(ctx, o)
	if *jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return errors.New("probe: a step failed (see the report)")
	}
	return nil
}

// parseProbeURL reads ftps://USER@HOST[:PORT] (explicit FTPS, port 21) or
// ftpss://USER@HOST[:PORT] (implicit, port 990).
func parseProbeURL(s string) (probe.Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		return probe.Options{}, usage("probe: %v", err)
	}
	var o probe.Options
	port := 21
	switch u.Scheme {
	case "ftps":
	case "ftpss":
		o.Implicit, port = true, 990
	default:
		return o, usage("probe: %q: the scheme must be ftps:// (explicit FTPS) or ftpss:// (implicit FTPS)", s)
	}
	if u.User == nil || u.User.Username() == "" {
		return o, usage("probe: %q: no user (ftps://USER@HOST)", s)
	}
	if _, set := u.User.Password(); set {
		return o, usage("probe: %q: the password does not go in the URL (others can read command lines): use -password-file or $%s", u.Redacted(), passwordEnv)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return o, usage("probe: %q: want ftps://USER@HOST[:PORT]", s)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return o, usage("probe: %q: bad port %q", s, p)
		}
	}
	o.User, o.Host, o.Port = u.User.Username(), u.Hostname(), port
	return o, nil
}

// probePassword reads the password from file, else the environment, else
// a prompt on the terminal (stdin) without echo.
func probePassword(file, who string, stdin io.Reader, stderr io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("probe: -password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return pw, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", fmt.Errorf("probe: no password: use -password-file FILE or $%s, or run on a terminal", passwordEnv)
	}
	fmt.Fprintf(stderr, "Password for %s: ", who)
	restore, err := noEcho(f)
	if err != nil {
		return "", fmt.Errorf("probe: turn off echo: %w", err)
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	restore()
	fmt.Fprintln(stderr)
	if err != nil && line == "" {
		return "", fmt.Errorf("probe: read the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
