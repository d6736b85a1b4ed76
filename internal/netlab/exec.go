//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"ftpsd/internal/testenv"
)

// netnsDir is where "ip netns add" binds the namespaces it names.
const netnsDir = "/var/run/netns"

// waitDelay bounds how long Wait waits for a command's output pipes after
// the command exited or was killed.
const waitDelay = 5 * time.Second

// Command returns a command that runs name with args in node's namespace
// (through "ip netns exec", which execs the program: the process id is the
// program's). ctx kills it, as with exec.CommandContext. It is not
// started.
func (l *Lab) Command(ctx context.Context, node Node, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.ipPath, append([]string{"netns", "exec", l.Namespace(node), name}, args...)...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// Run runs name with args in node's namespace and returns its combined
// output. It is bounded by ctx, or by DefaultCommandTimeout when ctx has
// no deadline. The error names the command and includes its output.
func (l *Lab) Run(ctx context.Context, node Node, name string, args ...string) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out, err := l.Command(ctx, node, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s in %s: not done in time: %w", commandLine(name, args), node, ctx.Err())
	}
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", commandLine(name, args), node, err, bytes2str(out))
	}
	return string(out), nil
}

func commandLine(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// Process is a long-running program started with Start. The lab kills it
// at teardown if it still runs.
type Process struct {
	// Cmd is the running command; Cmd.Process.Pid is the program's pid.
	Cmd *exec.Cmd
	// Stdout and Stderr collect the program's output.
	Stdout, Stderr *testenv.SyncBuffer

	done chan struct{}
	err  error // valid once done is closed
}

// Start starts name with args in node's namespace and returns at once.
func (l *Lab) Start(node Node, name string, args ...string) (*Process, error) {
	p := &Process{
		Cmd:    l.Command(context.Background(), node, name, args...),
		Stdout: &testenv.SyncBuffer{},
		Stderr: &testenv.SyncBuffer{},
		done:   make(chan struct{}),
	}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Stdout, p.Stderr
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", commandLine(name, args), node, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Err returns the result of Wait once Done is closed, nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// kill sends SIGKILL unless the process has exited, and waits for it.
func (p *Process) kill(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pid %d did not exit within %v of SIGKILL", p.Cmd.Process.Pid, timeout)
	}
}

// DialContext opens a TCP connection from node's namespace to remote, from
// the local address local (the zero Addr: the kernel chooses). The socket
// belongs to the namespace for its whole life; the connection is used from
// any goroutine like any other.
func (l *Lab) DialContext(ctx context.Context, node Node, local netip.Addr, remote netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := l.inNamespace(node, func() error {
		d := net.Dialer{}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
		c, err := d.DialContext(ctx, "tcp", remote.String())
		conn = c
		return err
	})
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		from := string(node)
		if local.IsValid() {
			from += " " + local.String()
		}
		return nil, fmt.Errorf("dial %v from %s: %w", remote, from, err)
	}
	return conn, nil
}

// Listen opens a TCP listener on addr in node's namespace.
func (l *Lab) Listen(node Node, addr netip.AddrPort) (net.Listener, error) {
	var ln net.Listener
	err := l.inNamespace(node, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return nil, fmt.Errorf("listen on %v in %s: %w", addr, node, err)
	}
	return ln, nil
}

// inNamespace runs fn on an OS thread of its own that has joined node's
// network namespace; sockets that fn creates stay in that namespace. The
// thread is returned to the runtime only once it is back in the original
// namespace; otherwise it ends with its goroutine.
func (l *Lab) inNamespace(node Node, fn func() error) error {
	return inNamespace(l.Namespace(node), fn)
}

// inNamespace runs fn on an OS thread of its own that has joined the
// network namespace name (see Lab.inNamespace).
func inNamespace(name string, fn func() error) error {
	target, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer target.Close()
	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			result <- fmt.Errorf("open this thread's namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			result <- fmt.Errorf("join namespace %s: %w", name, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			result <- errors.Join(fnErr, fmt.Errorf("return from namespace %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		result <- fnErr
	}()
	return <-result
}
