package main

import (
	"context"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"ftpsd/every"
)

// notifier speaks systemd's sd_notify protocol when NOTIFY_SOCKET is set
// (Type=notify): READY=1 once listening, STOPPING=1 on shutdown, and
// WATCHDOG=1 at half the WatchdogSec interval.
type notifier struct {
	logger *zap.Logger
}

func newNotifier(logger *zap.Logger) *notifier { return &notifier{logger: logger} }

func (n *notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.logger.Warn("sd_notify failed", zap.String("state", state), zap.Error(err))
	}
}

func (n *notifier) ready()    { n.send(sd.SdNotifyReady) }
func (n *notifier) stopping() { n.send(sd.SdNotifyStopping) }

// watchdog pings systemd until ctx ends, when WatchdogSec is set.
func (n *notifier) watchdog(ctx context.Context) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	every.Run(ctx, interval/2, func() { n.send(sd.SdNotifyWatchdog) })
}
