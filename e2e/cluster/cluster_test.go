package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// redisTap listens to every channel of the cluster's Redis and records the
// events the relay publishes there, to prove a change crossed instances
// through Redis (the hubs' periodic read of the event log would deliver it
// too, only later).
type redisTap struct {
	mu   sync.Mutex
	seqs []int64
}

func tapRedis(t testing.TB, c *cluster) *redisTap {
	t.Helper()
	client := c.redis.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps := client.PSubscribe(ctx, "*")
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("subscribe to redis: %v", err)
	}
	tap := &redisTap{}
	go func() {
		for m := range ps.Channel() {
			var e struct {
				Seq int64 `json:"seq"`
			}
			if json.Unmarshal([]byte(m.Payload), &e) == nil && e.Seq > 0 {
				tap.mu.Lock()
				tap.seqs = append(tap.seqs, e.Seq)
				tap.mu.Unlock()
			}
		}
	}()
	return tap
}

// requirePublished waits until every event's seq went through Redis.
func (tap *redisTap) requirePublished(t testing.TB, events []orderEvent) {
	t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	for {
		tap.mu.Lock()
		seen := slices.Clone(tap.seqs)
		tap.mu.Unlock()
		missing := []int64{}
		for _, e := range events {
			if !slices.Contains(seen, e.Seq) {
				missing = append(missing, e.Seq)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("seqs %v never went through Redis (seen %v)", missing, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoInstances: a subscriber on A receives, exactly once, each change
// made through B, and B's subscriber each change made through A; the events
// travel through Redis; a member of another project receives none of them,
// on either instance.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	b := c.start(t, "B")
	tap := tapRedis(t, c)
	admin := c.token(t, c.fx.Admin, time.Hour)
	memberB := c.token(t, c.fx.MemberB, time.Hour)
	pa, pb := c.fx.ProjectA.ID, c.fx.ProjectB.ID

	after := c.settledCursor(t)
	onA := dialWS(t, a, admin, dialOptions{})
	onA.subscribe(t, "a", orderEventsQuery, map[string]any{"after": after, "projectId": pa})
	onB := dialWS(t, b, admin, dialOptions{})
	onB.subscribe(t, "b", orderEventsQuery, map[string]any{"after": after})
	// Member B may read project B only: on A, they must never see A's orders.
	outsider := dialWS(t, a, memberB, dialOptions{})
	outsider.subscribe(t, "o", orderEventsQuery, map[string]any{"after": after})

	var want []change
	id := b.createOrder(t, admin, pa)
	want = append(want, change{id, "CREATED", "PENDING"})
	onA.waitEvents(t, "a", 1)
	b.setStatus(t, admin, id, "PAID")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"})
	onA.waitEvents(t, "a", 2)
	a.setStatus(t, admin, id, "FULFILLED")
	want = append(want, change{id, "STATUS_CHANGED", "FULFILLED"})

	// A marker in project B, made through A, comes after everything above
	// on every stream: once it arrived, nothing earlier can still arrive,
	// so "exactly" below also means "once".
	marker := a.createOrder(t, admin, pb)
	withMarker := append(slices.Clone(want), change{marker, "CREATED", "PENDING"})

	evB := onB.waitEvents(t, "b", len(withMarker))
	evA := onA.waitEvents(t, "a", len(want))
	evOut := outsider.waitEvents(t, "o", 1)
	requireExactly(t, "admin on B (every project)", evB, withMarker)
	// A's subscription is for project A: the marker is not for it. Another
	// change in A proves nothing else came in between.
	a.setStatus(t, admin, id, "SHIPPED")
	want = append(want, change{id, "STATUS_CHANGED", "SHIPPED"})
	evA = onA.waitEvents(t, "a", len(want))
	requireExactly(t, "admin on A (project A)", evA, want)
	requireExactly(t, "member B on A", evOut, []change{{marker, "CREATED", "PENDING"}})
	tap.requirePublished(t, evB)

	// Still nothing of project A for member B, after A's last change too.
	evB = onB.waitEvents(t, "b", len(withMarker)+1)
	if got := outsider.op(t, "o", "orderEvents"); len(got.Events) != 1 {
		t.Fatalf("member B received %v after the marker; want nothing of project A", got.Events)
	}
	for _, ev := range evB[:len(want)-1] {
		if ev.Seq > evB[len(evB)-1].Seq {
			t.Fatalf("events out of order on B: %v", evB)
		}
	}
}

// TestRemovalAcrossInstances: a member removed from a project through
// instance B stops receiving its events on instance A at once.
func TestRemovalAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	b := c.start(t, "B")
	admin := c.token(t, c.fx.Admin, time.Hour)
	memberB := c.token(t, c.fx.MemberB, time.Hour)
	pa, pb := c.fx.ProjectA.ID, c.fx.ProjectB.ID
	membership := `mutation($p: ID!, $u: ID!) { %s(projectId: $p, userId: $u) { id } }`
	vars := map[string]any{"p": pa, "u": c.fx.MemberB.ID}

	b.gql(t, admin, fmt.Sprintf(membership, "addProjectMember"), vars, nil)
	after := c.settledCursor(t)
	sub := dialWS(t, a, memberB, dialOptions{})
	sub.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})
	id := b.createOrder(t, admin, pa)
	want := []change{{id, "CREATED", "PENDING"}}
	requireExactly(t, "member B of project A, on A", sub.waitEvents(t, "1", 1), want)

	b.gql(t, admin, fmt.Sprintf(membership, "removeProjectMember"), vars, nil)
	b.setStatus(t, admin, id, "PAID")
	marker := b.createOrder(t, admin, pb)
	want = append(want, change{marker, "CREATED", "PENDING"})
	requireExactly(t, "member B after removal, on A", sub.waitEvents(t, "1", 2), want)
}

// TestTicketAcrossInstances: a ticket from createEventStreamTicket on A
// opens /events on B, and one ticket presented to both instances at once
// opens exactly one stream.
func TestTicketAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	b := c.start(t, "B")
	member := c.token(t, c.fx.MemberA, time.Hour)
	ticket := func() string {
		var out struct {
			CreateEventStreamTicket struct{ URL string } `json:"createEventStreamTicket"`
		}
		a.gql(t, member, `mutation { createEventStreamTicket(topics: [ORDERS]) { url } }`, nil, &out)
		return out.CreateEventStreamTicket.URL
	}
	open := func(in *instance, url string) (int, func()) {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.url+url, nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s GET %s: %v", in.name, url, err)
		}
		return res.StatusCode, func() { res.Body.Close(); cancel() }
	}

	url := ticket()
	status, done := open(b, url)
	done()
	if status != http.StatusOK {
		t.Fatalf("a ticket from A on B: %d, want 200", status)
	}
	status, done = open(a, url)
	done()
	if status != http.StatusUnauthorized {
		t.Fatalf("the used ticket again, on A: %d, want 401", status)
	}

	for range 5 {
		url := ticket()
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, in := range []*instance{a, b} {
			wg.Go(func() {
				var done func()
				statuses[i], done = open(in, url)
				done()
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusOK, http.StatusUnauthorized}) {
			t.Fatalf("one ticket on A and B at once: %v, want exactly one 200 and one 401", statuses)
		}
	}
}

// TestRedisRestart: Redis killed and started again on the same port while
// two instances serve subscribers. The servers stay up; changes made while
// Redis is down and after it is back reach every subscriber once, in order.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	b := c.start(t, "B")
	admin := c.token(t, c.fx.Admin, time.Hour)
	pa := c.fx.ProjectA.ID

	after := c.settledCursor(t)
	onA := dialWS(t, a, admin, dialOptions{})
	onA.subscribe(t, "a", orderEventsQuery, map[string]any{"after": after})
	onB := dialWS(t, b, admin, dialOptions{})
	onB.subscribe(t, "b", orderEventsQuery, map[string]any{"after": after})

	var want []change
	id := b.createOrder(t, admin, pa)
	want = append(want, change{id, "CREATED", "PENDING"})
	onA.waitEvents(t, "a", len(want))
	onB.waitEvents(t, "b", len(want))

	c.redis.kill(t)
	// Writes do not need Redis: they commit to PostgreSQL, and the relay
	// publishes once it can.
	a.setStatus(t, admin, id, "PAID")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"})
	id2 := b.createOrder(t, admin, pa)
	want = append(want, change{id2, "CREATED", "PENDING"})
	a.requireUp(t)
	b.requireUp(t)

	c.redis.restart(t)
	// Both instances subscribe again: Redis counts their subscriptions to
	// the channel (Redis forgot every subscriber when it died).
	c.redis.waitSubscribers(t, "switchyard:events:*", 2)
	for _, in := range []*instance{a, b} {
		in.waitReady(t)
	}
	b.setStatus(t, admin, id, "SHIPPED")
	want = append(want, change{id, "STATUS_CHANGED", "SHIPPED"})
	a.setStatus(t, admin, id2, "CANCELLED")
	want = append(want, change{id2, "STATUS_CHANGED", "CANCELLED"})

	requireExactly(t, "subscriber on A", onA.waitEvents(t, "a", len(want)), want)
	requireExactly(t, "subscriber on B", onB.waitEvents(t, "b", len(want)), want)
	a.requireUp(t)
	b.requireUp(t)

	// And Redis carries events again: a change after the restart reaches
	// both through it.
	tap := tapRedis(t, c)
	b.setStatus(t, admin, id, "DELIVERED")
	want = append(want, change{id, "STATUS_CHANGED", "DELIVERED"})
	evA := onA.waitEvents(t, "a", len(want))
	requireExactly(t, "subscriber on A after the restart", evA, want)
	requireExactly(t, "subscriber on B after the restart", onB.waitEvents(t, "b", len(want)), want)
	tap.requirePublished(t, evA[len(evA)-1:])
	for _, s := range []opState{onA.op(t, "a", "orderEvents"), onB.op(t, "b", "orderEvents")} {
		if s.Ended {
			t.Fatalf("a subscription ended during the Redis restart: %s", s.errorText())
		}
	}
}

// TestRedisDownAtStart: an instance started while Redis is down serves (not
// ready, but alive), delivers from the event log meanwhile, and subscribes
// to Redis once it comes up.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	c.redis.kill(t)
	a := c.startUntil(t, "A", "/healthz")
	if status, err := a.get("/readyz"); err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d %v, want 503", status, err)
	}
	admin := c.token(t, c.fx.Admin, time.Hour)
	after := c.sequencedCursor(t)
	sub := dialWS(t, a, admin, dialOptions{})
	sub.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})
	id := a.createOrder(t, admin, c.fx.ProjectA.ID)
	want := []change{{id, "CREATED", "PENDING"}}
	requireExactly(t, "with Redis down", sub.waitEvents(t, "1", 1), want)

	c.redis.restart(t)
	c.redis.waitSubscribers(t, "switchyard:events:*", 1)
	a.waitReady(t)
	tap := tapRedis(t, c)
	a.setStatus(t, admin, id, "PAID")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"})
	got := sub.waitEvents(t, "1", 2)
	requireExactly(t, "after Redis came up", got, want)
	tap.requirePublished(t, got[1:])
}

// TestGracefulShutdown: SIGTERM to an instance, as a rolling deploy sends.
// Its websockets close, it exits 0, and its clients resume on the other
// instance from their last cursor without losing what happened meanwhile.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	b := c.start(t, "B")
	admin := c.token(t, c.fx.Admin, time.Hour)
	pa := c.fx.ProjectA.ID

	after := c.settledCursor(t)
	onA := dialWS(t, a, admin, dialOptions{})
	onA.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})
	id := b.createOrder(t, admin, pa)
	want := []change{{id, "CREATED", "PENDING"}}
	got := onA.waitEvents(t, "1", 1)
	requireExactly(t, "before the shutdown", got, want)

	if err := a.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	closed := onA.waitClosed(t, deliverTimeout)
	var ce *websocket.CloseError
	if !errors.As(closed, &ce) {
		t.Fatalf("the connection ended without a close frame: %v", closed)
	}
	t.Logf("closed by the shutdown with %d %q", ce.Code, ce.Text)
	select {
	case <-a.proc.exited:
	case <-time.After(2 * stopTimeout):
		t.Fatalf("A did not exit after SIGTERM")
	}
	if code := a.proc.state.ExitCode(); code != 0 {
		t.Fatalf("A exited with %d after SIGTERM\n%s", code, a.proc.log)
	}

	b.setStatus(t, admin, id, "PAID")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"})
	last := onA.op(t, "1", "orderEvents").Events
	again := dialWS(t, b, admin, dialOptions{})
	again.subscribe(t, "2", orderEventsQuery, map[string]any{"after": last[len(last)-1].Cursor})
	b.setStatus(t, admin, id, "SHIPPED")
	want = append(want, change{id, "STATUS_CHANGED", "SHIPPED"})
	requireExactly(t, "resumed on B", again.waitEvents(t, "2", len(want)-len(last)), want[len(last):])
}

// TestRelayFailover: SIGKILL the instance whose relay leads. The other
// instance's relay takes over within 5 seconds, publishes what committed
// meanwhile, and a client of the dead instance that reconnects to the
// survivor with its last cursor gets everything, once, in order.
func TestRelayFailover(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	c.start(t, "A")
	c.start(t, "B")
	admin := c.token(t, c.fx.Admin, time.Hour)
	pa := c.fx.ProjectA.ID

	leader := c.waitLeader(t, deliverTimeout)
	survivor := c.insts[0]
	if survivor == leader {
		survivor = c.insts[1]
	}
	t.Logf("the relay leads on %s; %s survives", leader.name, survivor.name)

	after := c.settledCursor(t)
	onLeader := dialWS(t, leader, admin, dialOptions{})
	onLeader.subscribe(t, "l", orderEventsQuery, map[string]any{"after": after})
	onSurvivor := dialWS(t, survivor, admin, dialOptions{})
	onSurvivor.subscribe(t, "s", orderEventsQuery, map[string]any{"after": after})

	var want []change
	id := survivor.createOrder(t, admin, pa)
	want = append(want, change{id, "CREATED", "PENDING"})
	survivor.setStatus(t, admin, id, "PAID")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"})
	before := onLeader.waitEvents(t, "l", len(want))
	requireExactly(t, "client of the leader before the kill", before, want)
	last := before[len(before)-1].Cursor

	killed := time.Now()
	leader.proc.kill(t)
	onLeader.waitClosed(t, deliverTimeout)

	// Changes while no relay leads: they commit, and wait for the next one.
	survivor.setStatus(t, admin, id, "FULFILLED")
	want = append(want, change{id, "STATUS_CHANGED", "FULFILLED"})
	id2 := survivor.createOrder(t, admin, pa)
	want = append(want, change{id2, "CREATED", "PENDING"})

	for {
		if in := c.relayLeader(t); in == survivor {
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("%s's relay did not take over within 5s of the leader's SIGKILL", survivor.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s took over %v after the kill", survivor.name, time.Since(killed).Round(time.Millisecond))

	survivor.setStatus(t, admin, id2, "PAID")
	want = append(want, change{id2, "STATUS_CHANGED", "PAID"})

	// The dead instance's client reconnects to the survivor with its last
	// cursor.
	again := dialWS(t, survivor, admin, dialOptions{})
	again.subscribe(t, "r", orderEventsQuery, map[string]any{"after": last})
	requireExactly(t, "reconnected client", again.waitEvents(t, "r", len(want)-2), want[2:])
	requireExactly(t, "client of the survivor", onSurvivor.waitEvents(t, "s", len(want)), want)
	survivor.requireUp(t)
}

// TestFrozenLeader: the relay's leader process stops (SIGSTOP, as a frozen
// container, a swap storm or a stuck runtime would) without dying. Its
// kernel keeps its TCP connections alive, so PostgreSQL keeps its session
// and advisory lock; unless the leader must prove it is alive, no event is
// sequenced anywhere in the cluster for as long as it stays frozen. The
// other instance must take over within the 5 seconds (10 allowed
// here) and deliver what commits meanwhile.
func TestFrozenLeader(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	c.start(t, "A")
	c.start(t, "B")
	admin := c.token(t, c.fx.Admin, time.Hour)
	leader := c.waitLeader(t, deliverTimeout)
	survivor := c.insts[0]
	if survivor == leader {
		survivor = c.insts[1]
	}
	after := c.settledCursor(t)
	sub := dialWS(t, survivor, admin, dialOptions{})
	sub.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})

	if err := leader.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Killed at the end: a stopped process ignores the cleanup's SIGTERM.
	t.Cleanup(func() { leader.proc.kill(t) })
	frozen := time.Now()
	id := survivor.createOrder(t, admin, c.fx.ProjectA.ID)
	for c.relayLeader(t) != survivor {
		if time.Since(frozen) > 10*time.Second {
			t.Fatalf("%s's relay is still the leader %v after SIGSTOP: a frozen leader holds the advisory lock, "+
				"and %s's subscriber got %d events of the change made meanwhile (relay sessions need a liveness bound, "+
				"e.g. idle_session_timeout on the relay's connection, which a healthy leader never reaches since it polls every second)",
				leader.name, time.Since(frozen).Round(time.Second), survivor.name, len(sub.op(t, "1", "orderEvents").Events))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s took over %v after %s froze", survivor.name, time.Since(frozen).Round(time.Millisecond), leader.name)
	requireExactly(t, "subscriber on the survivor", sub.waitEvents(t, "1", 1), []change{{id, "CREATED", "PENDING"}})
}

// TestSlowConsumer: a subscriber that stops reading is cut off with
// RATE_LIMITED and the cursor of the last event it got, while a subscriber
// of the same events on the same instance gets every one of them on time;
// the cut-off one resumes from its cursor and misses nothing.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	admin := c.token(t, c.fx.Admin, time.Hour)
	ctx := context.Background()

	// The events are inserted straight into the log, many at a time, as
	// copies of a real order event: the API would take minutes to make
	// enough of them on a small machine.
	orderID := a.createOrder(t, admin, c.fx.ProjectA.ID)
	after := c.settledCursor(t)
	var template int64
	if err := c.pool().QueryRow(ctx, `SELECT id FROM events WHERE type = 'order.created' AND subject_id = $1`, orderID).Scan(&template); err != nil {
		t.Fatal(err)
	}

	// Fat payloads (the order's id 300 times over, by alias: no extra
	// reads) fill the kernel's socket buffers, which on loopback hold
	// megabytes, in a couple of hundred events.
	var fat strings.Builder
	for i := range 300 {
		fmt.Fprintf(&fat, " i%d: id", i)
	}
	query := strings.Replace(orderEventsQuery, "order { id status }", "order { id status"+fat.String()+" }", 1)
	healthy := dialWS(t, a, admin, dialOptions{})
	healthy.subscribe(t, "1", query, map[string]any{"after": after})
	// The slow one reads a message every 100ms: it never stalls a write
	// for long (the server drops a peer whose write blocks for 10s), but it
	// falls further behind with every round.
	slow := dialWS(t, a, admin, dialOptions{trickle: 100 * time.Millisecond, rcvBuf: 4096})
	slow.subscribe(t, "1", query, map[string]any{"after": after})

	// Rounds of events no larger than a queue, each waited for by the
	// healthy subscriber: it never falls behind, while the slow one, whose
	// socket is full, falls further behind with every round.
	const rounds, perRound = 10, 100
	started := time.Now()
	insert := func(n int) {
		t.Helper()
		_, err := c.pool().Exec(ctx, `INSERT INTO events (type, subject_type, subject_id, project_id, user_ids, actor_id, data)
			SELECT 'order.status_changed', subject_type, subject_id, project_id, user_ids, actor_id,
				data || '{"status": "PAID", "previousStatus": "PENDING"}'::jsonb
			FROM events, generate_series(1, $2) WHERE id = $1`, template, n)
		if err != nil {
			t.Fatal(err)
		}
	}
	for r := 1; r <= rounds; r++ {
		insert(perRound)
		healthy.waitEvents(t, "1", r*perRound)
	}
	total := rounds * perRound
	t.Logf("the healthy subscriber got %d events in %v", total, time.Since(started).Round(time.Millisecond))
	all := healthy.op(t, "1", "orderEvents")
	if all.Ended || len(all.Events) != total {
		t.Fatalf("the healthy subscriber: %d events, ended %v (%s); want %d and still open", len(all.Events), all.Ended, all.errorText(), total)
	}
	for i, e := range all.Events[1:] {
		if e.Seq != all.Events[i].Seq+1 {
			t.Fatalf("the healthy subscriber's events skip from seq %d to %d", all.Events[i].Seq, e.Seq)
		}
	}

	slow.speedUp()
	cut := slow.waitEnd(t, "1", deliverTimeout)
	if len(cut.Errors) == 0 || cut.Errors[0].Extensions["code"] != "RATE_LIMITED" {
		t.Fatalf("the slow subscriber ended with %q after %d events; want RATE_LIMITED", cut.errorText(), len(cut.Events))
	}
	if len(cut.Events) >= total {
		t.Fatalf("the slow subscriber got all %d events before it was cut off: the test did not make it fall behind", len(cut.Events))
	}
	if !slices.EqualFunc(cut.Events, all.Events[:len(cut.Events)], func(x, y orderEvent) bool { return x.Cursor == y.Cursor }) {
		t.Fatalf("the slow subscriber's events before the cut-off are not a prefix of the stream")
	}
	resumeAt := after
	if n := len(cut.Events); n > 0 {
		resumeAt = cut.Events[n-1].Cursor
	}
	if !strings.Contains(cut.Errors[0].Message, resumeAt) {
		t.Fatalf("the cut-off message %q does not name the last cursor delivered, %s", cut.Errors[0].Message, resumeAt)
	}
	t.Logf("cut off after %d of %d events: %s", len(cut.Events), total, cut.Errors[0].Message)

	// It resumes from that cursor, on the same connection, and gets the rest.
	slow.subscribe(t, "2", orderEventsQuery, map[string]any{"after": resumeAt})
	rest := slow.waitEvents(t, "2", total-len(cut.Events))
	if !slices.EqualFunc(rest, all.Events[len(cut.Events):], func(x, y orderEvent) bool { return x.Cursor == y.Cursor }) {
		t.Fatalf("after resuming, the slow subscriber got %d events that are not the rest of the stream", len(rest))
	}
}

// TestTokenExpiry: a subscription ends with UNAUTHENTICATED when its token
// expires; the client reconnects with a new token and its last cursor and
// gets what happened in between.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	admin := c.token(t, c.fx.Admin, time.Hour)
	// Member A owns project A: they see its orders.
	short := c.token(t, c.fx.MemberA, 3*time.Second)
	pa := c.fx.ProjectA.ID

	after := c.settledCursor(t)
	sub := dialWS(t, a, short, dialOptions{})
	sub.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})
	id := a.createOrder(t, admin, pa)
	want := []change{{id, "CREATED", "PENDING"}}
	got := sub.waitEvents(t, "1", 1)
	last := got[0].Cursor

	end := sub.waitEnd(t, "1", 15*time.Second)
	if len(end.Errors) == 0 || end.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Fatalf("the subscription ended with %q; want UNAUTHENTICATED", end.errorText())
	}
	if n := len(end.Events); n > 0 {
		last = end.Events[n-1].Cursor
		requireExactly(t, "before expiry", end.Events, want[:1])
	}
	if !strings.Contains(end.Errors[0].Message, last) {
		t.Errorf("the expiry message %q does not name the last cursor %s", end.Errors[0].Message, last)
	}

	// Meanwhile, more changes.
	a.setStatus(t, admin, id, "PAID")
	a.setStatus(t, admin, id, "SHIPPED")
	want = append(want, change{id, "STATUS_CHANGED", "PAID"}, change{id, "STATUS_CHANGED", "SHIPPED"})

	fresh := c.token(t, c.fx.MemberA, time.Hour)
	again := dialWS(t, a, fresh, dialOptions{})
	again.subscribe(t, "2", orderEventsQuery, map[string]any{"after": last})
	requireExactly(t, "after reconnecting with a new token", again.waitEvents(t, "2", 2), want[1:])
}

// TestOutOfOrderCommits: two transactions write events; the one with the
// lower id commits last. Both are delivered, in commit order, the first
// while the other is still open.
func TestOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	a := c.start(t, "A")
	admin := c.token(t, c.fx.Admin, time.Hour)
	ctx := context.Background()

	orderID := a.createOrder(t, admin, c.fx.ProjectA.ID)
	after := c.settledCursor(t)
	sub := dialWS(t, a, admin, dialOptions{})
	sub.subscribe(t, "1", orderEventsQuery, map[string]any{"after": after})

	const insertSQL = `INSERT INTO events (type, subject_type, subject_id, project_id, user_ids, actor_id, data)
		SELECT 'order.status_changed', subject_type, subject_id, project_id, user_ids, actor_id,
			data || jsonb_build_object('status', $2::text, 'previousStatus', $3::text)
		FROM events WHERE type = 'order.created' AND subject_id = $1
		RETURNING id`
	first, err := c.pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx) //nolint:errcheck
	var idFirst, idSecond int64
	if err := first.QueryRow(ctx, insertSQL, orderID, "PAID", "PENDING").Scan(&idFirst); err != nil {
		t.Fatal(err)
	}
	second, err := c.pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Rollback(ctx) //nolint:errcheck
	if err := second.QueryRow(ctx, insertSQL, orderID, "CANCELLED", "PENDING").Scan(&idSecond); err != nil {
		t.Fatal(err)
	}
	if idSecond <= idFirst {
		t.Fatalf("event ids %d then %d: the second transaction must have the higher id", idFirst, idSecond)
	}
	if err := second.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The later id, committed first, is delivered while the earlier one's
	// transaction is still open.
	got := sub.waitEvents(t, "1", 1)
	requireExactly(t, "after the first commit", got, []change{{orderID, "STATUS_CHANGED", "CANCELLED"}})
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got = sub.waitEvents(t, "1", 2)
	requireExactly(t, "after both commits", got, []change{
		{orderID, "STATUS_CHANGED", "CANCELLED"},
		{orderID, "STATUS_CHANGED", "PAID"},
	})
	var seqFirst, seqSecond int64
	if err := c.pool().QueryRow(ctx, `SELECT (SELECT seq FROM events WHERE id = $1), (SELECT seq FROM events WHERE id = $2)`, idFirst, idSecond).Scan(&seqFirst, &seqSecond); err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != seqSecond || got[1].Seq != seqFirst || seqSecond >= seqFirst {
		t.Fatalf("delivered seqs %d, %d; the log has event %d at seq %d and event %d at seq %d", got[0].Seq, got[1].Seq, idSecond, seqSecond, idFirst, seqFirst)
	}
}

// TestDeploymentsShareRedis: two deployments (two databases, one instance
// each) given the same Redis, as staging and production or two teams'
// stacks might be. Each subscriber must get its own deployment's changes
// and nothing of the other's.
func TestDeploymentsShareRedis(t *testing.T) {
	t.Parallel()
	x := newCluster(t, clusterOptions{})
	y := newCluster(t, clusterOptions{redis: x.redis})
	ax := x.start(t, "X")
	ay := y.start(t, "Y")
	adminX := x.token(t, x.fx.Admin, time.Hour)
	adminY := y.token(t, y.fx.Admin, time.Hour)

	subX := dialWS(t, ax, adminX, dialOptions{})
	subX.subscribe(t, "x", orderEventsQuery, map[string]any{"after": x.settledCursor(t)})
	subY := dialWS(t, ay, adminY, dialOptions{})
	subY.subscribe(t, "y", orderEventsQuery, map[string]any{"after": y.settledCursor(t)})

	// One change in each, Y first, then a second change in each as a fence.
	idY := ay.createOrder(t, adminY, y.fx.ProjectA.ID)
	subY.waitEvents(t, "y", 1)
	idX := ax.createOrder(t, adminX, x.fx.ProjectA.ID)
	ax.setStatus(t, adminX, idX, "PAID")
	ay.setStatus(t, adminY, idY, "PAID")
	wantX := []change{{idX, "CREATED", "PENDING"}, {idX, "STATUS_CHANGED", "PAID"}}
	wantY := []change{{idY, "CREATED", "PENDING"}, {idY, "STATUS_CHANGED", "PAID"}}
	requireExactly(t, "deployment X's admin", subX.waitOp(t, "x", "orderEvents", deliverTimeout, "X's own PAID change",
		func(s opState) bool {
			return slices.ContainsFunc(s.Events, func(e orderEvent) bool { return e.OrderID == idX && e.Status == "PAID" })
		}).Events, wantX)
	requireExactly(t, "deployment Y's admin", subY.waitOp(t, "y", "orderEvents", deliverTimeout, "Y's own PAID change",
		func(s opState) bool {
			return slices.ContainsFunc(s.Events, func(e orderEvent) bool { return e.OrderID == idY && e.Status == "PAID" })
		}).Events, wantY)
}
