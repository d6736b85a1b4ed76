package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"time"

	"ftpsd/hooks"
	"ftpsd/metrics"
)

// The driver tells the server's hooks.Sink (WithEvents) what happened, one
// event per fact, at the point where the fact is certain:
//
//   - upload: when the upload's Close returned nil after a transfer that
//     did not fail, that is once the hidden file was renamed over its
//     target or the store completed the object (see home.upload), which
//     happens only when the data ended cleanly (with
//     tls.strict_upload_eof, by close_notify on a protected data
//     connection). An upload cut by a reset, a bare FIN, a stall, ABOR, a
//     refused Write or a failed close emits nothing. A resumed upload
//     (REST then STOR, APPE) writes in place: its event carries the bytes
//     transferred and no SHA-256, since they are not the file's.
//   - download: when the file was read to its end and no byte failed to
//     go to the data connection. The lib closes the data connection after
//     the file (its last buffered records, then close_notify), and the
//     driver does not see that close: a client that resets the connection
//     at the very end still counts. A download from an offset (REST) is a
//     download of that part: its event has no SHA-256 either.
//   - delete, rename, mkdir, rmdir: when the command succeeded.
//   - login, login_failed: when the login is admitted or refused.
//
// Emit queues (hooks.Sink): it is called on the transfer's or command's
// goroutine, with nothing locked. Without a sink nothing is computed: no
// hash, no store path.

// emit fills in the session's user and hands ev to the sink, if there is
// one.
func (s *session) emit(ev hooks.Event) {
	if s.events == nil {
		return
	}
	ev.User = s.userName()
	s.send(ev)
}

// send fills in the client's address and the session id and hands ev to
// the sink, which the caller checked.
func (s *session) send(ev hooks.Event) {
	ev.Client = s.client().String()
	ev.Session = s.id
	s.events.Emit(ev)
}

// userName returns the account the session logged in with, "" before.
func (s *session) userName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account.Name
}

// emitDone emits a command's event (delete, rename, mkdir, rmdir) of name
// when err is nil, and returns err.
func (c *clientFs) emitDone(kind, name string, start time.Time, err error) error {
	if err != nil || c.session.events == nil {
		return err
	}
	c.session.emit(hooks.Event{
		Kind: kind, Path: name, StorePath: c.home.storePath(name),
		Start: start, End: time.Now(),
	})
	return nil
}

// emitRename emits the rename of oldname to newname when err is nil, and
// returns err.
func (c *clientFs) emitRename(oldname, newname string, start time.Time, err error) error {
	if err != nil || c.session.events == nil {
		return err
	}
	c.session.emit(hooks.Event{
		Kind: hooks.Rename, Path: oldname, StorePath: c.home.storePath(oldname),
		TargetPath: newname, TargetStorePath: c.home.storePath(newname),
		Start: start, End: time.Now(),
	})
	return nil
}

// transferEvent is what a transfer needs to emit its event: it is nil
// without a sink, and its hash nil for a transfer that does not cover the
// whole file (an offset, APPE).
type transferEvent struct {
	storePath string
	hash      hash.Hash // of the bytes as the file gave or took them
	eof       bool      // a download read the file to its end
}

// newTransferEvent returns the event part of a transfer of name in
// direction, or nil when the session has no sink or the sink does not
// want the event (hooks.Filter: no hook takes it as the hooks are when
// the transfer opens); whole says whether the transfer covers the whole
// file.
func (c *clientFs) newTransferEvent(name, direction string, whole bool) *transferEvent {
	if c.session.events == nil {
		return nil
	}
	if f, ok := c.session.events.(hooks.Filter); ok {
		kind := hooks.Upload
		if direction == metrics.Download {
			kind = hooks.Download
		}
		if !f.Wants(hooks.Event{Kind: kind, User: c.session.userName(), Path: name}) {
			return nil
		}
	}
	e := &transferEvent{storePath: c.home.storePath(name)}
	if whole {
		e.hash = sha256.New()
	}
	return e
}

// moved records the bytes p the transfer moved and what the file said;
// a nil e (no sink) records nothing.
func (e *transferEvent) moved(p []byte, err error) {
	if e == nil {
		return
	}
	if e.hash != nil && len(p) > 0 {
		e.hash.Write(p) // never fails
	}
	if err == io.EOF {
		e.eof = true
	}
}

// sum returns the hex SHA-256 of the bytes moved, or "" when they are
// not the whole file.
func (e *transferEvent) sum() string {
	if e.hash == nil {
		return ""
	}
	return hex.EncodeToString(e.hash.Sum(nil))
}

// emitTransfer emits the event of t, which closed without failure: an
// upload is committed, a download is sent whole only when it read the
// file to its end.
func (t *loggedTransfer) emitTransfer(end time.Time) {
	kind := hooks.Upload
	if t.direction == metrics.Download {
		if !t.event.eof {
			return
		}
		kind = hooks.Download
	}
	t.session.emit(hooks.Event{
		Kind: kind, Path: t.path, StorePath: t.event.storePath,
		Size: t.bytes, SHA256: t.event.sum(), Start: t.start, End: end,
	})
}

// emitLogin emits a login, or with a reason a refused one (user as the
// client sent it).
func (s *session) emitLogin(user, reason string, start time.Time) {
	kind := hooks.Login
	if reason != "" {
		kind = hooks.LoginFailed
	}
	if s.events != nil {
		s.send(hooks.Event{Kind: kind, User: user, Reason: reason, Start: start, End: time.Now()})
	}
}
