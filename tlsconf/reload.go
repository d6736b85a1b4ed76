package tlsconf

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"ftpsd/every"
)

// ReloadFiles loads the certificate and key at the given paths (which may
// be the ones in use) and makes them current; later reloads and Watch use
// these paths. On failure nothing changes. It fails for a self-signed
// store, whose certificate has no files.
func (s *Store) ReloadFiles(certFile, keyFile string) error {
	commit, err := s.PrepareFiles(certFile, keyFile)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// PrepareFiles is the first phase of ReloadFiles: it loads and checks the
// pair without changing anything, and returns the commit that makes it
// current (and cannot fail). It is safe for concurrent use.
func (s *Store) PrepareFiles(certFile, keyFile string) (commit func(), err error) {
	s.mu.Lock()
	selfSigned := s.opts.SelfSigned
	s.mu.Unlock()
	if selfSigned {
		return nil, fmt.Errorf("reload: the certificate is self-signed; switching to files needs a restart")
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.opts.CertFile, s.opts.KeyFile = certFile, keyFile
		s.others.Store(nil)
		s.cert.Store(cert)
		s.stamp = s.fileStamp()
		s.logLoaded(cert, certFile, keyFile)
	}, nil
}

// Watch re-reads the certificate files whenever their size or
// modification time changes, checking every interval, until ctx ends. A
// failed reload is logged and keeps the old certificate.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if s.opts.SelfSigned {
		return
	}
	every.Run(ctx, interval, s.reloadIfChanged)
}

func (s *Store) reloadIfChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := s.fileStamp()
	if stamp == s.stamp {
		return
	}
	cert, err := s.loadFiles()
	if err != nil {
		// Files being replaced may be half written: try again next time.
		s.logger.Warn("certificate files changed but could not be loaded; keeping the current certificate", zap.Error(err))
		return
	}
	s.others.Store(nil)
	s.cert.Store(cert)
	s.stamp = stamp
}

// fileStamp summarizes the size and modification time of both files.
func (s *Store) fileStamp() string {
	var stamp string
	for _, p := range []string{s.opts.CertFile, s.opts.KeyFile} {
		if fi, err := os.Stat(p); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return stamp
}
