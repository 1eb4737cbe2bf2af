//go:build !linux

package embedded_test

import "time"

// cpuTime and threadCPU are measured on Linux only; elsewhere the benchmark
// reports wall-clock figures alone.
func cpuTime() time.Duration   { return 0 }
func threadCPU() time.Duration { return 0 }
