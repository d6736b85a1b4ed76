package driver

import (
	"time"

	"ftpsd/xferlog"
)

// logXfer writes the xferlog line of a transfer of path (the user's view)
// that started at start and moved n bytes; complete is false for a
// transfer that failed.
func (s *session) logXfer(path string, upload bool, n int64, start time.Time, complete bool) {
	if s.xferlog == nil {
		return
	}
	account, _ := s.loggedInAs()
	end := time.Now()
	s.xferlog.Write(xferlog.Record{
		End:      end,
		Duration: end.Sub(start),
		Remote:   s.client(),
		Bytes:    n,
		Path:     path,
		Upload:   upload,
		User:     account.Name,
		Complete: complete,
	})
}
