// Package realtime delivers committed events to live subscribers: the brokers
// that carry them between instances (Redis pub/sub, or in-process for one
// instance) and the Hub that routes them to each subscriber its Viewer allows,
// replays missed ones from the event log and cuts off subscribers that fall
// behind.
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard"
)

// HubOptions tune a Hub. Zero fields take the defaults.
type HubOptions struct {
	// QueueSize bounds each subscription's queue of undelivered events
	// (default 256). A live subscription whose queue is full when an event
	// for it arrives is ended with ERATELIMITED.
	QueueSize int
	// CheckInterval is how often the hub asks the log whether it holds
	// events the broker did not bring (default 1s): the safety net under
	// the broker's own loss signals.
	CheckInterval time.Duration
	// ReplayBatch is how many events one read of the log asks for (default
	// 500).
	ReplayBatch int
	// IOTimeout bounds each log read and viewer load the routing loop makes
	// (default 10s).
	IOTimeout time.Duration
	// Logger receives warnings about the broker and the log; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Hub is the switchyard.EventStream of one instance. Run feeds it from a
// broker; Subscribe opens streams on it.
//
// One goroutine (Run) routes events in seq order. For each event it first
// refreshes the viewers the event changes, then queues the event on every
// live subscription whose filter matches and whose viewer may see it. It
// never waits for a subscriber: a full queue ends that subscription. It
// keeps the highest seq routed, drops what it has routed already, and reads
// the log for what it has not (a gap, a broker's loss signal, or the
// periodic check), so every instance routes every event exactly once.
//
// Idle subscriptions cost their queue and a few small structs: no goroutine.
// A subscription that resumes after a cursor has one goroutine while it
// replays from the log; it joins the routed stream under the hub's lock at
// exactly the hub's position, which is what makes the switch gap-free.
type Hub struct {
	log     switchyard.EventLog
	viewers switchyard.ViewerLoader
	opts    HubOptions
	logger  *slog.Logger

	running   atomic.Bool
	ready     chan struct{} // closed once Run knows the log's position, or stopped
	readyOnce sync.Once

	mu sync.Mutex
	// last is the highest seq routed. Only Run's goroutine writes it, always
	// with mu held together with queueing that event, so a subscription that
	// goes live at last misses nothing and gets nothing twice.
	last int64
	// epoch counts routed events that change some viewer; a viewer loaded
	// while it moved may predate the change, and is loaded again.
	epoch     uint64
	users     map[string]*viewerEntry
	admins    map[*viewerEntry]struct{}
	byProject map[string]map[*viewerEntry]struct{}
	stopped   error // why new subscriptions fail once Run has returned

	// Run's goroutine only.
	stamp      uint64
	retryAt    time.Time // no catch-up before this after a failed log read
	logFailing bool
	overflowed []*subscription
}

var _ switchyard.EventStream = (*Hub)(nil)

// viewerEntry is one user's Viewer, shared by all that user's subscriptions
// and kept current by the routing loop.
type viewerEntry struct {
	userID string
	viewer atomic.Pointer[switchyard.Viewer]
	subs   []*subscription // under Hub.mu; the entry lives while this is not empty
	stamp  uint64          // Run's goroutine: visited for the current event
}

// NewHub returns a hub over log that loads viewers through viewers. It
// routes nothing until Run is called.
func NewHub(log switchyard.EventLog, viewers switchyard.ViewerLoader, opts HubOptions) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Second
	}
	if opts.ReplayBatch <= 0 {
		opts.ReplayBatch = 500
	}
	if opts.IOTimeout <= 0 {
		opts.IOTimeout = 10 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Hub{
		log: log, viewers: viewers, opts: opts,
		logger:    logger.With("component", "realtime.hub"),
		ready:     make(chan struct{}),
		users:     make(map[string]*viewerEntry),
		admins:    make(map[*viewerEntry]struct{}),
		byProject: make(map[string]map[*viewerEntry]struct{}),
	}
}

// Run routes the events broker delivers until ctx ends, then ends every
// subscription (with an error naming its cursor, so clients resume
// elsewhere) and returns nil. A broker or log that fails is retried, never
// fatal: while the broker is down, the periodic check still delivers
// events from the log. Run may be called once.
func (h *Hub) Run(ctx context.Context, broker switchyard.Broker) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("realtime: Hub.Run called twice")
	}
	defer h.stop()

	// Subscribe before reading the position, so nothing published in between
	// is missed; what arrives twice is dropped by seq.
	events, err := broker.Subscribe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		h.logger.Warn("cannot subscribe to the broker; retrying, and polling the event log meanwhile", "err", err)
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		latest, err := h.latestSeq(ctx)
		if err == nil {
			h.mu.Lock()
			h.last = latest
			h.mu.Unlock()
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		h.logger.Warn("cannot read the event log's position; retrying", "err", err)
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
	h.readyOnce.Do(func() { close(h.ready) })

	tick := time.NewTicker(h.opts.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				h.logger.Warn("the broker ended the subscription; resubscribing")
				events = nil
				continue
			}
			h.receive(ctx, e)
		case <-tick.C:
			if events == nil {
				if events, err = broker.Subscribe(ctx); err == nil {
					h.logger.Info("subscribed to the broker")
				}
			}
			h.check(ctx)
		}
	}
}

// receive handles one delivery from the broker.
func (h *Hub) receive(ctx context.Context, e *switchyard.Event) {
	switch {
	case e == nil: // the broker may have lost events
		h.catchUp(ctx)
	case e.Seq <= h.last: // routed already: from the log, or published twice
	case e.Seq == h.last+1:
		h.route(ctx, e)
	default: // a gap: what lies between is in the log
		h.catchUp(ctx)
		if e.Seq == h.last+1 {
			h.route(ctx, e)
		}
		// Otherwise the log did not have the gap's events yet (or the read
		// failed): routing e now would skip them; the periodic check will
		// read them, e included, in order.
	}
}

// check is the periodic safety net: anything the log has beyond the hub's
// position is caught up.
func (h *Hub) check(ctx context.Context) {
	latest, err := h.latestSeq(ctx)
	if err != nil {
		h.logFailure(ctx, err)
		return
	}
	if latest > h.last {
		h.retryAt = time.Time{}
		h.catchUp(ctx)
	}
}

// catchUp routes the log's events after the hub's position, in order.
func (h *Hub) catchUp(ctx context.Context) {
	if time.Now().Before(h.retryAt) {
		return // the log just failed; the periodic check retries
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, h.opts.IOTimeout)
		events, err := h.log.ReadEvents(rctx, h.last, h.opts.ReplayBatch)
		cancel()
		if err != nil {
			if switchyard.ErrorCode(err) == switchyard.EINVALID {
				h.lostPlace(ctx, err)
				return
			}
			h.logFailure(ctx, err)
			h.retryAt = time.Now().Add(h.opts.CheckInterval)
			return
		}
		h.logRecovery()
		for _, e := range events {
			if e != nil && e.Seq > h.last {
				h.route(ctx, e)
			}
		}
		if len(events) < h.opts.ReplayBatch {
			return
		}
	}
}

// lostPlace handles a hub so far behind that the log pruned events it never
// routed: no subscriber can have them, and each is told so through its
// error, as a resume would be refused. The hub starts over at the log's end.
func (h *Hub) lostPlace(ctx context.Context, cause error) {
	h.logger.Error("the event log pruned events this hub never routed; ending every subscription", "after", h.last, "err", cause)
	latest, err := h.latestSeq(ctx)
	if err != nil {
		h.logFailure(ctx, err)
		h.retryAt = time.Now().Add(h.opts.CheckInterval)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, en := range h.users {
		for len(en.subs) > 0 {
			h.endLocked(en.subs[0], switchyard.Errorf(switchyard.EUNAVAILABLE,
				"the event stream fell behind the event log's retention; events after cursor %s are no longer available", switchyard.EventCursor(h.last)))
		}
	}
	h.last = latest
}

func (h *Hub) latestSeq(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.IOTimeout)
	defer cancel()
	return h.log.LatestSeq(ctx)
}

func (h *Hub) logFailure(ctx context.Context, err error) {
	if ctx.Err() != nil || h.logFailing {
		return
	}
	h.logFailing = true
	h.logger.Warn("cannot read the event log; live events may be late until it answers", "err", err)
}

func (h *Hub) logRecovery() {
	if h.logFailing {
		h.logFailing = false
		h.logger.Info("the event log answers again")
	}
}

// route delivers e, the next event in seq order, and advances the position.
func (h *Hub) route(ctx context.Context, e *switchyard.Event) {
	h.refreshViewers(ctx, e)

	h.mu.Lock()
	defer h.mu.Unlock()
	h.stamp++
	// Only the users Viewer.CanSee can answer yes for are visited: admins,
	// the users the event names and, for project and order events, the
	// project's members. CanSee still decides; this index only spares it
	// the other subscribers. It must stay a superset of CanSee's rule.
	for _, uid := range e.UserIDs {
		if en := h.users[uid]; en != nil {
			h.deliver(en, e)
		}
	}
	if e.SubjectType != "notification" {
		for en := range h.admins {
			h.deliver(en, e)
		}
		switch {
		case e.SubjectType == "user":
			if en := h.users[e.SubjectID]; en != nil {
				h.deliver(en, e)
			}
		case e.ProjectID != nil:
			for en := range h.byProject[*e.ProjectID] {
				h.deliver(en, e)
			}
		}
	}
	for i, s := range h.overflowed {
		h.endLocked(s, &switchyard.Error{Code: switchyard.ERATELIMITED, Message: fmt.Sprintf(
			"subscription ended: it fell more than %d events behind; resume after cursor %s", s.q.limit, switchyard.EventCursor(s.last.Load()))})
		h.overflowed[i] = nil
	}
	h.overflowed = h.overflowed[:0]
	h.last = e.Seq
}

// deliver queues e on en's matching live subscriptions, once per event.
// Called with mu held.
func (h *Hub) deliver(en *viewerEntry, e *switchyard.Event) {
	if en.stamp == h.stamp {
		return
	}
	en.stamp = h.stamp
	if !en.viewer.Load().CanSee(e) {
		return
	}
	for _, s := range en.subs {
		if !s.live || e.Seq <= s.after || !s.filter.Matches(e) {
			continue
		}
		if !s.q.push(e) {
			h.overflowed = append(h.overflowed, s)
			continue
		}
		s.last.Store(e.Seq)
		s.wake()
	}
}

// refreshViewers reloads the viewers e changes before e is routed, so a
// removed member gets nothing after the removal and an added one everything
// after the addition. Such events are rare; order events need no I/O.
func (h *Hub) refreshViewers(ctx context.Context, e *switchyard.Event) {
	var ids []string
	switch e.Type {
	case switchyard.EventProjectMemberAdded, switchyard.EventProjectMemberRemoved:
		ids = e.UserIDs
	case switchyard.EventProjectCreated, switchyard.EventProjectUpdated:
		// A status change (DELETED) changes every member's rights; the
		// event names the owner.
		ids = slices.Clone(e.UserIDs)
		if e.ProjectID != nil {
			h.mu.Lock()
			for en := range h.byProject[*e.ProjectID] {
				ids = append(ids, en.userID)
			}
			h.mu.Unlock()
		}
	case switchyard.EventUserUpdated, switchyard.EventUserDeleted:
		ids = []string{e.SubjectID}
	default:
		return
	}

	h.mu.Lock()
	h.epoch++
	var targets []*viewerEntry
	for _, id := range ids {
		if en := h.users[id]; en != nil && !containsEntry(targets, en) {
			targets = append(targets, en)
		}
	}
	h.mu.Unlock()

	// A project's update reloads all its members: load them side by side,
	// a few at a time, so a big project stalls routing briefly.
	type loaded struct {
		v   *switchyard.Viewer
		err error
	}
	results := make([]loaded, len(targets))
	sem := make(chan struct{}, reloadConcurrency)
	var wg sync.WaitGroup
	for i, en := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			lctx, cancel := context.WithTimeout(ctx, h.opts.IOTimeout)
			defer cancel()
			v, err := h.viewers.LoadViewer(lctx, en.userID)
			if err == nil && v == nil {
				err = errors.New("viewer loader returned no viewer")
			}
			results[i] = loaded{v, err}
		})
	}
	wg.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, en := range targets {
		v, err := results[i].v, results[i].err
		switch {
		case h.users[en.userID] != en:
			// Its last subscription ended meanwhile.
		case err == nil:
			h.unindex(en)
			en.viewer.Store(v)
			h.index(en)
		case switchyard.ErrorCode(err) == switchyard.EUNAUTHENTICATED:
			for len(en.subs) > 0 {
				s := en.subs[0]
				drain(s)
				h.endLocked(s, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "the subscriber's account no longer exists"))
			}
		default:
			// Keeping the old viewer could show a removed member what they
			// may no longer see: end the user's subscriptions instead; they
			// resume once the viewer loads again.
			h.logger.Error("cannot reload a subscriber's viewer; ending their subscriptions", "user", en.userID, "seq", e.Seq, "err", err)
			for len(en.subs) > 0 {
				s := en.subs[0]
				h.endLocked(s, switchyard.Errorf(switchyard.EUNAVAILABLE,
					"subscription ended: the subscriber's access could not be checked; resume after cursor %s", switchyard.EventCursor(s.last.Load())))
			}
		}
	}
}

// reloadConcurrency bounds the viewer loads one event starts at once.
const reloadConcurrency = 8

func containsEntry(list []*viewerEntry, en *viewerEntry) bool {
	for _, x := range list {
		if x == en {
			return true
		}
	}
	return false
}

// index and unindex keep admins and byProject in step with en's viewer.
// Called with mu held.
func (h *Hub) index(en *viewerEntry) {
	v := en.viewer.Load()
	if v.Admin {
		h.admins[en] = struct{}{}
		return
	}
	for pid, ok := range v.ProjectIDs {
		if !ok {
			continue
		}
		set := h.byProject[pid]
		if set == nil {
			set = make(map[*viewerEntry]struct{})
			h.byProject[pid] = set
		}
		set[en] = struct{}{}
	}
}

func (h *Hub) unindex(en *viewerEntry) {
	v := en.viewer.Load()
	if v.Admin {
		delete(h.admins, en)
		return
	}
	for pid := range v.ProjectIDs {
		if set := h.byProject[pid]; set != nil {
			delete(set, en)
			if len(set) == 0 {
				delete(h.byProject, pid)
			}
		}
	}
}

// stop ends every subscription when Run returns.
func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = switchyard.Errorf(switchyard.EUNAVAILABLE, "the event stream is shutting down")
	for _, en := range h.users {
		for len(en.subs) > 0 {
			s := en.subs[0]
			h.endLocked(s, switchyard.Errorf(switchyard.EUNAVAILABLE,
				"the event stream is shutting down; resume after cursor %s", switchyard.EventCursor(s.last.Load())))
		}
	}
	h.readyOnce.Do(func() { close(h.ready) })
}

// Subscriptions returns how many subscriptions are open, for monitoring.
func (h *Hub) Subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, en := range h.users {
		n += len(en.subs)
	}
	return n
}

// subscription is one stream. Its fields other than q, last, notify and
// those of Events are guarded by Hub.mu.
type subscription struct {
	h      *Hub
	entry  *viewerEntry
	filter switchyard.EventFilter
	q      eventQueue
	idx    int // in entry.subs
	live   bool
	ended  bool
	// after: a live subscription takes events with a greater seq only.
	after int64
	// last is the seq of the last event queued, or where the stream started:
	// the cursor to resume after.
	last atomic.Int64
	err  error
	// quit is closed when a replaying subscription ends; its replay
	// goroutine then closes q.
	quit    chan struct{}
	stopCtx func() bool
	expiry  *time.Timer
	notify  atomic.Pointer[func()]
	// done is the subscriber's context's: Events' feeder stops there.
	done     <-chan struct{}
	feedOnce sync.Once
	ch       chan *switchyard.Event
}

// Events feeds the queue to a channel, for readers that wait on one; it
// costs a goroutine for the life of the stream, which TryNext and Notify do
// not.
func (s *subscription) Events() <-chan *switchyard.Event {
	s.feedOnce.Do(func() {
		s.ch = make(chan *switchyard.Event)
		signal := make(chan struct{}, 1)
		s.Notify(func() {
			select {
			case signal <- struct{}{}:
			default:
			}
		})
		go s.feed(signal)
	})
	return s.ch
}

func (s *subscription) feed(signal <-chan struct{}) {
	defer close(s.ch)
	for {
		e, more := s.q.pop()
		switch {
		case e != nil:
			select {
			case s.ch <- e:
			case <-s.done:
				return // the reader is gone
			}
		case !more:
			return
		default:
			<-signal
		}
	}
}

func (s *subscription) TryNext() (*switchyard.Event, bool) { return s.q.pop() }

func (s *subscription) Notify(f func()) {
	s.notify.Store(&f)
	f()
}

// wake tells the reader that q has an event or was closed.
func (s *subscription) wake() {
	if f := s.notify.Load(); f != nil {
		(*f)()
	}
}

// closeQueue closes q behind the events in it: the reader gets them, then
// the end.
func (s *subscription) closeQueue() {
	s.q.close()
	s.wake()
}

func (s *subscription) Err() error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.err
}

// Subscribe opens a stream of the events matching f that the caller in ctx
// may see. With f.After > 0 it first replays the events after f.After from
// the log, then continues live with no gap and no duplicate. The stream ends
// when ctx ends (Err nil), when it falls QueueSize events behind
// (ERATELIMITED, naming the cursor to resume after), when the caller's
// credentials expire or the user is deleted (EUNAUTHENTICATED), or when the
// hub stops.
//
// It waits (as long as ctx allows) until Run has read the log's position.
// Events are shared between subscribers and must not be changed.
func (h *Hub) Subscribe(ctx context.Context, f switchyard.EventFilter) (switchyard.Subscription, error) {
	caller := switchyard.CallerFromContext(ctx)
	if caller == nil || caller.UserID == "" {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "authentication required")
	}
	if !caller.ExpiresAt.IsZero() && !time.Now().Before(caller.ExpiresAt) {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "the credentials have expired")
	}
	if f.After < 0 {
		return nil, switchyard.InvalidField("after", "malformed event cursor")
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	// Check the cursor before anything is set up: the log refuses one it
	// no longer covers, and one beyond its end was never issued.
	var first []*switchyard.Event
	if f.After > 0 {
		h.mu.Lock()
		pos := h.last
		h.mu.Unlock()
		if f.After < pos {
			var err error
			if first, err = h.log.ReadEvents(ctx, f.After, h.opts.ReplayBatch); err != nil {
				return nil, replayError(err)
			}
		} else {
			latest, err := h.log.LatestSeq(ctx)
			if err != nil {
				return nil, fmt.Errorf("realtime: event log position: %w", err)
			}
			if f.After > latest {
				return nil, switchyard.InvalidField("after", "the event cursor is ahead of the event log")
			}
			// The hub is not past the cursor (it is starting, or catching up),
			// so its own position says nothing of the log's retention: ask
			// the log, which refuses a cursor it no longer covers.
			if _, err := h.log.ReadEvents(ctx, f.After, 1); err != nil {
				return nil, replayError(err)
			}
		}
	}

	s := &subscription{h: h, filter: f, done: ctx.Done()}
	s.q.limit = h.opts.QueueSize
	if err := h.register(ctx, caller.UserID, s); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { h.end(s, nil) })
	var expiry *time.Timer
	if !caller.ExpiresAt.IsZero() {
		expiry = time.AfterFunc(time.Until(caller.ExpiresAt), func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.endLocked(s, switchyard.Errorf(switchyard.EUNAUTHENTICATED,
				"the credentials have expired; reconnect with new ones and resume after cursor %s", switchyard.EventCursor(s.last.Load())))
		})
	}
	h.mu.Lock()
	if s.ended { // ended already (deleted user, shutdown): release at once
		stop()
		if expiry != nil {
			expiry.Stop()
		}
	} else {
		s.stopCtx, s.expiry = stop, expiry
	}
	replaying, endedEarly := !s.live && !s.ended, !s.live && s.ended
	h.mu.Unlock()
	if replaying {
		go h.replay(ctx, s, first, f.After)
	} else if endedEarly {
		s.closeQueue() // ended before its replay began; that goroutine's job falls here
	}
	return s, nil
}

func replayError(err error) error {
	if switchyard.ErrorCode(err) == switchyard.EINVALID {
		return err // the log's own "older than the log keeps", field "after"
	}
	return fmt.Errorf("realtime: replay from the event log: %w", err)
}

// register adds s to its user's shared viewer, loading it if no
// subscription of that user holds it. A subscription that starts live (no
// cursor, or one at or beyond the hub's position) goes live here, at the
// hub's position; the others replay first.
func (h *Hub) register(ctx context.Context, userID string, s *subscription) error {
	var loaded *switchyard.Viewer
	var epoch uint64
	for {
		h.mu.Lock()
		if h.stopped != nil {
			h.mu.Unlock()
			return h.stopped
		}
		en := h.users[userID]
		if en == nil && loaded != nil && h.epoch == epoch {
			// No viewer-changing event was routed while it loaded: any that
			// committed before the load is in it, any later one will be
			// routed after this entry exists and refresh it.
			en = &viewerEntry{userID: userID}
			en.viewer.Store(loaded)
			h.users[userID] = en
			h.index(en)
		}
		if en != nil {
			s.entry = en
			s.idx = len(en.subs)
			en.subs = append(en.subs, s)
			if s.filter.After == 0 || s.filter.After >= h.last {
				s.live = true
				s.after = max(s.filter.After, h.last)
			} else {
				s.quit = make(chan struct{})
				s.q.room = make(chan struct{}, 1)
			}
			s.last.Store(max(s.filter.After, s.after))
			h.mu.Unlock()
			return nil
		}
		epoch = h.epoch
		h.mu.Unlock()

		v, err := h.viewers.LoadViewer(ctx, userID)
		if err != nil {
			return err
		}
		if v == nil {
			return switchyard.Errorf(switchyard.EUNAUTHENTICATED, "unknown user")
		}
		loaded = v
	}
}

func (h *Hub) end(s *subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(s, err)
}

// endLocked ends s with err (nil: its context ended). A live subscription's
// queue is closed behind the events already in it, so the reader gets
// exactly the events up to its cursor; a replaying one's goroutine closes it.
func (h *Hub) endLocked(s *subscription, err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	en := s.entry
	last := len(en.subs) - 1
	en.subs[s.idx] = en.subs[last]
	en.subs[s.idx].idx = s.idx
	en.subs[last] = nil
	en.subs = en.subs[:last]
	if len(en.subs) == 0 && h.users[en.userID] == en {
		h.unindex(en)
		delete(h.users, en.userID)
	}
	if s.stopCtx != nil {
		s.stopCtx()
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.live {
		s.closeQueue()
	} else {
		close(s.quit)
	}
}

// drain discards what a live subscription has queued, for a subscriber who
// may no longer see it.
func drain(s *subscription) {
	if s.live {
		s.q.clear()
	}
}

// replay sends s the events in (next, hub position] from the log, chasing
// the position until it reaches it, and then makes s live under the lock:
// from there the routing loop queues every later event. Events are checked
// against the viewer as it is when they are sent, like live ones.
func (h *Hub) replay(ctx context.Context, s *subscription, pending []*switchyard.Event, next int64) {
	drainWait := time.Millisecond
	for {
		h.mu.Lock()
		if s.ended {
			h.mu.Unlock()
			s.closeQueue()
			return
		}
		pos := h.last
		// A reader still working through a full queue of replayed events
		// would be cut off by the first live one; let it drain first.
		if next >= pos && s.q.len() <= s.q.limit/2 {
			s.after, s.live = next, true
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()

		if next >= pos {
			// Nothing signals a read from a channel: poll, slower and slower
			// for a reader that has stopped (until its context ends).
			drainWait = min(2*drainWait, 100*time.Millisecond)
			t := time.NewTimer(drainWait)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
			}
			continue
		}
		if len(pending) == 0 {
			events, err := h.log.ReadEvents(ctx, next, h.opts.ReplayBatch)
			if err != nil {
				if ctx.Err() == nil {
					h.end(s, replayError(err))
				}
				<-s.quit
				s.closeQueue()
				return
			}
			if len(events) == 0 {
				next = pos // the log holds nothing in (next, pos]
				continue
			}
			pending = events
		}
		for len(pending) > 0 && pending[0].Seq <= pos {
			e := pending[0]
			pending = pending[1:]
			if e.Seq <= next {
				continue
			}
			if s.filter.Matches(e) && s.entry.viewer.Load().CanSee(e) {
				for !s.q.push(e) { // full: wait for the reader to take one
					select {
					case <-s.q.room:
					case <-s.quit:
						s.closeQueue()
						return
					}
				}
				s.last.Store(e.Seq)
				s.wake()
			}
			next = e.Seq
		}
		if len(pending) > 0 {
			next = pos // the rest is beyond pos: nothing else in (next, pos]
		}
	}
}
