package realtime

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// memLog is an in-memory switchyard.EventLog with the relay's guarantees:
// seqs are contiguous from 1, and an event is in the log before it is
// published.
type memLog struct {
	mu     sync.Mutex
	events []*switchyard.Event // events[i].Seq == pruned+i+1
	pruned int64
	fail   error // when set, every read returns it
	reads  atomic.Int64
}

var _ switchyard.EventLog = (*memLog)(nil)

func (l *memLog) append(e *switchyard.Event) *switchyard.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.pruned + int64(len(l.events)) + 1
	e.ID = e.Seq
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now()
	}
	l.events = append(l.events, e)
	return e
}

// prune drops the events up to through, as retention does.
func (l *memLog) prune(through int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(int(through-l.pruned), len(l.events))
	l.events = l.events[n:]
	l.pruned += int64(n)
}

func (l *memLog) setFail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

func (l *memLog) ReadEvents(ctx context.Context, after int64, limit int) ([]*switchyard.Event, error) {
	l.reads.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	if after < l.pruned {
		return nil, switchyard.InvalidField("after", "the event log no longer has the events after this cursor")
	}
	i := int(after - l.pruned)
	if i >= len(l.events) {
		return nil, nil
	}
	return append([]*switchyard.Event(nil), l.events[i:min(i+limit, len(l.events))]...), nil
}

func (l *memLog) LatestSeq(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return 0, l.fail
	}
	return l.pruned + int64(len(l.events)), nil
}

// memViewers is an in-memory switchyard.ViewerLoader.
type memViewers struct {
	mu    sync.Mutex
	users map[string]*switchyard.Viewer // absent: no such user
	fail  map[string]error
	// gate, when set for a user, makes LoadViewer take its snapshot and
	// then wait for the channel to close, so a test can change the user
	// while a stale viewer is in flight.
	gate  map[string]chan struct{}
	loads atomic.Int64
}

var _ switchyard.ViewerLoader = (*memViewers)(nil)

func newMemViewers() *memViewers {
	return &memViewers{users: map[string]*switchyard.Viewer{}, fail: map[string]error{}, gate: map[string]chan struct{}{}}
}

func (m *memViewers) LoadViewer(ctx context.Context, userID string) (*switchyard.Viewer, error) {
	m.loads.Add(1)
	m.mu.Lock()
	v, err, gate := m.users[userID], m.fail[userID], m.gate[userID]
	var snapshot *switchyard.Viewer
	if v != nil {
		snapshot = &switchyard.Viewer{UserID: v.UserID, Admin: v.Admin, ProjectIDs: map[string]bool{}}
		for p, ok := range v.ProjectIDs {
			snapshot.ProjectIDs[p] = ok
		}
	}
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch {
	case err != nil:
		return nil, err
	case snapshot == nil:
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "no such user")
	}
	return snapshot, nil
}

func (m *memViewers) member(userID string, projects ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := &switchyard.Viewer{UserID: userID, ProjectIDs: map[string]bool{}}
	for _, p := range projects {
		v.ProjectIDs[p] = true
	}
	m.users[userID] = v
}

func (m *memViewers) admin(userID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[userID] = &switchyard.Viewer{UserID: userID, Admin: true, ProjectIDs: map[string]bool{}}
}

func (m *memViewers) join(userID, project string, in bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in {
		m.users[userID].ProjectIDs[project] = true
	} else {
		delete(m.users[userID].ProjectIDs, project)
	}
}

func (m *memViewers) remove(userID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, userID)
}

func (m *memViewers) setFail(userID string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail[userID] = err
}

func (m *memViewers) setGate(userID string, gate chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gate == nil {
		delete(m.gate, userID)
	} else {
		m.gate[userID] = gate
	}
}

// Events as the services write them.

func orderEvent(project, order, customer string) *switchyard.Event {
	return &switchyard.Event{Type: switchyard.EventOrderStatusChanged, SubjectType: "order", SubjectID: order,
		ProjectID: &project, UserIDs: []string{customer}, Data: []byte(`{}`)}
}

func memberEvent(typ, project, user string) *switchyard.Event {
	return &switchyard.Event{Type: typ, SubjectType: "project", SubjectID: project, ProjectID: &project, UserIDs: []string{user}}
}

func projectEvent(typ, project, owner string) *switchyard.Event {
	return &switchyard.Event{Type: typ, SubjectType: "project", SubjectID: project, ProjectID: &project, UserIDs: []string{owner}}
}

func userEvent(typ, user string) *switchyard.Event {
	return &switchyard.Event{Type: typ, SubjectType: "user", SubjectID: user, UserIDs: []string{user}}
}

var notificationN atomic.Int64

func notificationEvent(user string, project *string) *switchyard.Event {
	return &switchyard.Event{Type: switchyard.EventNotificationCreated, SubjectType: "notification",
		SubjectID: fmt.Sprintf("n-%d", notificationN.Add(1)), ProjectID: project, UserIDs: []string{user}}
}

// world is one instance: a hub running on a broker, over a log and viewers
// shared with other worlds when given.
type world struct {
	t       testing.TB
	log     *memLog
	viewers *memViewers
	broker  switchyard.Broker
	hub     *Hub
	relayMu *sync.Mutex
}

func newWorld(t testing.TB, opts HubOptions) *world {
	return newWorldOn(t, opts, &memLog{}, newMemViewers(), NewMemoryBroker(), &sync.Mutex{})
}

func newWorldOn(t testing.TB, opts HubOptions, log *memLog, viewers *memViewers, broker switchyard.Broker, relayMu *sync.Mutex) *world {
	t.Helper()
	w := &world{t: t, log: log, viewers: viewers, broker: broker, relayMu: relayMu}
	w.hub = NewHub(log, viewers, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.hub.Run(ctx, broker) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	select {
	case <-w.hub.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub did not become ready")
	}
	return w
}

// commit does what a service and the relay do: the event enters the log,
// then the broker.
func (w *world) commit(e *switchyard.Event) *switchyard.Event {
	w.t.Helper()
	w.relayMu.Lock()
	defer w.relayMu.Unlock()
	w.log.append(e)
	if err := w.broker.Publish(context.Background(), e); err != nil {
		w.t.Errorf("publish: %v", err)
	}
	return e
}

// waitRouted waits until the hub has routed seq.
func (w *world) waitRouted(seq int64) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.hub.mu.Lock()
		last := w.hub.last
		w.hub.mu.Unlock()
		if last >= seq {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the hub routed up to %d; want %d", last, seq)
		}
		time.Sleep(time.Millisecond)
	}
}

func callerCtx(ctx context.Context, userID string) context.Context {
	return switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: userID, Role: switchyard.RoleMember})
}

// subscribe opens a subscription for userID that ends with the test.
func (w *world) subscribe(userID string, f switchyard.EventFilter) *stream {
	w.t.Helper()
	ctx, cancel := context.WithCancel(callerCtx(context.Background(), userID))
	w.t.Cleanup(cancel)
	sub, err := w.hub.Subscribe(ctx, f)
	if err != nil {
		w.t.Fatalf("Subscribe(%s, %+v): %v", userID, f, err)
	}
	return &stream{t: w.t, sub: sub, cancel: cancel}
}

type stream struct {
	t      testing.TB
	sub    switchyard.Subscription
	cancel context.CancelFunc
}

const eventWait = 10 * time.Second

// next returns the next event, failing the test if the stream ends or
// nothing comes within the deadline.
func (s *stream) next() *switchyard.Event {
	s.t.Helper()
	select {
	case e, ok := <-s.sub.Events():
		if !ok {
			s.t.Fatalf("the stream ended: %v", s.sub.Err())
		}
		return e
	case <-time.After(eventWait):
		s.t.Fatal("no event within the deadline")
	}
	return nil
}

// expect reads the next events and checks their seqs.
func (s *stream) expect(seqs ...int64) {
	s.t.Helper()
	for _, want := range seqs {
		if e := s.next(); e.Seq != want {
			s.t.Fatalf("got seq %d (%s %s); want seq %d", e.Seq, e.Type, e.SubjectID, want)
		}
	}
}

// ended waits for the stream to close and returns Err, failing on any event.
func (s *stream) ended() error {
	s.t.Helper()
	select {
	case e, ok := <-s.sub.Events():
		if ok {
			s.t.Fatalf("got seq %d; want the stream to end", e.Seq)
		}
		return s.sub.Err()
	case <-time.After(eventWait):
		s.t.Fatal("the stream did not end within the deadline")
	}
	return nil
}
