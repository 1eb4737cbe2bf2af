package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is the server one run measures.
type target struct {
	url string
	pid int        // 0: memory and CPU are not read
	own *ownServer // nil for --url
	// debug is the profiling listener (--profile), else nil.
	debug *debugClient
}

// subscriberConn is an open subscriber of either transport.
type subscriberConn interface{ close() }

// result is what one run measured.
type result struct {
	transport   string
	n           int
	opened      int
	openTime    time.Duration
	confirmTime time.Duration
	loadStart   string
	loadEnd     string

	// Server memory, when its pid is known.
	rssBase, rssIdle, rssPeak int64
	perSub                    float64 // bytes of RSS per idle subscriber
	heapBase, heapIdle        *gcLine // from gctrace, own server only
	threads                   int
	// With --profile: the Go runtime's figures and RSS, each right after a
	// forced collection.
	goBase, goIdle          *goStats
	rssBaseGC, rssIdleGC    int64
	heapProfile, cpuProfile string

	fanout     summary // commit → client, over every delivery of the fan-out phase
	allReached summary // per change: commit → the last subscriber has it
	oneReached summary // per change: commit → the first subscriber has it
	fromResp   summary // mutation response → client (the response follows the commit)
	commitLag  time.Duration
	missing    int // fan-out deliveries that never came
	timeouts   int
	serverCPU  time.Duration // during the fan-out phase
	genFanCPU  time.Duration // the generator's own, during the fan-out phase
	fanGCs     int           // collections the server finished during the fan-out (own server)
	fanEvents  int

	burstEvents    int
	burstDelivered int
	burstDur       time.Duration
	burstRate      float64
	burst          summary
	burstMissing   int
	genCPU         time.Duration
	ended, failed  int64
	badFrames      int64
	unknown        int64
	errors         string
}

// changer makes the changes subscribers are told about.
type changer struct {
	o     *options
	api   *api
	table *eventTable
	run   string
	order orderRef   // shipment: the one order changed every time
	queue []orderRef // status: PENDING orders not used yet
	used  map[string]bool
	seq   int
}

// newChanger picks the order(s) to change among those the subscribers' user
// may read in a project it belongs to, so every change reaches every
// subscriber.
func newChanger(ctx context.Context, o *options, a *api, table *eventTable, runID string) (*changer, error) {
	c := &changer{o: o, api: a, table: table, run: runID, used: make(map[string]bool)}
	if o.trigger == "status" {
		return c, c.refill(ctx)
	}
	orders, _, _, err := a.findOrders(ctx, o.token, []string{"PENDING", "PAID", "FULFILLED", "SHIPPED", "DELIVERED"}, 50, "")
	if err != nil {
		return nil, err
	}
	for _, r := range orders {
		if r.ProjectID == "" {
			continue
		}
		// A harmless first change proves the trigger's token may change it.
		if err := a.setShipment(ctx, o.triggerToken, r.ID, runID+"-probe"); err != nil {
			continue
		}
		c.order = r
		return c, nil
	}
	return nil, errors.New("no order that the subscribers may see (in one of their projects) could be changed with the trigger token")
}

func (c *changer) refill(ctx context.Context) error {
	refs, _, _, err := c.api.findOrders(ctx, c.o.token, []string{"PENDING"}, 100, "")
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.ProjectID != "" && !c.used[r.ID] {
			c.queue = append(c.queue, r)
		}
	}
	if len(c.queue) == 0 {
		return errors.New("no PENDING order left that the subscribers may see: use --trigger shipment, or a larger --seed-scale")
	}
	return nil
}

// fire makes one change and records it in the event table before the
// mutation is sent, so a delivery that beats the response is matched.
func (c *changer) fire(ctx context.Context, phase string) (*triggered, error) {
	c.seq++
	if c.o.trigger == "shipment" {
		tag := fmt.Sprintf("%s-%d", c.run, c.seq)
		ev := c.table.add(tag, phase)
		ev.sent = time.Now()
		ev.err = c.api.setShipment(ctx, c.o.triggerToken, c.order.ID, tag)
		ev.responded = time.Now()
		return ev, ev.err
	}
	for attempt := 0; ; attempt++ {
		if len(c.queue) == 0 {
			if err := c.refill(ctx); err != nil {
				return nil, err
			}
		}
		r := c.queue[0]
		c.queue = c.queue[1:]
		c.used[r.ID] = true
		ev := c.table.add(r.ID+"/PAID", phase)
		ev.sent = time.Now()
		ev.err = c.api.updateStatus(ctx, c.o.triggerToken, r.ID, "PAID")
		ev.responded = time.Now()
		if ev.err == nil || attempt == 5 || ctx.Err() != nil {
			return ev, ev.err
		}
		// Not changeable by the trigger's user (another project's order the
		// subscriber sees as its customer): try the next.
	}
}

func runOne(ctx context.Context, o *options, t target, transport string, n int) (result, error) {
	res := result{transport: transport, n: n, loadStart: loadAvg()}
	genCPU0 := selfCPU()
	a := newAPI(t.url)
	u, err := url.Parse(t.url)
	if err != nil {
		return res, fmt.Errorf("--url: %w", err)
	}
	table := newEventTable()
	runID := fmt.Sprintf("bench-%s-%d-%d", transport, n, time.Now().UnixNano()%1_000_000)
	ch, err := newChanger(ctx, o, a, table, runID)
	if err != nil {
		return res, err
	}
	rec := newRecorder(n, o.subscription, o.trigger, table)
	rd, err := newReaders(o.reader)
	if err != nil {
		return res, err
	}
	defer rd.stop()
	op := subscriptionOperation(o.subscription, ch.order.ID, "")
	if o.projectFilter {
		op = subscriptionOperation(o.subscription, ch.order.ID, ch.order.ProjectID)
	}

	// Memory before: the server has served a few requests and is idle.
	if t.pid != 0 {
		sleepCtx(ctx, o.settle)
		st, err := readProcStatus(t.pid)
		if err != nil {
			return res, fmt.Errorf("read the server's memory: %w", err)
		}
		res.rssBase = st.RSS
		if t.own != nil {
			if g, ok := t.own.lastGC(); ok {
				res.heapBase = &g
			}
		}
		if t.debug != nil {
			g, err := t.debug.stats(ctx)
			if err != nil {
				return res, fmt.Errorf("profiling listener: %w", err)
			}
			res.goBase = &g
			if st, err := readProcStatus(t.pid); err == nil {
				res.rssBaseGC = st.RSS
			}
		}
	}

	// Open.
	step(fmt.Sprintf("%s: opening %s subscribers (%d at a time), load %s", transport, commas(n), o.connConcurrency, loadAvg()))
	conns := make([]subscriberConn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	var opened atomic.Int64
	openStart := time.Now()
	var open func(ctx context.Context, i int) (subscriberConn, error)
	switch transport {
	case "ws":
		wsURL := "ws://" + u.Host + "/graphql"
		frame := subscribeFrame("1", op)
		open = func(ctx context.Context, i int) (subscriberConn, error) {
			if o.distinct {
				return openWS(ctx, wsURL, o.token, subscribeFrame("1", op.distinct(i)), i, rec, rd)
			}
			return openWS(ctx, wsURL, o.token, frame, i, rec, rd)
		}
	case "sse":
		req := sseRequest(u.Host, o.token, op)
		open = func(ctx context.Context, i int) (subscriberConn, error) {
			if o.distinct {
				return openSSE(ctx, u.Host, sseRequest(u.Host, o.token, op.distinct(i)), i, rec, rd)
			}
			return openSSE(ctx, u.Host, req, i, rec, rd)
		}
	}
	stopProgress := progress(func() string {
		s := fmt.Sprintf("  opened %s/%s, failed %s", commas(int(opened.Load())), commas(n), commas(int(rec.failed.Load())))
		if transport == "sse" {
			s += fmt.Sprintf(", responses started %s", commas(int(rec.started.Load())))
		}
		return s + ", load " + loadAvg()
	})
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(o.connConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				octx, cancel := context.WithTimeout(ctx, 60*time.Second)
				c, err := open(octx, i)
				cancel()
				if err != nil {
					rec.openFailed(err)
					continue
				}
				conns[i] = c
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	res.opened = int(opened.Load())
	res.openTime = time.Since(openStart)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.opened == 0 {
		return res, fmt.Errorf("no subscriber could be opened:\n%s", rec.errorSummary())
	}
	step(fmt.Sprintf("%s: %s open in %s; confirming every subscription with warm-up changes", transport, commas(res.opened), res.openTime.Round(time.Millisecond)))

	// Confirm: a subscription is live on the server when it receives a
	// change; warm-up changes go out until every open subscriber has one.
	confirmStart := time.Now()
	alive := func() int { return res.opened - int(rec.ended.Load()) }
	stopProgress = progress(func() string {
		return fmt.Sprintf("  subscribed (confirmed by a delivery) %s/%s, ended %s, load %s", commas(int(rec.confirmed.Load())), commas(alive()), commas(int(rec.ended.Load())), loadAvg())
	})
	for int(rec.confirmed.Load()) < alive() {
		if time.Since(confirmStart) > o.confirmTimeout || ctx.Err() != nil {
			stopProgress()
			return res, fmt.Errorf("only %d of %d subscribers received a change within --subscribe-timeout %s:\n%s", rec.confirmed.Load(), alive(), o.confirmTimeout, rec.errorSummary())
		}
		if _, err := ch.fire(ctx, "warmup"); err != nil {
			stopProgress()
			return res, fmt.Errorf("warm-up change: %w", err)
		}
		before := rec.confirmed.Load()
		waitFor(ctx, 2*time.Second, func() bool {
			c := rec.confirmed.Load()
			return int(c) >= alive() || (c > before && time.Since(confirmStart) < time.Second)
		})
	}
	stopProgress()
	res.confirmTime = time.Since(confirmStart)
	// Let the warm-up's last deliveries land before the memory reading.
	quiesce(ctx, &rec.delivered, 500*time.Millisecond, o.eventTimeout)
	step(fmt.Sprintf("%s: all %s subscribed (%s); reading the server's idle memory", transport, commas(alive()), res.confirmTime.Round(time.Millisecond)))

	if t.pid != 0 {
		sleepCtx(ctx, o.settle)
		st, err := readProcStatus(t.pid)
		if err != nil {
			return res, fmt.Errorf("read the server's memory: %w", err)
		}
		res.rssIdle, res.rssPeak, res.threads = st.RSS, st.HWM, st.Threads
		res.perSub = float64(res.rssIdle-res.rssBase) / float64(alive())
		if t.own != nil {
			if g, ok := t.own.lastGC(); ok {
				res.heapIdle = &g
			}
		}
		if t.debug != nil {
			g, err := t.debug.stats(ctx)
			if err != nil {
				return res, fmt.Errorf("profiling listener: %w", err)
			}
			res.goIdle = &g
			if st, err := readProcStatus(t.pid); err == nil {
				res.rssIdleGC = st.RSS
			}
			res.heapProfile = filepath.Join(o.profileDir, fmt.Sprintf("%s-%d-heap.pb.gz", transport, n))
			if err := t.debug.save(ctx, "/debug/pprof/heap", res.heapProfile); err != nil {
				return res, fmt.Errorf("heap profile: %w", err)
			}
		}
	}
	rec.take() // the warm-up deliveries are not measured
	rec.reserve(alive() * (o.events + o.burst))
	defer withoutGC()()

	// Fan-out: one change at a time, each to every subscriber.
	step(fmt.Sprintf("%s: fan-out: %d changes, one at a time, to %s subscribers", transport, o.events, commas(alive())))
	var cpu0 time.Duration
	if t.pid != 0 {
		cpu0, _ = procCPU(t.pid)
	}
	if t.debug != nil {
		res.cpuProfile = filepath.Join(o.profileDir, fmt.Sprintf("%s-%d-cpu.pb.gz", transport, n))
		if err := t.debug.hook(ctx, "/bench/cpu/start?file="+url.QueryEscape(res.cpuProfile)); err != nil {
			return res, fmt.Errorf("start the CPU profile: %w", err)
		}
		defer func() { _ = t.debug.hook(context.WithoutCancel(ctx), "/bench/cpu/stop") }()
	}
	genFan0, fanGCs0 := selfCPU(), t.own.gcCount()
	lastPrint := time.Now()
	for i := range o.events {
		sleepCtx(ctx, o.gap)
		want := rec.delivered.Load() + int64(alive())
		start := time.Now()
		cost0, gcs0 := changeCost(t.pid), t.own.gcCount()
		if _, err := ch.fire(ctx, "fanout"); err != nil {
			return res, fmt.Errorf("change %d: %w", i+1, err)
		}
		if !waitFor(ctx, o.eventTimeout, func() bool { return rec.delivered.Load() >= want }) {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.timeouts++
		}
		if o.perChange {
			c := changeCost(t.pid).since(cost0)
			fmt.Fprintf(os.Stderr, "  change %d: all reached %s after the mutation was sent; meanwhile server CPU %s, generator CPU %s, machine idle %.0f%%, server GCs %d\n",
				i+1, time.Since(start).Round(time.Millisecond), c.server, c.generator.Round(time.Millisecond), c.idlePercent(), t.own.gcCount()-gcs0)
		}
		if time.Since(lastPrint) > 2*time.Second || i == o.events-1 {
			fmt.Fprintf(os.Stderr, "  change %d/%d reached %s/%s in %s, load %s\n", i+1, o.events,
				commas(int(rec.delivered.Load()-want)+alive()), commas(alive()), time.Since(start).Round(time.Millisecond), loadAvg())
			lastPrint = time.Now()
		}
	}
	if t.pid != 0 {
		cpu1, _ := procCPU(t.pid)
		res.serverCPU = cpu1 - cpu0
	}
	res.genFanCPU = selfCPU() - genFan0
	res.fanGCs = t.own.gcCount() - fanGCs0
	res.fanEvents = o.events
	fanDeliveries := rec.take()
	events := table.snapshot()
	fan := analyse(fanDeliveries, events, "fanout", alive())
	res.fanout, res.oneReached, res.allReached, res.fromResp, res.missing, res.commitLag = fan.all, fan.first, fan.reached, fan.fromResp, fan.missing, fan.commitLag
	if o.perChange {
		for i, c := range fan.changes {
			fmt.Fprintf(os.Stderr, "  change %d: occurredAt → first subscriber %s ms, → last %s ms\n", i+1, ms(c.first), ms(c.last))
		}
	}

	// Burst: changes back to back; deliveries per second.
	if o.burst > 0 {
		step(fmt.Sprintf("%s: burst: %d changes back to back to %s subscribers", transport, o.burst, commas(alive())))
		base := rec.delivered.Load()
		start := time.Now()
		for i := range o.burst {
			if _, err := ch.fire(ctx, "burst"); err != nil {
				return res, fmt.Errorf("burst change %d: %w", i+1, err)
			}
		}
		want := base + int64(o.burst*alive())
		waitFor(ctx, o.eventTimeout+time.Duration(o.burst)*time.Second, func() bool { return rec.delivered.Load() >= want })
		ds := rec.take()
		var lastRecv int64
		for _, d := range ds {
			lastRecv = max(lastRecv, d.recv)
		}
		res.burstEvents = o.burst
		res.burstDelivered = len(ds)
		if lastRecv > 0 {
			res.burstDur = time.Unix(0, lastRecv).Sub(start)
			res.burstRate = float64(len(ds)) / res.burstDur.Seconds()
		}
		burst := analyse(ds, table.snapshot(), "burst", alive())
		res.burst, res.burstMissing = burst.all, burst.missing
		fmt.Fprintf(os.Stderr, "  %s deliveries in %s, load %s\n", commas(len(ds)), res.burstDur.Round(time.Millisecond), loadAvg())
	}

	res.ended, res.failed = rec.ended.Load(), rec.failed.Load()
	res.badFrames, res.unknown = rec.badFrames.Load(), rec.unknown.Load()
	res.errors = rec.errorSummary()
	res.loadEnd = loadAvg()
	res.genCPU = selfCPU() - genCPU0
	return res, nil
}

// phaseStats is what analyse makes of one phase's deliveries.
type phaseStats struct {
	all       summary // receive − occurredAt, every delivery
	first     summary // per change, occurredAt → its first subscriber
	reached   summary // per change, occurredAt → its last subscriber
	fromResp  summary // receive − the mutation's response, every delivery
	missing   int
	commitLag time.Duration // median of occurredAt → the mutation's response
	changes   []changeReach // the phase's changes in the order made
}

// changeReach is when one change reached its first and its last
// subscriber, after its occurredAt.
type changeReach struct{ first, last time.Duration }

// analyse turns one phase's deliveries into latency figures: every delivery
// from its event's commit stamp (occurredAt), each change's time until the
// first and the last subscriber had it, every delivery from the mutation's
// response, the deliveries that never came, and the median time from
// occurredAt to the mutation's response (how much of the transaction
// occurredAt leaves out).
func analyse(ds []delivery, events []*triggered, phase string, subscribers int) phaseStats {
	var st phaseStats
	lat := make([]time.Duration, 0, len(ds))
	resp := make([]time.Duration, 0, len(ds))
	type perEvent struct {
		n        int
		occurred int64
		first    int64
		last     int64
	}
	per := make(map[int32]*perEvent)
	for _, d := range ds {
		lat = append(lat, time.Duration(d.recv-d.occurred))
		if d.event < 0 || int(d.event) >= len(events) || events[d.event].phase != phase {
			continue
		}
		ev := events[d.event]
		resp = append(resp, time.Duration(d.recv-ev.responded.UnixNano()))
		p := per[d.event]
		if p == nil {
			p = &perEvent{occurred: d.occurred, first: d.recv}
			per[d.event] = p
		}
		p.n++
		p.first = min(p.first, d.recv)
		p.last = max(p.last, d.recv)
	}
	var reach, firsts, lags []time.Duration
	for i, ev := range events {
		if ev.phase != phase || ev.err != nil {
			continue
		}
		p := per[int32(i)]
		if p == nil {
			st.missing += subscribers
			continue
		}
		st.missing += max(subscribers-p.n, 0)
		reach = append(reach, time.Duration(p.last-p.occurred))
		firsts = append(firsts, time.Duration(p.first-p.occurred))
		lags = append(lags, ev.responded.Sub(time.Unix(0, p.occurred)))
		st.changes = append(st.changes, changeReach{first: time.Duration(p.first - p.occurred), last: time.Duration(p.last - p.occurred)})
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		st.commitLag = lags[len(lags)/2]
	}
	st.all, st.first, st.reached, st.fromResp = summarize(lat), summarize(firsts), summarize(reach), summarize(resp)
	return st
}

// waitFor polls cond every 2 ms until it holds (true), d passes or ctx ends
// (false). Polling, not a signal per delivery: ten thousand subscribers
// would otherwise wake the driver ten thousand times per change.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// quiesce waits until counter has not moved for quiet, at most max.
func quiesce(ctx context.Context, counter *atomic.Int64, quiet, max time.Duration) {
	last, since := counter.Load(), time.Now()
	waitFor(ctx, max, func() bool {
		if v := counter.Load(); v != last {
			last, since = v, time.Now()
		}
		return time.Since(since) >= quiet
	})
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// progress prints line() every two seconds until stopped.
func progress(line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(os.Stderr, line())
				return
			case <-tick.C:
				fmt.Fprintln(os.Stderr, line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func numCPU() int { return runtime.NumCPU() }

func (r result) print() {
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %s × %s subscribers (%s opened) ==\n", r.transport, commas(r.n), commas(r.opened))
	fmt.Fprintf(&b, "opened in %s, all confirmed subscribed %s later; load average %s at the start, %s at the end\n",
		r.openTime.Round(time.Millisecond), r.confirmTime.Round(time.Millisecond), r.loadStart, r.loadEnd)
	if r.rssIdle > 0 {
		fmt.Fprintf(&b, "server memory: RSS %s MiB idle before, %s MiB with the subscribers (peak %s MiB, %d threads): %s KiB per idle subscriber\n",
			mib(r.rssBase), mib(r.rssIdle), mib(r.rssPeak), r.threads, kib(r.perSub))
		if r.goBase != nil && r.goIdle != nil {
			gb, gi := r.goBase, r.goIdle
			per := func(x, y int64) string { return kib(float64(y-x) / float64(max(r.opened, 1))) }
			fmt.Fprintf(&b, "server after a forced GC: RSS %s KiB, Go heap in use %s KiB, goroutine stacks %s KiB, %.2f goroutines, %.0f heap objects per idle subscriber\n",
				per(r.rssBaseGC, r.rssIdleGC), per(gb.MemStats.HeapInuse, gi.MemStats.HeapInuse), per(gb.MemStats.StackInuse, gi.MemStats.StackInuse),
				float64(gi.Goroutines-gb.Goroutines)/float64(max(r.opened, 1)), float64(gi.MemStats.HeapObjects-gb.MemStats.HeapObjects)/float64(max(r.opened, 1)))
			fmt.Fprintf(&b, "profiles: %s, %s\n", r.heapProfile, r.cpuProfile)
		}
		if r.heapBase != nil && r.heapIdle != nil {
			fmt.Fprintf(&b, "server Go heap at its last GC (gctrace): live %s → %s MiB, stacks %s → %s MiB\n",
				mib(r.heapBase.heapLive), mib(r.heapIdle.heapLive), mib(r.heapBase.stacks), mib(r.heapIdle.stacks))
		}
	}
	f := r.fanout
	fmt.Fprintf(&b, "fan-out, %d changes one at a time: %s deliveries, commit→client p50 %s p90 %s p99 %s max %s ms\n",
		r.fanEvents, commas(f.N), ms(f.P50), ms(f.P90), ms(f.P99), ms(f.Max))
	fmt.Fprintf(&b, "  per change, commit→first subscriber: p50 %s max %s ms\n", ms(r.oneReached.P50), ms(r.oneReached.Max))
	fmt.Fprintf(&b, "  per change, commit→last subscriber: p50 %s max %s ms; mutation response→client p50 %s p99 %s ms; occurredAt precedes the response by %s ms (median)\n",
		ms(r.allReached.P50), ms(r.allReached.Max), ms(r.fromResp.P50), ms(r.fromResp.P99), ms(r.commitLag))
	if r.serverCPU > 0 {
		fmt.Fprintf(&b, "  server CPU %s for %s deliveries: %.1f µs per delivery; the generator's own meanwhile: %.1f µs per delivery\n",
			r.serverCPU.Round(time.Millisecond), commas(f.N), float64(r.serverCPU.Microseconds())/float64(max(f.N, 1)),
			float64(r.genFanCPU.Microseconds())/float64(max(f.N, 1)))
	}
	if r.fanGCs > 0 {
		// A collection marks every subscriber's structures: 10,000 of them
		// take it a good part of a change's CPU.
		fmt.Fprintf(&b, "  the server collected garbage %d time(s) during the fan-out\n", r.fanGCs)
	}
	if r.missing > 0 || r.timeouts > 0 {
		fmt.Fprintf(&b, "  MISSING %s deliveries; %d changes timed out\n", commas(r.missing), r.timeouts)
	}
	if r.burstEvents > 0 {
		fmt.Fprintf(&b, "burst, %d changes back to back: %s deliveries in %s = %s deliveries/s; commit→client p50 %s p99 %s max %s ms\n",
			r.burstEvents, commas(r.burstDelivered), r.burstDur.Round(time.Millisecond), commas(int(r.burstRate)), ms(r.burst.P50), ms(r.burst.P99), ms(r.burst.Max))
		if r.burstMissing > 0 {
			fmt.Fprintf(&b, "  MISSING %s deliveries\n", commas(r.burstMissing))
		}
	}
	fmt.Fprintf(&b, "generator CPU %s\n", r.genCPU.Round(time.Millisecond))
	if r.ended > 0 || r.failed > 0 || r.badFrames > 0 || r.unknown > 0 {
		fmt.Fprintf(&b, "problems: %d failed to open, %d streams ended, %d bad frames, %d unexplained events\n%s",
			r.failed, r.ended, r.badFrames, r.unknown, r.errors)
	}
	fmt.Fprint(os.Stdout, b.String())
}

func printResults(rs []result, markdown bool) {
	if len(rs) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("Summary (latencies in ms, commit→client over every delivery of the fan-out phase):")
	fmt.Printf("%-4s %7s %7s %7s %7s %8s %12s %12s %12s %9s %6s\n", "", "subs", "p50", "p90", "p99", "max", "deliv/s", "KiB/sub GC'd", "KiB/sub RSS+", "RSS MiB", "load")
	for _, r := range rs {
		fmt.Printf("%-4s %7d %7s %7s %7s %8s %12s %12s %12s %9s %6s\n", r.transport, r.n, ms(r.fanout.P50), ms(r.fanout.P90), ms(r.fanout.P99), ms(r.fanout.Max),
			commas(int(r.burstRate)), r.perSubGCd(), memOr(r.perSub, r.rssIdle), mibOr(r.rssIdle), r.loadEnd)
	}
	fmt.Println("KiB/sub GC'd: the server's RSS per idle subscriber right after a forced GC (needs --profile); RSS+: its growth without one, which also counts the garbage that setting the subscribers up left")
	if markdown {
		fmt.Println()
		fmt.Println("| transport | subscribers | p50 ms | p90 ms | p99 ms | max ms | all reached (p50/max) ms | deliveries/s (burst) | server CPU µs/delivery | server KiB per idle subscriber (after a GC) | (RSS growth, no GC) | server RSS MiB | load avg (start/end) |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, r := range rs {
			cpu := "n/a"
			if r.serverCPU > 0 {
				cpu = fmt.Sprintf("%.0f", float64(r.serverCPU.Microseconds())/float64(max(r.fanout.N, 1)))
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s / %s |\n", wsName(r.transport), commas(r.n),
				ms(r.fanout.P50), ms(r.fanout.P90), ms(r.fanout.P99), ms(r.fanout.Max), ms(r.allReached.P50), ms(r.allReached.Max),
				commas(int(r.burstRate)), cpu, r.perSubGCd(), memOr(r.perSub, r.rssIdle), mibOr(r.rssIdle), r.loadStart, r.loadEnd)
		}
	}
}

func wsName(t string) string {
	if t == "ws" {
		return "WebSocket (graphql-transport-ws)"
	}
	return "SSE (distinct connections)"
}

// perSubGCd is the server's RSS per idle subscriber measured right after a
// forced GC, "n/a" without --profile (nothing else can make it collect).
func (r result) perSubGCd() string {
	if r.rssIdleGC == 0 || r.rssBaseGC == 0 {
		return "n/a"
	}
	return kib(float64(r.rssIdleGC-r.rssBaseGC) / float64(max(r.opened, 1)))
}

func memOr(perSub float64, rss int64) string {
	if rss == 0 {
		return "n/a"
	}
	return kib(perSub)
}

func mibOr(rss int64) string {
	if rss == 0 {
		return "n/a"
	}
	return mib(rss)
}

// withoutGC stops the generator's garbage collector until the returned
// function is called. A collection while the server fans out would take CPU
// and stop the generator's reading loops (its stop-the-world pauses took 5
// ms here) on the cores it shares with the server: latency the server did
// not cause. The phases allocate little (the recorder has reserved its
// room); the memory limit stays as a backstop.
func withoutGC() (restore func()) {
	runtime.GC()
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(4 << 30)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(percent)
	}
}
