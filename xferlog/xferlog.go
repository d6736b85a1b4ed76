// Package xferlog writes the transfer log of wu-ftpd, ProFTPD and vsftpd
// (xferlog(5)): one line per transfer, in the layout that xferstats, log
// shippers and accounting scripts read.
package xferlog

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// Record is one transfer as the log line tells it.
type Record struct {
	End      time.Time     // when the transfer ended
	Duration time.Duration // how long it took
	Remote   netip.Addr    // the client (behind the PROXY protocol, the header's)
	Bytes    int64         // bytes sent or received
	Path     string        // the file, as the user sees it from the home
	Upload   bool          // direction: incoming (true) or outgoing
	User     string        // the account
	Complete bool          // completion status: complete (c) or incomplete (i)
}

// dateLayout is the current-time field: "DDD MMM dd hh:mm:ss YYYY", the
// day of the month padded with a space, as strftime's "%a %b %e %H:%M:%S %Y".
const dateLayout = "Mon Jan _2 15:04:05 2006"

// AppendLine appends r's line, with its newline, to b: the fourteen
// fields of xferlog(5), separated by single spaces. As vsftpd writes it:
// the time is local, a transfer lasts at least 1 s, the type is binary
// ("b": the server converts ASCII transfers above the part that logs
// them), no special action ("_"), a real account ("r"), the service
// "ftp", no RFC 931 authentication ("0 *"). Spaces in the file and user
// names become "_" (the man page's rule, so that the line splits on
// spaces) and other control or unprintable characters "?" (vsftpd's).
func AppendLine(b []byte, r Record) []byte {
	secs := int64(r.Duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	dir, status := byte('o'), byte('i')
	if r.Upload {
		dir = 'i'
	}
	if r.Complete {
		status = 'c'
	}
	b = r.End.Local().AppendFormat(b, dateLayout)
	b = append(b, ' ')
	b = strconv.AppendInt(b, secs, 10)
	b = append(b, ' ')
	b = append(b, r.Remote.String()...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, ' ')
	b = appendField(b, r.Path)
	b = append(b, " b _ "...)
	b = append(b, dir)
	b = append(b, " r "...)
	b = appendField(b, r.User)
	b = append(b, " ftp 0 * "...)
	b = append(b, status, '\n')
	return b
}

// appendField appends s with spaces made "_" and other characters that
// are not printable made "?"; an empty s is "_", so that no field is empty.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '_')
	}
	for _, c := range s {
		switch {
		case c == ' ':
			b = append(b, '_')
		case c == unicode.ReplacementChar || !unicode.IsPrint(c):
			b = append(b, '?')
		default:
			b = append(b, string(c)...)
		}
	}
	return b
}

// File is the xferlog file: opened for appending, written one whole line
// at a time, reopened by Prepare (SIGHUP, after a rotation). A write that
// fails is logged once, not once per transfer, until a write succeeds
// again or the file is reopened. The zero value is not usable: see New.
// Its methods are safe for concurrent use.
type File struct {
	logger *zap.Logger

	mu      sync.Mutex
	f       *os.File // nil: no xferlog
	path    string
	failing bool // a write failed and was logged
	buf     []byte
}

// New returns a File that writes nothing until Prepare's commit gives it
// a path. logger tells of failed writes.
func New(logger *zap.Logger) *File { return &File{logger: logger} }

// Mode is the permission of a new xferlog file: it names the users and
// files of every transfer.
const Mode = 0o640

// Prepare opens path for appending (creating it with Mode) without
// changing what the File writes to; the returned commit makes it the
// File's and closes the file it replaces. An empty path turns the log
// off. Prepare of the same path reopens it: after a rotation (the file
// renamed), the next line goes to a new file at path. A file prepared but
// never committed (a reload rejected by a later step) is closed by the
// runtime's finalizer of os.File.
func (l *File) Prepare(path string) (commit func(), err error) {
	var f *os.File
	if path != "" {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, Mode)
		if err != nil {
			return nil, fmt.Errorf("xferlog: %w", err)
		}
	}
	return func() {
		l.mu.Lock()
		old := l.f
		l.f, l.path, l.failing = f, path, false
		l.mu.Unlock()
		if old != nil {
			if err := old.Close(); err != nil {
				l.logger.Warn("xferlog close failed", zap.Error(err))
			}
		}
	}, nil
}

// Write appends r's line; without a file it does nothing. The line is one
// write, so that lines of concurrent transfers never interleave.
func (l *File) Write(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	l.buf = AppendLine(l.buf[:0], r)
	_, err := l.f.Write(l.buf)
	switch {
	case err != nil && !l.failing:
		l.failing = true
		l.logger.Warn("xferlog write failed", zap.String("xferlog", l.path), zap.Error(err)) // once, until a write succeeds
	case err == nil && l.failing:
		l.failing = false
		l.logger.Info("xferlog writes again", zap.String("xferlog", l.path))
	}
}

// Close closes the file; later writes do nothing.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Check reports what would keep Prepare from opening path, creating
// nothing: its directory must exist, and the path must not be a directory.
// The empty path (no xferlog) passes.
func Check(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("xferlog: %w", err)
	case !info.IsDir():
		return fmt.Errorf("xferlog: %s is not a directory", dir)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("xferlog: %s is a directory", path)
	}
	return nil
}
