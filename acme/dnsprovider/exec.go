package dnsprovider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
	"go.uber.org/zap"

	"ftpsd/runcmd"
)

// ExecOptions configure an Exec provider.
type ExecOptions struct {
	// Command is the program and its first arguments; "present" or
	// "cleanup", the record's name and its value follow them.
	Command []string
	// Timeout bounds each run (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger gets each run's output; nil logs nothing.
	Logger *zap.Logger
	// Env is the command's environment besides the FTPSD_ACME_*
	// variables, e.g. "PATH=/usr/bin:/bin". Nil gives PATH alone, the
	// server's (as hook commands get it): not the server's whole
	// environment, which may hold the store's credentials.
	Env []string
}

// Exec adds and removes TXT records by running an administrator's
// command, as lego's exec provider does:
//
//	COMMAND... present _acme-challenge.example.com. VALUE
//	COMMAND... cleanup _acme-challenge.example.com. VALUE
//
// The name is fully qualified, with its final dot. The command runs
// without a shell, in a process group of its own killed whole at the
// timeout, with the environment of ExecOptions.Env and FTPSD_ACME_ACTION,
// FTPSD_ACME_FQDN, FTPSD_ACME_VALUE and FTPSD_ACME_ZONE (the zone, with
// its final dot), which repeat its arguments for scripts that prefer
// variables. Exit status 0 is success; anything else is an error that
// gives the status and the last line of the command's standard error.
// The command is run once per record; it must add a value beside the
// name's other values (two challenges may share a name) and remove only
// its own value.
type Exec struct {
	argv    []string
	timeout time.Duration
	logger  *zap.Logger
	env     []string
}

// NewExec checks opts (the command must be an executable file) and
// returns the provider.
func NewExec(opts ExecOptions) (*Exec, error) {
	if err := CheckCommand(opts.Command); err != nil {
		return nil, &OptionError{"Command", err.Error()}
	}
	e := &Exec{argv: append([]string{}, opts.Command...), timeout: opts.Timeout, logger: opts.Logger, env: opts.Env}
	switch {
	case e.timeout < 0:
		return nil, &OptionError{"Timeout", "negative"}
	case e.timeout == 0:
		e.timeout = DefaultTimeout
	}
	if e.logger == nil {
		e.logger = zap.NewNop()
	}
	if e.env == nil {
		e.env = []string{"PATH=" + defaultPath(os.Getenv("PATH"))}
	}
	return e, nil
}

// defaultPath is path, or the usual directories when it is empty.
func defaultPath(path string) string {
	if path == "" {
		return "/usr/local/bin:/usr/bin:/bin"
	}
	return path
}

// AppendRecords runs the command with "present" for each of recs, which
// must be TXT records, in order, and returns them as presented. It stops
// at the first failure.
func (e *Exec) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return e.runAll(ctx, "present", zone, recs)
}

// DeleteRecords runs the command with "cleanup" for each of recs, and
// returns those it cleaned up; a failure does not stop the others.
func (e *Exec) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return e.runAll(ctx, "cleanup", zone, recs)
}

// runAll runs action for each of recs; "present" stops at the first
// failure.
func (e *Exec) runAll(ctx context.Context, action, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var done []libdns.Record
	var errs []error
	for _, rec := range recs {
		rr := rec.RR()
		if !strings.EqualFold(rr.Type, "TXT") {
			errs = append(errs, fmt.Errorf("exec: %s %s: only TXT records", rr.Name, rr.Type))
		} else if err := e.run(ctx, action, zone, rr); err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data})
			continue
		}
		if action == "present" {
			break
		}
	}
	return done, errors.Join(errs...)
}

// run runs the command once for rr, logging its output.
func (e *Exec) run(ctx context.Context, action, zone string, rr libdns.RR) error {
	zone = dns.Fqdn(zone)
	fqdn := dns.Fqdn(libdns.AbsoluteName(rr.Name, zone))
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	argv := append(append([]string{}, e.argv...), action, fqdn, rr.Data)
	env := append(append([]string{}, e.env...), "FTPSD_ACME_ACTION="+action, "FTPSD_ACME_FQDN="+fqdn,
		"FTPSD_ACME_VALUE="+rr.Data, "FTPSD_ACME_ZONE="+zone)
	start := time.Now()
	out, err := runcmd.Run(ctx, argv, env, nil)
	if out.Stdout.Len() > 0 || out.Stderr.Len() > 0 {
		e.logger.Info("acme dns command output", zap.String("action", action), zap.String("fqdn", fqdn),
			zap.String("stdout", out.Stdout.String()), zap.String("stderr", out.Stderr.String()))
	}
	if err != nil {
		if last := out.Stderr.LastLine(); last != "" {
			err = fmt.Errorf("%w; stderr: %s", err, last)
		}
		return fmt.Errorf("exec: %s %s after %s: %w", action, fqdn, time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}
