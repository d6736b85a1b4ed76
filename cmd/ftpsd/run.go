package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCommand(ctx, rest, stdout, stderr)
	case "check":
		err = checkCommand(rest, stdout)
	case "rules":
		err = rulesCommand(rest, stdout)
	case "hash-password":
		err = hashPasswordCommand(rest, stdin, stdout)
	case "health":
		err = healthCommand(rest, stdout)
	case "probe":
		err = probeCommand(ctx, rest, stdin, stdout, stderr)
	case "version":
		err = printVersion(stdout)
	case "help":
		printUsage(stdout)
	default:
		err = usage("unknown command %q", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		// -h or -help: the flag output is discarded, so answer with the usage.
		printUsage(stdout)
		err = nil
	}
	return report(err, stderr)
}

func report(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ftpsd: %v\n", err)
		printUsage(stderr)
		return exitUsage
	default:
		lines := strings.Split(err.Error(), "\n")
		fmt.Fprintf(stderr, "ftpsd: %s\n", lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
		return exitError
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  ftpsd [serve] [-config FILE]   run in the foreground (first-run default without -config)
  ftpsd check [-quiet] -config FILE
                                 validate a configuration and print the effective settings
                                 (-quiet: nothing but an error)
  ftpsd rules -config FILE -firewall host|nat-edge [-cure range|ccc|both] [-format nft|iptables]
                                 print a complete firewall ruleset for the configuration
  ftpsd hash-password            read one password line on stdin, print its bcrypt hash
  ftpsd health -config FILE      exit 0 when the configured server answers 220 (or -addr HOST:PORT)
  ftpsd probe [flags] ftps://USER@HOST[:PORT]
                                 diagnose a server from the client side, step by step (ftpss:// for
                                 implicit FTPS); exit 1 when a step fails. Flags: -password-file FILE
                                 (else $FTPSD_PASSWORD, else a prompt), -insecure, -ca FILE, -path DIR
                                 (upload and download there), -json, -timeout DURATION (per step, 10s)
  ftpsd version                  print the version and the commit built (also -version, --version)
`)
}

// printVersion prints the version line of "ftpsd version".
func printVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, "ftpsd", readBuildVersion())
	return err
}

// configFlags returns the flag set of a subcommand that reads the
// configuration file, and its -config flag, described by what.
func configFlags(command, what string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	return fs, fs.String("config", "", what)
}

// parseFlags parses a subcommand's flags; extra arguments are an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usage("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usage("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
