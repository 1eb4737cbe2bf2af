// Package brokertest is the conformance suite every switchyard.Broker passes:
// run it from the implementation's tests with a constructor for fresh,
// isolated brokers.
package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// wait bounds every wait for a delivery; deliveries normally take
// microseconds, and a loaded CI machine gets ample slack.
const wait = 10 * time.Second

// Run runs the suite. newBroker returns a broker isolated from every other
// broker it returned (for Redis: its own channel), cleaned up with t.
//
// A nil on a subscription ("events may have been lost") fails these tests:
// the contract allows one at any time, but a healthy broker under this
// light load has no reason to send one, and one would hide lost events.
func Run(t *testing.T, newBroker func(t *testing.T) switchyard.Broker) {
	t.Run("PublishOrder", func(t *testing.T) {
		b := newBroker(t)
		ch := subscribe(t, b)
		const n = 200
		for i := 1; i <= n; i++ {
			publish(t, b, event(int64(i)))
		}
		for i := 1; i <= n; i++ {
			if e := receive(t, ch); e.Seq != int64(i) {
				t.Fatalf("event %d: got seq %d; want publish order", i, e.Seq)
			}
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		b := newBroker(t)
		ch := subscribe(t, b)
		project, actor := "p-1", "u-9"
		want := &switchyard.Event{
			ID: 42, Seq: 7, Type: switchyard.EventOrderStatusChanged, SubjectType: "order", SubjectID: "o-1",
			ProjectID: &project, UserIDs: []string{"u-1", "u-2"}, ActorID: &actor,
			Data:       json.RawMessage(`{"id":"o-1","status":"SHIPPED","note":"ünïcødé \u2028 \"quoted\""}`),
			OccurredAt: time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC),
		}
		publish(t, b, want)
		assertSame(t, receive(t, ch), want)

		bare := &switchyard.Event{Seq: 8, Type: switchyard.EventUserCreated, SubjectType: "user", SubjectID: "u-3"}
		publish(t, b, bare)
		assertSame(t, receive(t, ch), bare)
	})

	t.Run("FanOut", func(t *testing.T) {
		b := newBroker(t)
		chs := []<-chan *switchyard.Event{subscribe(t, b), subscribe(t, b), subscribe(t, b)}
		const n = 50
		for i := 1; i <= n; i++ {
			publish(t, b, event(int64(i)))
		}
		for k, ch := range chs {
			for i := 1; i <= n; i++ {
				if e := receive(t, ch); e.Seq != int64(i) {
					t.Fatalf("subscriber %d, event %d: got seq %d", k, i, e.Seq)
				}
			}
		}
	})

	t.Run("ConcurrentPublishersSameOrderEverywhere", func(t *testing.T) {
		b := newBroker(t)
		chs := []<-chan *switchyard.Event{subscribe(t, b), subscribe(t, b)}
		const publishers, each = 4, 50
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					if err := b.Publish(t.Context(), event(int64(p*each+i+1))); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		var orders [][]int64
		for _, ch := range chs {
			var got []int64
			for range publishers * each {
				got = append(got, receive(t, ch).Seq)
			}
			orders = append(orders, got)
		}
		if !slices.Equal(orders[0], orders[1]) {
			t.Fatalf("subscribers saw different orders:\n%v\n%v", orders[0], orders[1])
		}
		sorted := slices.Sorted(slices.Values(orders[0]))
		for i, s := range sorted {
			if s != int64(i+1) {
				t.Fatalf("events lost or repeated: %v", sorted)
			}
		}
	})

	t.Run("OnlyEventsAfterSubscribe", func(t *testing.T) {
		b := newBroker(t)
		early := subscribe(t, b) // proves the first event was really published
		publish(t, b, event(1))
		if e := receive(t, early); e.Seq != 1 {
			t.Fatalf("got seq %d; want 1", e.Seq)
		}
		late := subscribe(t, b)
		publish(t, b, event(2))
		if e := receive(t, late); e.Seq != 2 {
			t.Fatalf("a subscriber got seq %d, published before it subscribed", e.Seq)
		}
	})

	t.Run("CancelClosesChannel", func(t *testing.T) {
		b := newBroker(t)
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := b.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other := subscribe(t, b)
		publish(t, b, event(1))
		cancel()
		deadline := time.After(wait)
		for open := true; open; {
			select {
			case _, open = <-ch:
			case <-deadline:
				t.Fatal("the channel stayed open after its context ended")
			}
		}
		// The broker keeps serving its other subscribers.
		publish(t, b, event(2))
		for _, want := range []int64{1, 2} {
			if e := receive(t, other); e.Seq != want {
				t.Fatalf("got seq %d; want %d", e.Seq, want)
			}
		}
	})

	t.Run("SubscribeWithEndedContext", func(t *testing.T) {
		b := newBroker(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ch, err := b.Subscribe(ctx)
		if err != nil {
			return // refusing is fine
		}
		select {
		case _, open := <-ch:
			for open {
				_, open = <-ch
			}
		case <-time.After(wait):
			t.Fatal("a subscription with an ended context stayed open")
		}
	})

	t.Run("NoGoroutineLeak", func(t *testing.T) {
		b := newBroker(t)
		// Warm up: brokers may start lasting goroutines on first use (a
		// connection pool); the leak is what grows per subscription.
		warm := subscribe(t, b)
		publish(t, b, event(1))
		receive(t, warm)
		before := runtime.NumGoroutine()
		for range 10 {
			ctx, cancel := context.WithCancel(t.Context())
			ch, err := b.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			for range ch {
			}
		}
		deadline := time.Now().Add(wait)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d before, %d after ten ended subscriptions\n%s",
					before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("LargePayload", func(t *testing.T) {
		b := newBroker(t)
		ch := subscribe(t, b)
		big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		data, _ := json.Marshal(map[string]string{"blob": big})
		want := &switchyard.Event{Seq: 1, Type: switchyard.EventOrderCreated, SubjectType: "order", SubjectID: "o-1", Data: data}
		publish(t, b, want)
		publish(t, b, event(2))
		assertSame(t, receive(t, ch), want)
		if e := receive(t, ch); e.Seq != 2 {
			t.Fatalf("after the large event got seq %d", e.Seq)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newBroker(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func event(seq int64) *switchyard.Event {
	return &switchyard.Event{
		ID: seq, Seq: seq, Type: switchyard.EventOrderCreated, SubjectType: "order",
		SubjectID: fmt.Sprintf("o-%d", seq), Data: json.RawMessage(`{}`),
		OccurredAt: time.Unix(1700000000+seq, 0).UTC(),
	}
}

func subscribe(t *testing.T, b switchyard.Broker) <-chan *switchyard.Event {
	t.Helper()
	ch, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return ch
}

func publish(t *testing.T, b switchyard.Broker, e *switchyard.Event) {
	t.Helper()
	if err := b.Publish(t.Context(), e); err != nil {
		t.Fatalf("Publish seq %d: %v", e.Seq, err)
	}
}

func receive(t *testing.T, ch <-chan *switchyard.Event) *switchyard.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("the subscription closed early")
		}
		if e == nil {
			t.Fatal("unexpected loss signal (nil) from a healthy broker")
		}
		return e
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
	}
	return nil
}

func assertSame(t *testing.T, got, want *switchyard.Event) {
	t.Helper()
	if got.ID != want.ID || got.Seq != want.Seq || got.Type != want.Type || got.SubjectType != want.SubjectType ||
		got.SubjectID != want.SubjectID || !equalPtr(got.ProjectID, want.ProjectID) || !equalPtr(got.ActorID, want.ActorID) ||
		!slices.Equal(got.UserIDs, want.UserIDs) || !got.OccurredAt.Equal(want.OccurredAt) {
		t.Fatalf("event changed in transit:\n got %+v\nwant %+v", got, want)
	}
	if !jsonEqual(got.Data, want.Data) {
		t.Fatalf("data changed in transit: got %d bytes %.100q, want %d bytes %.100q", len(got.Data), got.Data, len(want.Data), want.Data)
	}
}

func equalPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
