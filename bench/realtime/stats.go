package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// summary is the distribution of a set of latencies.
type summary struct {
	N                       int
	Min, P50, P90, P99, Max time.Duration
	Mean                    time.Duration
}

// summarize sorts samples in place and reads the percentiles off them by the
// nearest-rank method: p is the smallest sample with at least p% of all
// samples at or below it, so p99 of 10,000 deliveries is the 9,900th fastest
// and the max is never hidden by interpolation.
func summarize(samples []time.Duration) summary {
	if len(samples) == 0 {
		return summary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	return summary{
		N:    len(samples),
		Min:  samples[0],
		P50:  percentile(samples, 50),
		P90:  percentile(samples, 90),
		P99:  percentile(samples, 99),
		Max:  samples[len(samples)-1],
		Mean: time.Duration(sum / float64(len(samples))),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted, which must
// not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms formats d as milliseconds with one decimal, the unit of every latency
// the generator prints.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// kib formats a byte count as KiB with one decimal.
func kib(b float64) string { return fmt.Sprintf("%.1f", b/1024) }

// mib formats a byte count as MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// commas groups digits by thousands: 10000 → "10,000".
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
