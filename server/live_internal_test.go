package server

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestSharedResultsExecuteOncePerOperationAndEvent(t *testing.T) {
	var c sharedResults
	a := resultKey{hash: [32]byte{1}}
	b := resultKey{hash: [32]byte{2}}
	var fills atomic.Int64
	fill := func(tag string) func(*sharedResult) {
		return func(r *sharedResult) {
			fills.Add(1)
			r.payload = []byte(tag)
		}
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := string(c.get(a, 7, fill("a7")).payload); got != "a7" {
				t.Errorf("a/7 = %q", got)
			}
		})
	}
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Fatalf("50 subscribers of one operation executed event 7 %d times, want once", n)
	}
	if got := string(c.get(b, 7, fill("b7")).payload); got != "b7" {
		t.Errorf("another operation got %q", got)
	}
	if got := string(c.get(a, 8, fill("a8")).payload); got != "a8" {
		t.Errorf("another event got %q", got)
	}
	if got := string(c.get(a, 7, fill("again")).payload); got != "a7" {
		t.Errorf("a/7 again = %q", got)
	}
	if n := fills.Load(); n != 3 {
		t.Errorf("%d executions, want 3", n)
	}
}

// Two operations whose results land in the same set both stay.
func TestSharedResultsKeepCollidingOperations(t *testing.T) {
	var c sharedResults
	a := resultKey{hash: [32]byte{0x01}}
	b := resultKey{hash: [32]byte{0x01, 0x10}} // differs by 4096: the same set
	fills := 0
	fill := func(r *sharedResult) { fills++ }
	c.get(a, 7, fill)
	c.get(b, 7, fill)
	c.get(a, 7, fill)
	c.get(b, 7, fill)
	if fills != 2 {
		t.Errorf("%d executions for two operations of one event, want 2", fills)
	}
}

// Results are dropped once the fan-out of their event is long over.
func TestSharedResultsSweepOldResults(t *testing.T) {
	var c sharedResults
	k := resultKey{hash: [32]byte{3}}
	fills := 0
	fill := func(r *sharedResult) { fills++ }
	old := c.get(k, 1, fill)
	c.get(k, 2, fill)
	old.created = old.created.Add(-2 * sharedResultTTL)
	c.sweep()
	c.get(k, 1, fill) // swept: executed again
	c.get(k, 2, fill) // recent: kept
	if fills != 3 {
		t.Errorf("%d executions, want 3", fills)
	}
}
