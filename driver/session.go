package driver

import (
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"
)

// session is the driver's state of one control connection.
type session struct {
	logger *zap.Logger // carries session id, remote address and, after login, user

	mu sync.Mutex
	fs *userFs
}

func newSession(cc ftpserver.ClientContext, logger *zap.Logger) *session {
	return &session{logger: logger.With(
		zap.Uint32("session", cc.ID()),
		zap.String("remote", cc.RemoteAddr().String()),
	)}
}

// sessionOf returns the session of cc, making one if the lib skipped
// ClientConnected.
func sessionOf(cc ftpserver.ClientContext, logger *zap.Logger) *session {
	if s, ok := cc.Extra().(*session); ok {
		return s
	}
	s := newSession(cc, logger)
	cc.SetExtra(s)
	return s
}

// login records the user; it happens on the command goroutine before any
// transfer goroutine of the session starts.
func (s *session) login(user string, fs *userFs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logger = s.logger.With(zap.String("user", user))
	if s.fs != nil {
		_ = s.fs.close() // a second login replaces the first
	}
	s.fs = fs
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fs != nil {
		if err := s.fs.close(); err != nil {
			s.logger.Warn("close home", zap.Error(err))
		}
		s.fs = nil
	}
	s.logger.Debug("session closed")
}
