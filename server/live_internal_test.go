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
