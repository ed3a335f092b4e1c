//go:build unix

package bustest

import (
	"syscall"
	"time"
)

// processCPU is the CPU time, user and system, the process has used so far.
func processCPU() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
