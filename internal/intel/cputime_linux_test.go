package intel

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used (Linux
// RUSAGE_THREAD), so that benchmarks can report throughput per CPU second
// on a machine that other work keeps busy.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
