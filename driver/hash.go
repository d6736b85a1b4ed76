package driver

import (
	"crypto/sha1" //nolint:gosec // offered for clients that offer nothing stronger
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"
)

// HASH (draft-bryan-ftpext-hash) and the lib's XSHA1, XSHA256 and XSHA512,
// with server.hash_command. The lib parses the command, Stats the file and
// writes the reply; the driver reads the file (ComputeHash). The lib runs
// the command on the session's command goroutine after any transfer of
// the session ended, so a session hashes one file at a time and commands
// sent behind a HASH wait for it; the hash counts as a transfer of the
// session (shutdown lets it finish, the home stays open).

// hashAlgorithms are the algorithms ftpsd computes, in FEAT's order: the
// draft's SHA-256 (the default) and SHA-512, and SHA-1 for clients that
// offer nothing stronger (XSHA, XSHA1). The lib's CRC32 and MD5 (XCRC,
// MD5, XMD5) are refused with 504.
var hashAlgorithms = []struct {
	name string
	algo ftpserver.HASHAlgo
	new  func() hash.Hash
}{
	{"SHA-1", ftpserver.HASHAlgoSHA1, sha1.New},
	{"SHA-256", ftpserver.HASHAlgoSHA256, sha256.New},
	{"SHA-512", ftpserver.HASHAlgoSHA512, sha512.New},
}

// hashNames returns the names of hashAlgorithms, for FEAT.
func hashNames() []string {
	names := make([]string, len(hashAlgorithms))
	for i, a := range hashAlgorithms {
		names[i] = a.name
	}
	return names
}

// errHashAlgorithm refuses an algorithm ftpsd does not compute (504).
var errHashAlgorithm = errors.New("hash algorithm not offered")

// hashCommands are the lib's commands that hash a file.
var hashCommands = map[string]bool{
	"HASH": true, "XCRC": true, "MD5": true, "XMD5": true,
	"XSHA": true, "XSHA1": true, "XSHA256": true, "XSHA512": true,
}

// hashing reports whether the command in progress hashes a file.
func (c *clientFs) hashing() bool {
	return c.session.cc != nil && hashCommands[c.session.cc.GetLastCommand()]
}

// hashStat is Stat for the lib's hash commands, which Stat the client's
// argument as it was given: a relative name is taken from the current
// directory, as the lib's hash itself does, and what cannot be hashed
// (a directory, a partial upload, a missing file) fails here, answered 550.
func (c *clientFs) hashStat(name string) (os.FileInfo, error) {
	if !path.IsAbs(name) {
		name = path.Join(c.session.cc.Path(), name)
	}
	if isUploadTemp(name) {
		return nil, c.failed(name, errReserved, false)
	}
	info, err := c.Fs.Stat(name)
	if err == nil && !info.Mode().IsRegular() {
		err = &os.PathError{Op: "hash", Path: name, Err: errIsDir}
	}
	return info, c.failed(name, err, false)
}

// ComputeHash returns the hex digest of name's bytes from start to end
// with algo, read as a download would read them.
func (c *clientFs) ComputeHash(name string, algo ftpserver.HASHAlgo, start, end int64) (string, error) {
	var h hash.Hash
	for _, a := range hashAlgorithms {
		if a.algo == algo {
			h = a.new()
		}
	}
	if h == nil {
		return "", c.failed(name, errHashAlgorithm, false)
	}
	if err := c.session.beginTransfer(); err != nil {
		return "", c.failed(name, err, false)
	}
	defer c.session.endTransfer()
	began := time.Now()
	n, err := c.hashFile(h, name, start, end)
	if err != nil {
		return "", c.failed(name, err, false)
	}
	c.session.log().Info("hash", zap.String("path", name), zap.Int64("bytes", n),
		zap.Duration("duration", time.Since(began)))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes name's bytes from start to end into h; it stops when the
// server ends the session (a shutdown's cut, a reload that revoked the
// account). A client that leaves is seen only after the hash: the lib
// reads no command while it runs.
func (c *clientFs) hashFile(h hash.Hash, name string, start, end int64) (int64, error) {
	if start < 0 || end < start {
		return 0, fmt.Errorf("%w: range %d-%d", errBadOffset, start, end)
	}
	f, _, err := c.openFile(name)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	if start > 0 {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return 0, err
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(h, io.LimitReader(whileOpen{f, c.session}, end-start), *bp)
	return n, err
}

// whileOpen reads r until the session ends or is being ended.
type whileOpen struct {
	r io.Reader
	s *session
}

func (w whileOpen) Read(p []byte) (int, error) {
	if w.s.isClosed() || w.s.isEnding() {
		return 0, errSessionClosed
	}
	return w.r.Read(p)
}

// hashFeatures returns the algorithms FEAT lists, nil when HASH is off.
func (d *Driver) hashFeatures() []string {
	if !d.cfg.Server.HashCommand {
		return nil
	}
	return hashNames()
}
