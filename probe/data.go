package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// dataResult is what one data connection carried.
type dataResult struct {
	data    []byte // downloaded bytes
	resumed bool   // the TLS session was resumed
	final   string // the final reply's first line
}

// dataError is a failed data connection: where and why.
type dataError struct {
	addr       string
	stage      string // "connect", "TLS handshake", "reply", "transfer"
	err        error
	notResumed bool // the server answered 425 "... not resumed"
}

func (e *dataError) Error() string {
	return fmt.Sprintf("data connection to %s: %s: %v", e.addr, e.stage, e.err)
}

func (e *dataError) Unwrap() error { return e.err }

// exchange runs cmd (NLST, RETR, STOR) over a protected data connection to
// the control connection's address at port; upload is what a STOR sends.
// Without resume the data connection offers no TLS session to resume.
func (p *prober) exchange(ctx context.Context, port int, cmd string, upload []byte, resume bool) (dataResult, error) {
	addr := net.JoinHostPort(p.peer.String(), strconv.Itoa(port))
	fail := func(stage string, err error) (dataResult, error) {
		return dataResult{}, &dataError{addr: addr, stage: stage, err: err}
	}
	dctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return fail("connect", err)
	}
	defer raw.Close()
	defer context.AfterFunc(ctx, func() { _ = raw.Close() })()
	if err := p.c.send(cmd); err != nil {
		return fail("reply", err)
	}
	cfg := p.tlsCfg.Clone()
	if !resume {
		cfg.ClientSessionCache = nil
	}
	tc := tls.Client(raw, cfg)
	if err := tc.SetDeadline(time.Now().Add(p.o.Timeout)); err != nil {
		return fail("TLS handshake", err)
	}
	if err := tc.Handshake(); err != nil {
		// The server says why on the control connection.
		code, msg, rerr := p.c.reply()
		de := &dataError{addr: addr, stage: "TLS handshake", err: err}
		if rerr == nil {
			de.err = fmt.Errorf("%w; the server replied %q", err, firstLine(msg))
			de.notResumed = code == 425 && strings.Contains(msg, "not resumed")
		}
		return dataResult{}, de
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 || (p.leaf != nil && !bytes.Equal(st.PeerCertificates[0].Raw, p.leaf.Raw)) {
		return fail("TLS handshake", errors.New("the data connection's certificate is not the control connection's"))
	}
	res := dataResult{resumed: st.DidResume}
	code, msg, err := p.c.reply()
	if err != nil {
		return fail("reply", err)
	}
	if code/100 != 1 {
		// Under TLS 1.3 the client's handshake ends before the server
		// has checked the session: a refusal comes here or as the final
		// reply.
		return dataResult{}, replyError(addr, cmd, code, msg)
	}
	if err := tc.SetDeadline(time.Now().Add(p.o.Timeout)); err != nil {
		return fail("transfer", err)
	}
	if upload != nil {
		_, err = tc.Write(upload)
		if err == nil {
			err = tc.CloseWrite() // close_notify: the upload is complete
		}
	} else {
		res.data, err = io.ReadAll(tc)
	}
	if err != nil {
		return fail("transfer", err)
	}
	_ = tc.Close()
	code, msg, err = p.c.reply()
	if err != nil {
		return fail("reply", err)
	}
	if code != 226 && code != 250 {
		return dataResult{}, replyError(addr, cmd, code, msg)
	}
	res.final = firstLine(msg)
	return res, nil
}

// replyError is the error of a refusing reply to a transfer command.
func replyError(addr, cmd string, code int, msg string) *dataError {
	return &dataError{addr: addr, stage: "reply", err: fmt.Errorf("%s: %q", cmd, firstLine(msg)),
		notResumed: code == 425 && strings.Contains(msg, "not resumed")}
}

// dataRemedy says what a failed data connection to port means.
func dataRemedy(err error) string {
	var de *dataError
	if !errors.As(err, &de) {
		return "check the server's log for this session"
	}
	_, ps, _ := net.SplitHostPort(de.addr)
	port, _ := strconv.Atoi(ps)
	switch {
	case de.stage == "connect":
		return dialRemedy(de.err, port, "the passive port") + " (and the rest of passive.ports; behind NAT forward them to the server)"
	case de.notResumed:
		return "the server requires TLS resumption on data connections (ftpsd: tls.require_session_reuse): use a client that resumes"
	default:
		return fmt.Sprintf("port %d answered, then the connection was cut: the server refused it (its log says why) or a firewall or proxy resets it; check the server's log for this session", port)
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func randRead(b []byte) (int, error) {
	n, err := rand.Read(b)
	if err != nil {
		return n, fmt.Errorf("random bytes: %w", err)
	}
	return n, nil
}
