package main

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	seq := func(n int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(n-i) * time.Millisecond // reversed: summarize sorts
		}
		return s
	}
	tests := []struct {
		name                    string
		samples                 []time.Duration
		p50, p90, p99, max, min time.Duration
	}{
		{"one", []time.Duration{7}, 7, 7, 7, 7, 7},
		{"two", []time.Duration{2, 1}, 1, 2, 2, 2, 1},
		{"hundred", seq(100), 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond, time.Millisecond},
		{"ten thousand", seq(10_000), 5000 * time.Millisecond, 9000 * time.Millisecond, 9900 * time.Millisecond, 10_000 * time.Millisecond, time.Millisecond},
		// p99 of 101 samples is the 100th (ceil(99.99)): one slow outlier
		// in a hundred and one still shows only in the max.
		{"outlier", append(seq(100), time.Hour), 51 * time.Millisecond, 91 * time.Millisecond, 100 * time.Millisecond, time.Hour, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.samples)
			if s.P50 != tt.p50 || s.P90 != tt.p90 || s.P99 != tt.p99 || s.Max != tt.max || s.Min != tt.min {
				t.Errorf("got p50 %v p90 %v p99 %v max %v min %v; want %v %v %v %v %v", s.P50, s.P90, s.P99, s.Max, s.Min, tt.p50, tt.p90, tt.p99, tt.max, tt.min)
			}
			if s.N != len(tt.samples) {
				t.Errorf("N = %d, want %d", s.N, len(tt.samples))
			}
		})
	}
	if s := summarize(nil); s != (summary{}) {
		t.Errorf("summarize(nil) = %+v, want zero", s)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAnalyse(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	at := func(ms int) int64 { return base.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	events := []*triggered{
		{tag: "w", phase: "warmup", responded: base},
		{tag: "a", phase: "fanout", sent: base, responded: base.Add(5 * time.Millisecond)},
		{tag: "b", phase: "fanout", sent: base.Add(time.Second), responded: base.Add(time.Second + 5*time.Millisecond)},
	}
	ds := []delivery{
		// a committed (occurredAt) at +2 ms; three subscribers get it.
		{sub: 0, event: 1, occurred: at(2), recv: at(12)},
		{sub: 1, event: 1, occurred: at(2), recv: at(22)},
		{sub: 2, event: 1, occurred: at(2), recv: at(32)},
		// b at +1002 ms; one subscriber misses it.
		{sub: 0, event: 2, occurred: at(1002), recv: at(1004)},
		{sub: 1, event: 2, occurred: at(1002), recv: at(1006)},
	}
	st := analyse(ds, events, "fanout", 3)
	all, first, reached, fromResp, missing, lag := st.all, st.first, st.reached, st.fromResp, st.missing, st.commitLag
	if len(st.changes) != 2 || st.changes[0] != (changeReach{10 * time.Millisecond, 30 * time.Millisecond}) || st.changes[1] != (changeReach{2 * time.Millisecond, 4 * time.Millisecond}) {
		t.Errorf("changes = %+v; want a: 10–30 ms, b: 2–4 ms", st.changes)
	}
	if all.N != 5 || all.Max != 30*time.Millisecond || all.Min != 2*time.Millisecond {
		t.Errorf("all = %+v; want 5 samples from 2 ms to 30 ms", all)
	}
	if first.N != 2 || first.Max != 10*time.Millisecond || first.Min != 2*time.Millisecond {
		t.Errorf("first = %+v; want a: 10 ms, b: 2 ms", first)
	}
	if reached.N != 2 || reached.Max != 30*time.Millisecond || reached.Min != 4*time.Millisecond {
		t.Errorf("reached = %+v; want a: 30 ms, b: 4 ms", reached)
	}
	if fromResp.Min != -time.Millisecond || fromResp.Max != 27*time.Millisecond {
		t.Errorf("fromResp = %+v; want -1 ms (b delivered before its response) to 27 ms", fromResp)
	}
	if missing != 1 {
		t.Errorf("missing = %d, want 1", missing)
	}
	if lag != 3*time.Millisecond {
		t.Errorf("commit lag = %v, want 3ms (response 3 ms after occurredAt)", lag)
	}
}
