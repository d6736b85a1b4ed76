package control

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultCCCWait is the longest the conn waits, after its 200 reply to
// CCC, for the client's close_notify before sending its own. lftp, Python's
// ftplib and curl's active CCC mode send theirs as soon as they have read
// the 200, and lftp fails if the server's arrives first; curl's default
// (passive CCC mode) never sends one first and pays the wait.
const DefaultCCCWait = 200 * time.Millisecond

// MinCCCWait is the shortest wait. Within [MinCCCWait, the maximum] the
// wait is cccWaitFactor times the slowest reaction the client showed on
// its last commands (time from a reply to its next command): a client that
// answers quickly is waited for briefly, a slow or distant one longer.
const MinCCCWait = 25 * time.Millisecond

const cccWaitFactor = 4

// turnarounds is how many recent reaction times a conn keeps.
const turnarounds = 4

// TLS record types that may carry a close_notify: a clear alert (TLS 1.2)
// or an encrypted record (TLS 1.3).
const (
	recordTypeAlert           = 0x15
	recordTypeApplicationData = 0x17
)

// handleCCC answers CCC: refused with the RFC 2228/4217 codes, or accepted
// and the control channel returned to clear text.
func (c *Conn) handleCCC() error {
	t := c.tlsConn.Load()
	switch {
	case t == nil:
		return c.reply(533, "CCC needs a TLS-protected control channel.")
	case c.State().Implicit:
		return c.reply(534, "CCC is not available on implicit FTPS (the port expects TLS throughout): use explicit FTPS (AUTH TLS) for CCC.")
	case !c.opts.AllowCCC:
		return c.reply(534, "CCC is denied by this server's policy (tls.ccc = \"deny\").")
	case !c.login.loggedIn():
		return c.reply(503, "Log in before CCC.")
	}
	return c.clearTLS(t)
}

// clearTLS sends the 200 reply under TLS, exchanges close_notify with the
// client and switches the channel to clear text, all under the write lock
// so that no reply is split across the switch.
func (c *Conn) clearTLS(t *tls.Conn) error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if _, err := t.Write([]byte("200 CCC accepted: the control channel is now clear text; data connections stay protected.\r\n")); err != nil {
		return fmt.Errorf("reply to CCC: %w", err)
	}
	peerFirst, err := c.awaitCloseNotify(t)
	if err != nil {
		return err
	}
	if err := t.CloseWrite(); err != nil {
		return fmt.Errorf("send close_notify after CCC: %w", err)
	}
	// CloseWrite leaves the socket's write deadline at "now" so that later
	// TLS writes fail; clear text must be writable again.
	if err := c.raw.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear write deadline after CCC: %w", err)
	}
	c.tlsConn.Store(nil)
	c.out.firstClear = true
	if !peerFirst {
		c.in.lateTLS = t
	}
	c.stateMu.Lock()
	c.state.TLS, c.state.Cleared = false, true
	c.stateMu.Unlock()
	c.opts.events().ControlCleared()
	c.log().Info("control channel cleared (CCC)", zap.Bool("client_closed_first", peerFirst))
	return nil
}

// awaitCloseNotify reads from TLS for at most the CCC wait. It reports
// whether the client's close_notify came; application data that arrives
// meanwhile is kept as the next commands.
func (c *Conn) awaitCloseNotify(t *tls.Conn) (bool, error) {
	if err := c.raw.SetReadDeadline(time.Now().Add(c.cccWait())); err != nil {
		return false, fmt.Errorf("set CCC deadline: %w", err)
	}
	defer func() { _ = c.raw.SetReadDeadline(time.Time{}) }()
	var buf [readChunk]byte
	for {
		n, err := t.Read(buf[:])
		c.in.plain = append(c.in.plain, buf[:n]...)
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			return true, nil
		case errors.As(err, &ne) && ne.Timeout():
			return false, nil
		case err != nil:
			return false, fmt.Errorf("waiting for close_notify after CCC: %w", err)
		}
	}
}

// settleLateAlert runs skipLateAlert, reading more clear bytes from the
// socket when it needs them to decide.
func (c *Conn) settleLateAlert() error {
	more, err := c.skipLateAlert()
	if err == nil && more {
		err = c.in.w.fill()
	}
	return err
}

// skipLateAlert consumes a close_notify that the client sent after ours.
// Only the first bytes after CCC are looked at: a TLS record there (an
// alert, or under TLS 1.3 an encrypted record) is read through the old
// TLS conn, which the record reader keeps from reading further; anything
// else is the next clear-text command. It reports whether it needs more
// bytes to decide.
func (c *Conn) skipLateAlert() (bool, error) {
	if len(c.in.w.buf) == 0 {
		return true, nil
	}
	t := c.in.lateTLS
	c.in.lateTLS = nil
	if b := c.in.w.buf[0]; b != recordTypeAlert && b != recordTypeApplicationData {
		return false, nil
	}
	_, err := c.in.readTLS(t)
	if errors.Is(err, io.EOF) {
		c.log().Debug("late close_notify after CCC consumed")
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read late close_notify after CCC: %w", err)
	}
	return false, nil
}

// cccWait returns how long to wait for the client's close_notify.
func (c *Conn) cccWait() time.Duration {
	return min(max(cccWaitFactor*c.in.reactions.slowest(), MinCCCWait), c.opts.cccWait())
}

// reactionTimes keeps the client's recent reaction times: how long it took
// to send a command after the last reply. The last reply's time is atomic
// (a write sets it); the rest belongs to the read goroutine.
type reactionTimes struct {
	lastReply atomic.Int64 // unix nanoseconds of the last reply written
	recent    [turnarounds]time.Duration
	next      int // index in recent of the next, modulo turnarounds
}

// replied records that a reply was written now.
func (r *reactionTimes) replied() { r.lastReply.Store(time.Now().UnixNano()) }

// commandCame records how long the client took to send a command after the
// last reply.
func (r *reactionTimes) commandCame() {
	last := r.lastReply.Load()
	if last == 0 {
		return
	}
	if d := time.Duration(time.Now().UnixNano() - last); d > 0 {
		r.recent[r.next%turnarounds] = d
		r.next++
	}
}

// slowest returns the longest of the recent reaction times, or 0.
func (r *reactionTimes) slowest() time.Duration {
	var slowest time.Duration
	for _, d := range r.recent {
		slowest = max(slowest, d)
	}
	return slowest
}

// inspectorLine opens a passive reply that is the first clear-text reply
// after CCC; see alignForInspector. It carries no digits or parentheses,
// so that clients that search the whole reply for the address (Python's
// ftplib) find the next line's.
const inspectorLine = "-Control channel in clear text; passive address follows.\r\n"

// alignForInspector writes, before the first clear-text reply after CCC
// when it is a 227/229, a first line of a multi-line reply in a segment of
// its own. Linux's conntrack ftp helper (and inspectors built like it)
// parses only a segment that starts right after one that ended with a
// newline; the segment before the first clear reply is the encrypted
// close_notify, so without this line a PASV sent first after CCC (as
// Python's ftplib may) opens no pinhole and is not rewritten under NAT.
// Called with out.mu held.
func (c *Conn) alignForInspector(reply []byte) error {
	if !c.out.firstClear {
		return nil
	}
	c.out.firstClear = false
	if !bytes.HasPrefix(reply, []byte("227 ")) && !bytes.HasPrefix(reply, []byte("229 ")) {
		return nil
	}
	if _, err := c.raw.Write(append(bytes.Clone(reply[:3]), inspectorLine...)); err != nil {
		return fmt.Errorf("write first line of the passive reply after CCC: %w", err)
	}
	return nil
}
