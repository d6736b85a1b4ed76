package driver

import (
	"net"
	"sync"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/control"
	"ftpsd/metrics"
)

// fakeClient is the part of a lib client context a session uses when it
// is not connected through a control.Conn.
type fakeClient struct{ ftpserver.ClientContext }

func (fakeClient) ID() uint32           { return 1 }
func (fakeClient) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (fakeClient) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }

// TestCutWhileLoggingIn: a session logging in (which gives its logger the
// user) while shutdown cuts it (which logs with that logger) must not race
// (go test -race).
func TestCutWhileLoggingIn(t *testing.T) {
	d := &Driver{
		registry: control.NewRegistry(),
		logger:   zap.NewNop(),
		metrics:  metrics.New(),
	}
	srv := &Server{driver: d, logger: zap.NewNop()}
	for range 50 {
		s := newSession(fakeClient{}, openConn(t, d.registry), d.logger, d.metrics)
		var wg sync.WaitGroup
		wg.Go(func() { s.login(localAdmission(config.User{Name: "alice"}), &memoryHome{}) })
		wg.Go(func() { srv.cut() })
		wg.Wait()
	}
}
