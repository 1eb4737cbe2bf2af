package server

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"github.com/switchyard/switchyard/graph"
)

func TestSharedResultsExecuteOncePerOperationAndEvent(t *testing.T) {
	var c sharedResults
	opA := resultKey{hash: [32]byte{1}}
	opB := resultKey{hash: [32]byte{2}}
	alice := resultKey{hash: [32]byte{10}}
	var fills atomic.Int64
	fill := func(tag string) func(*sharedResult) {
		return func(r *sharedResult) {
			fills.Add(1)
			r.payload, r.universal = []byte(tag), true
		}
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := string(c.get(opA, alice, 7, fill("a7")).payload); got != "a7" {
				t.Errorf("a/7 = %q", got)
			}
		})
	}
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Fatalf("50 subscribers of one operation executed event 7 %d times, want once", n)
	}
	if got := string(c.get(opB, alice, 7, fill("b7")).payload); got != "b7" {
		t.Errorf("another operation got %q", got)
	}
	if got := string(c.get(opA, alice, 8, fill("a8")).payload); got != "a8" {
		t.Errorf("another event got %q", got)
	}
	if got := string(c.get(opA, alice, 7, fill("again")).payload); got != "a7" {
		t.Errorf("a/7 again = %q", got)
	}
	if n := fills.Load(); n != 3 {
		t.Errorf("%d executions, want 3", n)
	}
}

// A result that ran resolvers is its caller's own; one that did not is
// everyone's.
func TestSharedResultsPerCallerOnlyWhenDependent(t *testing.T) {
	var c sharedResults
	op := resultKey{hash: [32]byte{1}}
	alice, bob := resultKey{hash: [32]byte{10}}, resultKey{hash: [32]byte{11}}
	fills := 0
	fill := func(universal bool) func(*sharedResult) {
		return func(r *sharedResult) {
			fills++
			r.payload, r.universal = []byte{byte(fills)}, universal
		}
	}
	// Event 1 reads only its own data: Bob gets Alice's execution.
	a := c.get(op, alice, 1, fill(true))
	if b := c.get(op, bob, 1, fill(true)); b != a || fills != 1 {
		t.Errorf("a universal result was executed again for another caller (%d executions)", fills)
	}
	// Event 2 ran a resolver: Bob gets his own, once, and Alice keeps hers.
	a = c.get(op, alice, 2, fill(false))
	b := c.get(op, bob, 2, fill(false))
	if b == a || fills != 3 {
		t.Fatalf("a caller-dependent result was shared (%d executions)", fills)
	}
	if c.get(op, bob, 2, fill(false)) != b || c.get(op, alice, 2, fill(false)) != a || fills != 3 {
		t.Errorf("per-caller results were not kept (%d executions)", fills)
	}
}

// Two operations whose results land in the same set both stay.
func TestSharedResultsKeepCollidingOperations(t *testing.T) {
	var c sharedResults
	a := resultKey{hash: [32]byte{0x01}}
	b := resultKey{hash: [32]byte{0x01, 0x10}} // differs by 4096: the same set
	me := resultKey{hash: [32]byte{9}}
	fills := 0
	fill := func(r *sharedResult) { fills++; r.universal = true }
	c.get(a, me, 7, fill)
	c.get(b, me, 7, fill)
	c.get(a, me, 7, fill)
	c.get(b, me, 7, fill)
	if fills != 2 {
		t.Errorf("%d executions for two operations of one event, want 2", fills)
	}
}

// Results are dropped once the fan-out of their event is long over.
func TestSharedResultsSweepOldResults(t *testing.T) {
	var c sharedResults
	k := resultKey{hash: [32]byte{3}}
	me := resultKey{hash: [32]byte{9}}
	fills := 0
	fill := func(r *sharedResult) { fills++; r.universal = true }
	old := c.get(k, me, 1, fill)
	c.get(k, me, 2, fill)
	old.created = old.created.Add(-2 * sharedResultTTL)
	c.sweep()
	c.get(k, me, 1, fill) // swept: executed again
	c.get(k, me, 2, fill) // recent: kept
	if fills != 3 {
		t.Errorf("%d executions, want 3", fills)
	}
}

func TestKeyVariablesLeaveOutWhatOnlyChoosesEvents(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		want        []string
	}{
		{"after and project choose events", `subscription($p: ID, $a: String) { orderEvents(projectId: $p, after: $a) { cursor } }`,
			map[string]any{"p": "1", "a": "x"}, nil},
		{"a variable the selection uses stays", `subscription($a: String, $s: Boolean!) { orderEvents(after: $a) { cursor order @include(if: $s) { id } } }`,
			map[string]any{"a": "x", "s": true}, []string{"s"}},
		{"used in both stays", `subscription($s: Boolean!) { orderEvents(after: "x") @include(if: $s) { order @skip(if: $s) { id } } }`,
			map[string]any{"s": true}, []string{"s"}},
		{"through a fragment", `subscription($a: String, $s: Boolean!) { orderEvents(after: $a) { ...F } } fragment F on OrderEvent { order @include(if: $s) { id } }`,
			map[string]any{"a": "x", "s": true}, []string{"s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, tc.query)
			if errs != nil {
				t.Fatal(errs)
			}
			rc := &graphql.OperationContext{Operation: doc.Operations[0], Variables: tc.vars}
			var got []string
			for k := range keyVariables(rc) {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}
