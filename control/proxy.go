package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
	"go.uber.org/zap"

	"ftpsd/ipaddr"
	"ftpsd/refusal"
)

// DefaultProxyHeaderTimeout bounds the wait for a load balancer's PROXY
// header when ProxyOptions.HeaderTimeout is zero. Balancers send the
// header at once, with their first segment.
const DefaultProxyHeaderTimeout = 5 * time.Second

// ProxyOptions turns on the PROXY protocol (v1 and v2) on a control
// listener: every connection must come from a trusted load balancer and
// open with a header naming the client.
type ProxyOptions struct {
	// Trusted are the balancers' networks; a connection from another
	// address is dropped at accept, unread.
	Trusted []netip.Prefix
	// HeaderTimeout bounds the wait for the header; zero means
	// DefaultProxyHeaderTimeout.
	HeaderTimeout time.Duration
}

// proxyHeaderBuffer holds a v1 header line (at most 107 bytes) or a v2
// header with its usual TLVs; a longer v2 header is read in several fills.
const proxyHeaderBuffer = 256

// headerStage accepts the connections of a Listener under the PROXY
// protocol. Headers are read on goroutines of their own, so that a slow
// balancer connection never holds up Accept; a connection is handed to
// Accept once its header is read.
type headerStage struct {
	inner net.Listener
	opts  *Options
	// dropped is the message of the warning about a dropped connection.
	dropped string
	// wrap turns a connection whose header was read into what accept
	// returns; nil returns it as it is.
	wrap func(*proxiedConn) net.Conn
	// closedDrops logs a connection whose header was still awaited when
	// the listener closed as dropped ("port_closed"); otherwise it is
	// closed silently (the server is stopping).
	closedDrops bool
	start       sync.Once
	ready       chan accepted
	ctx         context.Context // ends at close
	cancel      context.CancelFunc
	wg          sync.WaitGroup // the accept loop and the header readers
	// reading counts the connections whose header is awaited.
	reading atomic.Int64
}

type accepted struct {
	conn net.Conn
	err  error
}

func newHeaderStage(inner net.Listener, opts *Options) *headerStage {
	ctx, cancel := context.WithCancel(context.Background())
	return &headerStage{inner: inner, opts: opts, dropped: "connection dropped: PROXY protocol",
		ready: make(chan accepted), ctx: ctx, cancel: cancel}
}

// accept returns the next connection whose header was read, or the inner
// listener's error (after close, an error wrapping net.ErrClosed).
func (h *headerStage) accept() (net.Conn, error) {
	h.start.Do(func() { h.wg.Go(h.loop) })
	select {
	case a := <-h.ready:
		return a.conn, a.err
	case <-h.ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: h.inner.Addr(), Err: net.ErrClosed}
	}
}

// close stops the accept loop and the header readers and waits for them.
func (h *headerStage) close() {
	h.cancel()
	h.wg.Wait()
}

// loop accepts connections until the inner listener is closed. Its errors
// go to accept one by one, so that the caller's backoff paces the loop.
func (h *headerStage) loop() {
	for {
		raw, err := h.inner.Accept()
		if err != nil {
			if !h.hand(accepted{err: err}) || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if peer := ipaddr.Of(raw.RemoteAddr()); !h.trusted(peer) {
			h.drop(raw, refusal.UntrustedProxy, "untrusted", errors.New("source not in server.trusted_proxies"))
			continue
		}
		h.wg.Go(func() { h.read(raw) })
	}
}

func (h *headerStage) trusted(peer netip.Addr) bool {
	return slices.ContainsFunc(h.opts.Proxy.Trusted, func(p netip.Prefix) bool { return p.Contains(peer) })
}

// hand passes a to accept, or closes its connection when the listener
// closed first.
func (h *headerStage) hand(a accepted) bool {
	select {
	case h.ready <- a:
		return true
	case <-h.ctx.Done():
		if a.conn != nil {
			_ = a.conn.Close()
		}
		return false
	}
}

// read reads the header of raw and hands the connection on.
func (h *headerStage) read(raw net.Conn) {
	stop := context.AfterFunc(h.ctx, func() { _ = raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	timeout := h.opts.Proxy.HeaderTimeout
	if timeout <= 0 {
		timeout = DefaultProxyHeaderTimeout
	}
	h.reading.Add(1)
	conn, err := readProxyHeader(raw, timeout)
	h.reading.Add(-1)
	switch {
	case err != nil && h.ctx.Err() != nil && h.closedDrops:
		h.drop(raw, refusal.ProxyHeader, "port_closed", err)
		return
	case err != nil && h.ctx.Err() != nil: // closed while reading
		_ = raw.Close()
		return
	case err != nil:
		h.drop(raw, refusal.ProxyHeader, headerFailure(err), err)
		return
	}
	if h.wrap != nil {
		h.hand(accepted{conn: h.wrap(conn)})
		return
	}
	h.hand(accepted{conn: conn})
}

// drop closes raw, counts it under reason and logs it at warn level (as
// often as the Gate lets it) with what failed. A balancer's health check
// (see healthCheck) is neither counted nor warned about: it is logged at
// debug level.
func (h *headerStage) drop(raw net.Conn, reason, failure string, err error) {
	defer raw.Close()
	peer := ipaddr.Of(raw.RemoteAddr())
	if healthCheck(failure) {
		h.opts.Logger.Debug("balancer health check closed", zap.Stringer("peer", peer), zap.String("reason", failure))
		return
	}
	h.opts.events().ConnectionRefused(reason)
	log, count := h.opts.refusalLine(peer)
	if !log {
		return
	}
	h.opts.Logger.Warn(h.dropped, zap.Stringer("peer", peer),
		zap.String("reason", failure), zap.Int("refused", count), zap.Error(err))
}

// errNoClient is the error of a header that names no client.
var errNoClient = errors.New("PROXY header names no client")

// headerFailure names what went wrong with a header: "timeout", "closed"
// (the balancer closed before sending anything), "local" (the header
// names no client), "missing" (the stream does not start with a PROXY
// signature) or "invalid".
func headerFailure(err error) string {
	switch {
	case errors.Is(err, errNoClient):
		return "local"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF):
		return "closed"
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return "missing"
	}
	return "invalid"
}

// healthCheck reports whether a failure is a balancer's health check: a
// TCP connect closed without a byte, or a header that names no client (a
// v2 LOCAL header, which HAProxy sends on the checks of send-proxy-v2
// servers, or v1 UNKNOWN). Such a connection is the balancer's own; serving
// it would give a session the balancer's address, so it is closed.
func healthCheck(failure string) bool { return failure == "closed" || failure == "local" }

// readProxyHeader reads the header that opens raw, within timeout, and
// returns raw as the connection of the client it names.
func readProxyHeader(raw net.Conn, timeout time.Duration) (*proxiedConn, error) {
	if err := raw.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	br := bufio.NewReaderSize(raw, proxyHeaderBuffer)
	if _, err := br.Peek(1); err != nil { // proxyproto.Read calls an empty stream "no header"
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	hdr, err := proxyproto.Read(br)
	if err != nil {
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	client, err := headerClient(hdr)
	if err != nil {
		return nil, err
	}
	early, _ := br.Peek(br.Buffered())
	return &proxiedConn{Conn: raw, client: client, early: slices.Clone(early)}, nil
}

// headerClient returns the client's address of a header, or errNoClient
// for a LOCAL or UNKNOWN header.
func headerClient(hdr *proxyproto.Header) (net.Addr, error) {
	if hdr.Command.IsLocal() || hdr.TransportProtocol == proxyproto.UNSPEC {
		return nil, errNoClient
	}
	a, ok := hdr.SourceAddr.(*net.TCPAddr)
	if !ok || !hdr.TransportProtocol.IsStream() {
		return nil, fmt.Errorf("PROXY header: the client is not a TCP address (%v)", hdr.SourceAddr)
	}
	return a, nil
}

// proxiedConn is a control connection accepted from a load balancer. Its
// RemoteAddr is the client's address from the PROXY header; its LocalAddr
// stays the socket's, this node's own address, where the client's data
// connections arrive (the header's destination is the balancer's).
type proxiedConn struct {
	net.Conn
	client net.Addr
	early  []byte // what the balancer sent after the header; the wire reads it first
}

// RemoteAddr returns the client's address from the header.
func (c *proxiedConn) RemoteAddr() net.Addr { return c.client }

// NetConn returns the socket (for quickack).
func (c *proxiedConn) NetConn() net.Conn { return c.Conn }

// SyscallConn returns the socket's raw connection, so that the wire can
// wait for input without a buffer once it consumed the early bytes.
func (c *proxiedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
