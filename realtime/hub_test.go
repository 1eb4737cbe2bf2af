package realtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard"
)

// never keeps the periodic check out of tests that prove another path.
const never = time.Hour

func TestHubOrderWithoutDuplicates(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: never})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	var seqs []int64
	for i := range 100 {
		e := w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust"))
		seqs = append(seqs, e.Seq)
		if i%10 == 9 {
			// A relay that lost its session may publish again.
			w.broker.Publish(t.Context(), e)
			w.broker.Publish(t.Context(), w.log.events[0])
		}
	}
	s.expect(seqs...)
	marker := w.commit(notificationEvent("alice", nil))
	s.expect(marker.Seq)
}

func TestHubCatchesUpAGap(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: never})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	var seqs []int64
	for i := range 5 {
		e := w.log.append(orderEvent("p1", fmt.Sprint("o", i), "cust"))
		seqs = append(seqs, e.Seq)
		if i != 2 && i != 3 { // the broker loses seqs 3 and 4
			w.broker.Publish(t.Context(), e)
		}
	}
	s.expect(seqs...)
}

func TestHubCatchesUpOnLossSignal(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: never})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	var seqs []int64
	for i := range 3 { // published while the broker was away
		seqs = append(seqs, w.log.append(orderEvent("p1", fmt.Sprint("o", i), "cust")).Seq)
	}
	w.broker.(*MemoryBroker).signalLoss()
	s.expect(seqs...)
	s.expect(w.commit(orderEvent("p1", "o9", "cust")).Seq)
}

func TestHubPeriodicCheck(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: 10 * time.Millisecond})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	e := w.log.append(orderEvent("p1", "o1", "cust")) // never published
	s.expect(e.Seq)
}

// The broker overflows while the hub is busy: the hub catches up from the
// log and the subscriber sees every event once, in order.
func TestHubBrokerOverflow(t *testing.T) {
	log, viewers := &memLog{}, newMemViewers()
	broker := NewMemoryBroker()
	broker.buffer = 4
	viewers.member("alice", "p1")
	viewers.member("bob")
	w := newWorldOn(t, HubOptions{CheckInterval: never, QueueSize: 5000}, log, viewers, broker, &sync.Mutex{})
	s := w.subscribe("alice", switchyard.EventFilter{})
	w.subscribe("bob", switchyard.EventFilter{})
	// Hold the hub in a viewer reload while events pile up in the broker.
	gate := make(chan struct{})
	viewers.setGate("bob", gate)
	hold := w.commit(userEvent(switchyard.EventUserUpdated, "bob"))
	const n = 500
	for i := range n {
		w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust"))
	}
	viewers.setGate("bob", nil)
	close(gate)
	for i := hold.Seq + 1; i <= hold.Seq+n; i++ {
		s.expect(i)
	}
	if log.reads.Load() == 0 {
		t.Fatal("the hub never read the log, so the overflow path was not exercised")
	}
}

// A hub that stalled past the log's retention cannot deliver what was
// pruned: every subscription ends with an error rather than a silent gap.
func TestHubBehindTheLogsRetention(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: never})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	for range 5 {
		w.log.append(orderEvent("p1", "o", "cust")) // never published
	}
	w.log.prune(3)
	w.broker.(*MemoryBroker).signalLoss()
	if err := s.ended(); err == nil || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("got %v; want an error about the log's retention", err)
	}
	// The hub carries on from the log's end.
	s = w.subscribe("alice", switchyard.EventFilter{})
	s.expect(w.commit(orderEvent("p1", "o", "cust")).Seq)
}

func TestHubReplayThenLiveUnderConcurrentPublishing(t *testing.T) {
	w := newWorld(t, HubOptions{QueueSize: 1 << 15, ReplayBatch: 64})
	w.viewers.member("alice", "p1")
	const backlog, total = 1000, 6000
	for i := range backlog {
		w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust"))
	}

	// Unbuffered: the publisher is paused while a subscription opens and
	// goes on while it replays.
	published := make(chan int64)
	go func() {
		for i := backlog; i < total; i++ {
			published <- w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust")).Seq
		}
		close(published)
	}()

	// Subscribers resume from different cursors at different moments while
	// the publisher runs, so replay and live overlap.
	var wg sync.WaitGroup
	starts := []struct{ at, after int64 }{{backlog + 1, 1}, {backlog + 1, 500}, {2000, 10}, {3000, 2999}, {4000, backlog}, {4500, 0}}
	var handovers int
	for seen := range published {
		for _, st := range starts {
			if st.at != seen {
				continue
			}
			s := w.subscribe("alice", switchyard.EventFilter{After: st.after})
			wg.Go(func() {
				prev := st.after
				for prev < total {
					var e *switchyard.Event
					select {
					case e = <-s.sub.Events():
					case <-time.After(eventWait):
					}
					if e == nil {
						w.hub.mu.Lock()
						t.Errorf("resumed after %d: nothing after seq %d within the deadline (hub at %d; ended %v: %v)", st.after, prev, w.hub.last, s.sub.(*subscription).ended, s.sub.(*subscription).err)
						w.hub.mu.Unlock()
						return
					}
					if prev != 0 && e.Seq != prev+1 {
						t.Errorf("resumed after %d: got seq %d after %d; want %d (no gap, no duplicate)", st.after, e.Seq, prev, prev+1)
						return
					}
					prev = e.Seq
				}
			})
			handovers++
		}
	}
	wg.Wait()
	if handovers != len(starts) {
		t.Fatalf("%d subscribers started; want %d", handovers, len(starts))
	}
}

func TestHubAuthorization(t *testing.T) {
	p1, p2 := "p1", "p2"
	t.Run("isolation", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		w.viewers.member("bob", p2)
		w.viewers.member("carol") // a customer who ordered in p2
		w.viewers.admin("root")
		subs := map[string]*stream{}
		for _, u := range []string{"alice", "bob", "carol", "root"} {
			subs[u] = w.subscribe(u, switchyard.EventFilter{})
		}
		a := w.commit(orderEvent(p1, "o1", "dave"))
		b := w.commit(orderEvent(p2, "o2", "carol"))
		n := w.commit(notificationEvent("bob", &p2))
		u := w.commit(userEvent(switchyard.EventUserUpdated, "alice"))
		want := map[string][]int64{
			"alice": {a.Seq, u.Seq},
			"bob":   {b.Seq, n.Seq},
			"carol": {b.Seq},
			"root":  {a.Seq, b.Seq, u.Seq}, // admins see no one else's notifications
		}
		for user, seqs := range want {
			subs[user].expect(seqs...)
			// Everything before a user's own notification has been routed.
			subs[user].expect(w.commit(notificationEvent(user, nil)).Seq)
		}
	})

	t.Run("removed member stops at once", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		s := w.subscribe("alice", switchyard.EventFilter{ProjectID: p1})
		before := w.commit(orderEvent(p1, "o1", "cust"))
		w.viewers.join("alice", p1, false) // the removal commits ...
		removed := w.commit(memberEvent(switchyard.EventProjectMemberRemoved, p1, "alice"))
		after := w.commit(orderEvent(p1, "o2", "cust")) // ... and the next change follows at once
		// Rights are read when an event is routed: re-adding her before the
		// hub got this far would rightly show her o2.
		w.waitRouted(after.Seq)
		w.viewers.join("alice", p1, true)
		readded := w.commit(memberEvent(switchyard.EventProjectMemberAdded, p1, "alice"))
		again := w.commit(orderEvent(p1, "o3", "cust"))
		s.expect(before.Seq, removed.Seq, readded.Seq, again.Seq)
	})

	t.Run("project deleted", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		w.viewers.member("owner", p1)
		s := w.subscribe("alice", switchyard.EventFilter{})
		w.viewers.join("alice", p1, false)
		w.viewers.join("owner", p1, false)
		w.commit(projectEvent(switchyard.EventProjectUpdated, p1, "owner"))
		w.commit(orderEvent(p1, "o1", "cust"))
		s.expect(w.commit(notificationEvent("alice", nil)).Seq)
	})

	t.Run("added member starts at once", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice")
		s := w.subscribe("alice", switchyard.EventFilter{ProjectID: p1})
		w.commit(orderEvent(p1, "o1", "cust"))
		w.viewers.join("alice", p1, true)
		added := w.commit(memberEvent(switchyard.EventProjectMemberAdded, p1, "alice"))
		next := w.commit(orderEvent(p1, "o2", "cust"))
		s.expect(added.Seq, next.Seq)
	})

	t.Run("replay obeys the same rule", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		w.viewers.member("bob", p2)
		start := w.commit(orderEvent(p1, "o0", "cust"))
		var mine []int64
		for i := range 20 {
			e := w.commit(orderEvent([]string{p1, p2}[i%2], fmt.Sprint("o", i), "cust"))
			if i%2 == 1 {
				mine = append(mine, e.Seq)
			}
		}
		w.commit(notificationEvent("alice", nil))
		mine = append(mine, w.commit(notificationEvent("bob", nil)).Seq)
		s := w.subscribe("bob", switchyard.EventFilter{After: start.Seq})
		s.expect(mine...)
		s.expect(w.commit(notificationEvent("bob", nil)).Seq)
	})

	t.Run("replay checks rights at delivery", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		start := w.commit(orderEvent(p1, "o0", "cust"))
		w.commit(orderEvent(p1, "o1", "cust"))
		w.viewers.join("alice", p1, false)
		removed := w.commit(memberEvent(switchyard.EventProjectMemberRemoved, p1, "alice"))
		// Her rights now exclude p1, so the old p1 event is not replayed.
		s := w.subscribe("alice", switchyard.EventFilter{After: start.Seq})
		s.expect(removed.Seq)
	})

	t.Run("notifications only to their recipient", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		w.viewers.member("bob", p1)
		w.viewers.admin("root")
		sa := w.subscribe("alice", switchyard.EventFilter{SubjectType: "notification"})
		sb := w.subscribe("bob", switchyard.EventFilter{SubjectType: "notification"})
		sr := w.subscribe("root", switchyard.EventFilter{SubjectType: "notification"})
		na := w.commit(notificationEvent("alice", &p1))
		nb := w.commit(notificationEvent("bob", &p1))
		nr := w.commit(notificationEvent("root", nil))
		sa.expect(na.Seq)
		sb.expect(nb.Seq)
		sr.expect(nr.Seq)
	})

	t.Run("a viewer loaded before a removal is not kept", func(t *testing.T) {
		w := newWorld(t, HubOptions{})
		w.viewers.member("alice", p1)
		gate := make(chan struct{})
		w.viewers.setGate("alice", gate)
		type result struct {
			sub switchyard.Subscription
			err error
		}
		res := make(chan result, 1)
		ctx, cancel := context.WithCancel(callerCtx(context.Background(), "alice"))
		t.Cleanup(cancel)
		go func() {
			sub, err := w.hub.Subscribe(ctx, switchyard.EventFilter{})
			res <- result{sub, err}
		}()
		// Her viewer is being loaded (with p1) when the removal is routed.
		for w.viewers.loads.Load() == 0 {
			runtime.Gosched()
		}
		w.viewers.join("alice", p1, false)
		removed := w.commit(memberEvent(switchyard.EventProjectMemberRemoved, p1, "alice"))
		w.waitRouted(removed.Seq)
		w.viewers.setGate("alice", nil)
		close(gate)
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		s := &stream{t: t, sub: r.sub, cancel: cancel}
		w.commit(orderEvent(p1, "o1", "cust"))
		s.expect(w.commit(notificationEvent("alice", nil)).Seq)
	})
}

// Routing through the project index delivers exactly what a check of every
// subscription with Matches and CanSee would.
func TestHubRoutingMatchesTheRule(t *testing.T) {
	w := newWorld(t, HubOptions{QueueSize: 10000})
	rng := rand.New(rand.NewPCG(1, 2))
	projects := []string{"p1", "p2", "p3", "p4"}
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	for _, u := range users {
		if rng.IntN(5) == 0 {
			w.viewers.admin(u)
			continue
		}
		var ps []string
		for _, p := range projects {
			if rng.IntN(2) == 0 {
				ps = append(ps, p)
			}
		}
		w.viewers.member(u, ps...)
	}
	filters := []switchyard.EventFilter{
		{}, {ProjectID: "p1"}, {SubjectType: "order"}, {SubjectType: "notification"},
		{Types: []string{switchyard.EventOrderCreated, switchyard.EventProjectUpdated}}, {SubjectType: "order", SubjectID: "o3"},
	}
	type sub struct {
		user string
		f    switchyard.EventFilter
		s    *stream
	}
	var subs []sub
	for _, u := range users {
		for _, f := range filters {
			subs = append(subs, sub{u, f, w.subscribe(u, f)})
		}
	}
	var events []*switchyard.Event
	for i := range 500 {
		p := projects[rng.IntN(len(projects))]
		u := users[rng.IntN(len(users))]
		var e *switchyard.Event
		switch rng.IntN(5) {
		case 0:
			e = orderEvent(p, fmt.Sprint("o", i%7), u)
			e.Type = switchyard.EventOrderCreated
		case 1:
			e = orderEvent(p, fmt.Sprint("o", i%7), u)
		case 2:
			e = notificationEvent(u, &p)
		case 3:
			e = &switchyard.Event{Type: switchyard.EventUserCreated, SubjectType: "user", SubjectID: u, UserIDs: []string{u}}
		default:
			e = &switchyard.Event{Type: switchyard.EventProjectUpdated, SubjectType: "project", SubjectID: p, ProjectID: &p}
		}
		events = append(events, w.commit(e))
	}
	// Routing is done once the hub's position reaches the last event, and
	// queueing happens with the position's update: what each subscriber
	// gets is in its queue by then.
	w.waitRouted(events[len(events)-1].Seq)
	for _, s := range subs {
		v, _ := w.viewers.LoadViewer(t.Context(), s.user)
		var want []int64
		for _, e := range events {
			if s.f.Matches(e) && v.CanSee(e) {
				want = append(want, e.Seq)
			}
		}
		for _, seq := range want {
			if e := s.s.next(); e.Seq != seq {
				t.Fatalf("%s %+v: got seq %d %+v; want seq %d %+v", s.user, s.f, e.Seq, e, seq, events[seq-1])
			}
		}
		if n := len(s.s.sub.Events()); n > 0 {
			t.Fatalf("%s %+v: %d events more than the rule allows, first %+v", s.user, s.f, n, <-s.s.sub.Events())
		}
	}
}

func TestHubSlowConsumer(t *testing.T) {
	const queue = 8
	w := newWorld(t, HubOptions{QueueSize: queue})
	w.viewers.member("alice", "p1")
	w.viewers.member("bob", "p1")
	slow := w.subscribe("alice", switchyard.EventFilter{})
	fast := w.subscribe("bob", switchyard.EventFilter{})
	var seqs []int64
	for i := range 30 {
		e := w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust"))
		seqs = append(seqs, e.Seq)
		fast.expect(e.Seq) // on time, event by event, while alice reads nothing
	}
	slow.expect(seqs[:queue]...)
	err := slow.ended()
	if switchyard.ErrorCode(err) != switchyard.ERATELIMITED {
		t.Fatalf("slow consumer ended with %v; want %s", err, switchyard.ERATELIMITED)
	}
	cursor := switchyard.EventCursor(seqs[queue-1])
	if !strings.Contains(switchyard.ErrorMessage(err), cursor) {
		t.Fatalf("error %q does not name the cursor to resume after, %s", switchyard.ErrorMessage(err), cursor)
	}
	after, perr := switchyard.ParseEventCursor("after", cursor)
	if perr != nil {
		t.Fatal(perr)
	}
	resumed := w.subscribe("alice", switchyard.EventFilter{After: after})
	resumed.expect(seqs[queue:]...)
}

func TestHubSubscribeErrors(t *testing.T) {
	w := newWorld(t, HubOptions{})
	w.viewers.member("alice", "p1")
	for range 10 {
		w.commit(orderEvent("p1", "o", "cust"))
	}
	w.log.prune(5)
	alice := callerCtx(t.Context(), "alice")
	tests := []struct {
		name  string
		ctx   context.Context
		f     switchyard.EventFilter
		code  string
		field string
	}{
		{"anonymous", t.Context(), switchyard.EventFilter{}, switchyard.EUNAUTHENTICATED, ""},
		{"unknown user", callerCtx(t.Context(), "ghost"), switchyard.EventFilter{}, switchyard.EUNAUTHENTICATED, ""},
		{"expired credentials", switchyard.NewContextWithCaller(t.Context(), &switchyard.Caller{UserID: "alice", ExpiresAt: time.Now().Add(-time.Second)}),
			switchyard.EventFilter{}, switchyard.EUNAUTHENTICATED, ""},
		{"cursor older than the log", alice, switchyard.EventFilter{After: 4}, switchyard.EINVALID, "after"},
		{"cursor ahead of the log", alice, switchyard.EventFilter{After: 11}, switchyard.EINVALID, "after"},
		{"negative cursor", alice, switchyard.EventFilter{After: -1}, switchyard.EINVALID, "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := w.hub.Subscribe(tt.ctx, tt.f)
			if switchyard.ErrorCode(err) != tt.code || switchyard.ErrorField(err) != tt.field {
				t.Fatalf("got (%v, %v); want code %s field %q", sub, err, tt.code, tt.field)
			}
		})
	}
	t.Run("the oldest cursor the log covers", func(t *testing.T) {
		s := w.subscribe("alice", switchyard.EventFilter{After: 5})
		s.expect(6, 7, 8, 9, 10)
	})
	t.Run("the newest cursor", func(t *testing.T) {
		s := w.subscribe("alice", switchyard.EventFilter{After: 10})
		s.expect(w.commit(orderEvent("p1", "o", "cust")).Seq)
	})
}

func TestHubDeletedUser(t *testing.T) {
	w := newWorld(t, HubOptions{})
	w.viewers.member("alice", "p1")
	w.viewers.admin("root")
	s1 := w.subscribe("alice", switchyard.EventFilter{})
	s2 := w.subscribe("alice", switchyard.EventFilter{ProjectID: "p1"})
	root := w.subscribe("root", switchyard.EventFilter{})
	w.viewers.remove("alice")
	deleted := w.commit(userEvent(switchyard.EventUserDeleted, "alice"))
	for _, s := range []*stream{s1, s2} {
		if err := s.ended(); switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED {
			t.Fatalf("got %v; want %s", err, switchyard.EUNAUTHENTICATED)
		}
	}
	root.expect(deleted.Seq)
	if _, err := w.hub.Subscribe(callerCtx(t.Context(), "alice"), switchyard.EventFilter{}); switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED {
		t.Fatalf("a deleted user subscribed: %v", err)
	}
}

func TestHubViewerReloadFails(t *testing.T) {
	w := newWorld(t, HubOptions{})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	w.viewers.setFail("alice", errors.New("database down"))
	w.viewers.join("alice", "p1", false)
	w.commit(memberEvent(switchyard.EventProjectMemberRemoved, "p1", "alice"))
	w.commit(orderEvent("p1", "o1", "cust"))
	// Better to end the stream than to keep showing p1 on stale rights.
	if err := s.ended(); switchyard.ErrorCode(err) != switchyard.EUNAVAILABLE || !strings.Contains(err.Error(), "resume after cursor") {
		t.Fatalf("got %v; want UNAVAILABLE naming the cursor", err)
	}
}

func TestHubCredentialsExpire(t *testing.T) {
	w := newWorld(t, HubOptions{})
	w.viewers.member("alice", "p1")
	ctx := switchyard.NewContextWithCaller(t.Context(), &switchyard.Caller{UserID: "alice", ExpiresAt: time.Now().Add(200 * time.Millisecond)})
	sub, err := w.hub.Subscribe(ctx, switchyard.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{t: t, sub: sub}
	e := w.commit(orderEvent("p1", "o1", "cust"))
	s.expect(e.Seq)
	err = s.ended()
	if switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED || !strings.Contains(err.Error(), switchyard.EventCursor(e.Seq)) {
		t.Fatalf("got %v; want %s naming cursor %s", err, switchyard.EUNAUTHENTICATED, switchyard.EventCursor(e.Seq))
	}
}

func TestHubCancelCleansUp(t *testing.T) {
	w := newWorld(t, HubOptions{QueueSize: 4, ReplayBatch: 2})
	w.viewers.member("alice", "p1")
	w.viewers.member("bob", "p1")
	for range 50 {
		w.commit(orderEvent("p1", "o", "cust"))
	}
	w.waitRouted(50)
	before := runtime.NumGoroutine()
	var streams []*stream
	for i := range 20 {
		user := []string{"alice", "bob"}[i%2]
		// Half replay into a queue nobody reads, so their replay goroutine
		// is blocked when the context ends.
		streams = append(streams, w.subscribe(user, switchyard.EventFilter{After: int64(i % 2)}))
	}
	w.commit(orderEvent("p1", "o", "cust"))
	for _, s := range streams {
		s.cancel()
	}
	for _, s := range streams {
		for range s.sub.Events() {
		}
		if err := s.sub.Err(); err != nil {
			t.Fatalf("a cancelled stream ended with %v; want nil", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if len(w.hub.users) != 0 || len(w.hub.byProject) != 0 || len(w.hub.admins) != 0 {
		t.Fatalf("state left behind: %d users, %d projects, %d admins", len(w.hub.users), len(w.hub.byProject), len(w.hub.admins))
	}
}

func TestHubStopEndsSubscriptions(t *testing.T) {
	log, viewers := &memLog{}, newMemViewers()
	viewers.member("alice", "p1")
	hub := NewHub(log, viewers, HubOptions{})
	broker := NewMemoryBroker()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, broker) }()
	sub, err := hub.Subscribe(callerCtx(t.Context(), "alice"), switchyard.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	e := log.append(orderEvent("p1", "o1", "cust"))
	broker.Publish(t.Context(), e)
	s := &stream{t: t, sub: sub}
	s.expect(e.Seq)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.ended(); err == nil || !strings.Contains(err.Error(), switchyard.EventCursor(e.Seq)) {
		t.Fatalf("got %v; want an error naming cursor %s", err, switchyard.EventCursor(e.Seq))
	}
	if _, err := hub.Subscribe(callerCtx(t.Context(), "alice"), switchyard.EventFilter{}); err == nil {
		t.Fatal("a stopped hub accepted a subscription")
	}
}

// The log fails for a while: live events still flow where they are
// contiguous, and the gap is filled once the log answers.
func TestHubLogOutage(t *testing.T) {
	w := newWorld(t, HubOptions{CheckInterval: 20 * time.Millisecond})
	w.viewers.member("alice", "p1")
	s := w.subscribe("alice", switchyard.EventFilter{})
	w.log.setFail(errors.New("database down"))
	lost := w.log.append(orderEvent("p1", "o1", "cust")) // its publish is lost
	later := w.commit(orderEvent("p1", "o2", "cust"))
	w.log.setFail(nil)
	s.expect(lost.Seq, later.Seq)
}

func TestHubTwoHubsOneRedis(t *testing.T) {
	client := redisClient(t)
	channel := testChannel(t)
	log, viewers, relayMu := &memLog{}, newMemViewers(), &sync.Mutex{}
	viewers.member("alice", "p1")
	a := newWorldOn(t, HubOptions{CheckInterval: never}, log, viewers, NewRedisBroker(client, channel), relayMu)
	b := newWorldOn(t, HubOptions{CheckInterval: never}, log, viewers, NewRedisBroker(client, channel), relayMu)
	sa := a.subscribe("alice", switchyard.EventFilter{})
	sb := b.subscribe("alice", switchyard.EventFilter{})
	var seqs []int64
	for i := range 200 {
		w := []*world{a, b}[i%2] // changes made through either instance
		seqs = append(seqs, w.commit(orderEvent("p1", fmt.Sprint("o", i), "cust")).Seq)
	}
	sa.expect(seqs...)
	sb.expect(seqs...)
	marker := a.commit(notificationEvent("alice", nil))
	sa.expect(marker.Seq)
	sb.expect(marker.Seq)
}

func TestHubRedisRestart(t *testing.T) {
	srv := startRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { client.Close() })
	log, viewers := &memLog{}, newMemViewers()
	viewers.member("alice", "p1")
	relay := NewRedisBroker(client, "events")
	w := newWorldOn(t, HubOptions{CheckInterval: never, QueueSize: 1000}, log, viewers, NewRedisBroker(client, "events"), &sync.Mutex{})
	s := w.subscribe("alice", switchyard.EventFilter{})

	// A relay: into the log, then to Redis. Publishes fail or vanish while
	// the hub's connection is down; only the hub's catch-up after its
	// reconnection can deliver those events.
	const n = 300
	for i := range n {
		e := log.append(orderEvent("p1", fmt.Sprint("o", i), "cust"))
		relay.Publish(t.Context(), e)
		if i == n/3 || i == 2*n/3 {
			srv.restart()
		}
	}
	// The relay retries its last publish until Redis takes it.
	e := log.append(orderEvent("p1", "last", "cust"))
	deadline := time.Now().Add(10 * time.Second)
	for relay.Publish(t.Context(), e) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not come back")
		}
	}
	for i := int64(1); i <= n+1; i++ {
		s.expect(i)
	}
}

// Redis is down when the instance starts: the hub serves from the log
// meanwhile, and subscribes once Redis answers.
func TestHubStartsWithoutBroker(t *testing.T) {
	srv := newRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), DialerRetries: 1})
	t.Cleanup(func() { client.Close() })
	log, viewers := &memLog{}, newMemViewers()
	viewers.member("alice", "p1")
	w := newWorldOn(t, HubOptions{CheckInterval: 50 * time.Millisecond}, log, viewers, NewRedisBroker(client, "events"), &sync.Mutex{})
	s := w.subscribe("alice", switchyard.EventFilter{})
	s.expect(log.append(orderEvent("p1", "o1", "cust")).Seq) // the relay cannot publish it

	srv.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := client.PubSubNumSub(t.Context(), "events").Result()
		if err == nil && n["events"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not subscribe once Redis answered: %v %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	relay := NewRedisBroker(client, "events")
	e := log.append(orderEvent("p1", "o2", "cust"))
	for relay.Publish(t.Context(), e) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not answer")
		}
	}
	s.expect(e.Seq)
}
