package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"ftpsd/config"
)

// healthCommand connects to the control port of a running ftpsd and
// expects its 220 greeting (container HEALTHCHECK, monitoring scripts).
func healthCommand(args []string, stdout io.Writer) error {
	fs, path := configFlags("health", "configuration file whose server.listen (or implicit_listen) to probe")
	addr := fs.String("addr", "", "host:port to probe instead of the configured one")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the greeting")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	target := *addr
	if target == "" {
		if *path == "" {
			return usage("health: -config FILE or -addr HOST:PORT is required")
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		target = probeAddress(cfg.Server.Listen)
		if target == "" {
			return errors.New("health: server.listen is off; use -addr to probe the implicit port")
		}
	}
	greeting, err := readGreeting(target, *timeout)
	if err != nil {
		return fmt.Errorf("health: %s: %w", target, err)
	}
	fmt.Fprintf(stdout, "ok: %s answered %q\n", target, greeting)
	return nil
}

// probeAddress turns a listen address into one to dial: a wildcard host
// becomes loopback.
func probeAddress(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func readGreeting(addr string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read greeting: %w", err)
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "220") {
		return line, fmt.Errorf("greeting %q is not 220", line)
	}
	_, _ = io.WriteString(conn, "QUIT\r\n")
	return line, nil
}
