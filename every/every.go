// Package every runs a function at a fixed interval until a context ends:
// the ticker loop of the background jobs (public-address refresh,
// certificate file watch, systemd watchdog).
package every

import (
	"context"
	"time"
)

// Run calls fn every interval, the first time one interval from now,
// until ctx ends. It blocks: run it in a goroutine of its own.
func Run(ctx context.Context, interval time.Duration, fn func()) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			fn()
		}
	}
}
