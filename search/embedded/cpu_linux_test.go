package embedded_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time, background merges and GC included.
func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// threadCPU is the calling thread's CPU time: with the goroutine locked to its
// thread, what one query costs. On a machine shared with other work the wall
// clock includes waiting for a core; this does not.
func threadCPU() time.Duration { return rusage(syscall.RUSAGE_THREAD) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
