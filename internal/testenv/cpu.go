package testenv

import (
	"syscall"
	"testing"
)

// ProcessCPU returns the CPU time (user and system) the test process has
// used so far, in nanoseconds: a benchmark reports the difference per
// operation, which a loaded machine does not inflate as it does wall
// time.
func ProcessCPU(tb testing.TB) int64 {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
