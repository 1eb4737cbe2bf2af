package realtime

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// BenchmarkIdleSubscribers measures the hub's memory per idle subscription:
// its queue, its bookkeeping, its user's shared viewer and the context the
// transport would give it. The budget is 20 KB per idle subscriber
// for the whole server; the hub's share is reported as B/subscriber.
func BenchmarkIdleSubscribers(b *testing.B) {
	for _, users := range []int{10000, 100} {
		b.Run(fmt.Sprintf("10000subs_%dusers", users), func(b *testing.B) {
			const n = 10000
			w := newWorld(b, HubOptions{})
			for u := range users {
				w.viewers.member(fmt.Sprint("u", u), "p1", fmt.Sprint("own-", u))
			}
			var perSub, goroutines float64
			for b.Loop() {
				cancels := make([]context.CancelFunc, 0, n)
				subs := make([]switchyard.Subscription, 0, n)
				g0 := runtime.NumGoroutine()
				before := heap()
				for i := range n {
					ctx, cancel := context.WithCancel(callerCtx(context.Background(), fmt.Sprint("u", i%users)))
					sub, err := w.hub.Subscribe(ctx, switchyard.EventFilter{ProjectID: "p1"})
					if err != nil {
						b.Fatal(err)
					}
					cancels = append(cancels, cancel)
					subs = append(subs, sub)
				}
				after := heap()
				perSub = float64(after-before) / n
				goroutines = float64(runtime.NumGoroutine()-g0) / n
				for _, c := range cancels {
					c()
				}
				for _, s := range subs {
					for range s.Events() {
					}
				}
				runtime.KeepAlive(subs)
			}
			b.ReportMetric(perSub, "B/subscriber")
			b.ReportMetric(goroutines, "goroutines/subscriber")
		})
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkFanout10000 publishes one event to 10,000 subscribers, each read
// by its own goroutine as a transport would, and waits for all of them.
// Latency is from the publish to each reader's receive.
func BenchmarkFanout10000(b *testing.B) {
	for _, users := range []int{10000, 100} {
		b.Run(fmt.Sprintf("%dusers", users), func(b *testing.B) {
			const n = 10000
			w := newWorld(b, HubOptions{})
			for u := range users {
				w.viewers.member(fmt.Sprint("u", u), "p1")
			}
			var (
				received  atomic.Int64
				allIn     = make(chan struct{}, 1)
				published atomic.Int64 // UnixNano of the current publish
				latMu     sync.Mutex
				latencies []time.Duration
			)
			ctx, cancel := context.WithCancel(context.Background())
			var readers sync.WaitGroup
			for i := range n {
				sub, err := w.hub.Subscribe(callerCtx(ctx, fmt.Sprint("u", i%users)), switchyard.EventFilter{ProjectID: "p1"})
				if err != nil {
					b.Fatal(err)
				}
				readers.Go(func() {
					var mine []time.Duration
					for range sub.Events() {
						mine = append(mine, time.Duration(time.Now().UnixNano()-published.Load()))
						if received.Add(1)%n == 0 {
							allIn <- struct{}{}
						}
					}
					latMu.Lock()
					latencies = append(latencies, mine...)
					latMu.Unlock()
				})
			}
			b.ResetTimer()
			for b.Loop() {
				published.Store(time.Now().UnixNano())
				w.commit(orderEvent("p1", "o1", "cust"))
				select {
				case <-allIn:
				case <-time.After(30 * time.Second):
					b.Fatalf("%d of %d deliveries after 30s", received.Load()%n, n)
				}
			}
			b.StopTimer()
			elapsed := b.Elapsed()
			cancel()
			readers.Wait()
			slices.Sort(latencies)
			pct := func(p float64) float64 {
				return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "deliveries/s")
		})
	}
}
