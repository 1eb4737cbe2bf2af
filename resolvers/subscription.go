package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// Subscription resolvers only adapt: they open an EventStream subscription
// with the right filter and turn each *switchyard.Event into the field's
// payload on the channel gqlgen reads. Who may see which event is decided by
// the EventStream at delivery time, never here.

var (
	orderEventTypes = switchyard.TopicEventTypes(switchyard.TopicOrders)
	projectTypes    = switchyard.TopicEventTypes(switchyard.TopicProjects)
)

func (r *subscriptionResolver) OrderUpdated(ctx context.Context, id string) (<-chan *graph.OrderEvent, error) {
	// Subscribing to an order one may not read is refused up front, as a
	// query for it would be, rather than left as a stream that stays silent.
	return open(ctx, r.Resolver, nil, switchyard.EventFilter{Types: orderEventTypes, SubjectType: "order", SubjectID: id},
		func() error { _, err := r.Resolver.Orders.FindOrderByID(ctx, id); return err }, orderEventCache.get)
}

func (r *subscriptionResolver) OrderEvents(ctx context.Context, projectID *string, after *string) (<-chan *graph.OrderEvent, error) {
	// No read check on the project: a customer who is not its member still
	// receives the events of their own orders in it.
	return open(ctx, r.Resolver, after, switchyard.EventFilter{Types: orderEventTypes, SubjectType: "order", ProjectID: deref(projectID)},
		nil, orderEventCache.get)
}

func (r *subscriptionResolver) NotificationCreated(ctx context.Context, after *string) (<-chan *switchyard.Notification, error) {
	// The EventStream delivers a notification event to its recipient only.
	return open(ctx, r.Resolver, after, switchyard.EventFilter{Types: []string{switchyard.EventNotificationCreated}, SubjectType: "notification"},
		nil, decodeData[switchyard.Notification])
}

func (r *subscriptionResolver) ProjectUpdated(ctx context.Context, id string) (<-chan *switchyard.Project, error) {
	return open(ctx, r.Resolver, nil, switchyard.EventFilter{Types: projectTypes, SubjectType: "project", SubjectID: id},
		func() error { _, err := r.Resolver.Projects.FindProjectByID(ctx, id); return err }, decodeData[switchyard.Project])
}

// open is every subscription field: inside the execution of one event
// (WithEvent) it yields that event's payload; otherwise it checks the
// caller, reads where to resume and runs check (may the caller read the
// subject?), then opens the EventStream subscription for f.
func open[T any](ctx context.Context, r *Resolver, after *string, f switchyard.EventFilter, check func() error, convert func(*switchyard.Event) (T, error)) (<-chan T, error) {
	if ch, ok, err := yieldEvent(ctx, convert); ok {
		return ch, err
	}
	if _, err := switchyard.RequireCaller(ctx); err != nil {
		return nil, err
	}
	pos, err := resumePosition(ctx, after)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	f.After = pos
	return subscribe(ctx, r, f, convert)
}

// resumePosition is where a subscription starts: after the transport's
// resume cursor (SSE Last-Event-ID) when there is one, else after the `after`
// argument, else with the next live event.
func resumePosition(ctx context.Context, after *string) (int64, error) {
	if c := streamFrom(ctx).resume(); c != "" {
		return switchyard.ParseEventCursor("Last-Event-ID", c)
	}
	if after == nil || *after == "" {
		return 0, nil
	}
	return switchyard.ParseEventCursor("after", *after)
}

// errNotAUser refuses live updates to a caller that is no user (a partner's
// API key): access to events is decided per user.
var errNotAUser = switchyard.Errorf(switchyard.EFORBIDDEN, "live updates are for signed-in users; partners receive outbound webhooks")

// errNoEventStream is a wiring bug: a server without realtime.
var errNoEventStream = errors.New("resolvers: Resolver.Events is not set")

// subscribe opens the stream and starts the adapter. The channel it returns is
// unbuffered: a client that reads slowly holds the adapter, whose EventStream
// subscription then fills its own bounded queue and is cut off there with an
// error naming its cursor; nothing grows here.
func subscribe[T any](ctx context.Context, r *Resolver, f switchyard.EventFilter, convert func(*switchyard.Event) (T, error)) (<-chan T, error) {
	if r.Events == nil {
		return nil, errNoEventStream
	}
	caller, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if caller.UserID == "" {
		return nil, errNotAUser
	}
	if !caller.ExpiresAt.IsZero() && !time.Now().Before(caller.ExpiresAt) {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "token expired; reconnect with a new token")
	}
	st := streamFrom(ctx)
	if st != nil && st.detach {
		// The transport reads sub itself; the closed channel ends gqlgen's
		// part of the operation.
		sub, err := r.Events.Subscribe(st.base, f)
		if err != nil {
			return nil, err
		}
		out := make(chan T)
		st.mu.Lock()
		st.detached = sub
		st.mu.Unlock()
		close(out)
		return out, nil
	}
	sub, err := r.Events.Subscribe(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make(chan T)
	go pump(ctx, caller, f.After, sub, streamFrom(ctx), convert, out)
	return out, nil
}

// yieldEvent answers an execution of one event (WithEvent) with a channel
// holding its payload; ok is false outside one.
func yieldEvent[T any](ctx context.Context, convert func(*switchyard.Event) (T, error)) (_ <-chan T, ok bool, _ error) {
	e, ok := ctx.Value(eventKey{}).(*switchyard.Event)
	if !ok {
		return nil, false, nil
	}
	v, err := convert(e)
	if err != nil {
		return nil, true, fmt.Errorf("resolvers: decode event %d (%s): %w", e.Seq, e.Type, err)
	}
	ch := make(chan T, 1)
	ch <- v
	close(ch)
	return ch, true, nil
}

// pump moves events from sub to out until one of them ends, then records why
// on st and closes out, which ends the GraphQL subscription.
func pump[T any](ctx context.Context, caller *switchyard.Caller, after int64, sub switchyard.Subscription, st *Stream, convert func(*switchyard.Event) (T, error), out chan<- T) {
	defer close(out)
	last := ""
	if after > 0 {
		last = switchyard.EventCursor(after)
	}
	// The stream may not outlive the credential that opened it. The
	// EventStream ends it then with UNAUTHENTICATED and the exact cursor to
	// resume after, even with no event delivered yet (its start position);
	// this timer, a moment later, is the guarantee for one that does not.
	var expired <-chan time.Time
	if !caller.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(caller.ExpiresAt) + ExpiryGrace)
		defer t.Stop()
		expired = t.C
	}
	events := sub.Events()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					st.fail(err)
				}
				return
			}
			v, err := convert(e)
			if err != nil {
				st.fail(fmt.Errorf("resolvers: decode event %d (%s): %w", e.Seq, e.Type, err))
				return
			}
			cursor := cursorOf(e)
			st.push(cursor)
			select {
			case out <- v:
				last = cursor
			case <-ctx.Done():
				return
			}
		case <-expired:
			st.fail(tokenExpired(last))
			return
		case <-ctx.Done():
			return
		}
	}
}

// ExpiryGrace is how long after its token's expiry a subscription is ended
// here if its EventStream has not ended it already.
const ExpiryGrace = time.Second

func tokenExpired(lastCursor string) error {
	if lastCursor == "" {
		return switchyard.Errorf(switchyard.EUNAUTHENTICATED, "token expired; reconnect with a new token")
	}
	return switchyard.Errorf(switchyard.EUNAUTHENTICATED, "token expired; reconnect with a new token and resume after cursor %s", lastCursor)
}

// Event data is the subject's state with the GraphQL field names (the domain
// types' JSON tags), so it decodes straight into the payload types.

func decodeData[T any](e *switchyard.Event) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(e.Data, v); err != nil {
		return nil, err
	}
	return v, nil
}

var orderEventTypeOf = map[string]graph.OrderEventType{
	switchyard.EventOrderCreated:       graph.OrderEventTypeCreated,
	switchyard.EventOrderStatusChanged: graph.OrderEventTypeStatusChanged,
	switchyard.EventOrderShipmentSet:   graph.OrderEventTypeShipmentSet,
}

// orderEventCache decodes each event once for all its subscribers: the hub
// hands every subscriber the same *switchyard.Event, and they all receive it
// at about the same time. The payload is shared and must not be changed.
var orderEventCache = &decodeOnce[*graph.OrderEvent]{convert: decodeOrderEvent}

type decodeOnce[T any] struct {
	convert func(*switchyard.Event) (T, error)
	// Recent events by seq: subscribers that lag a few events behind, as in
	// a burst, still find theirs.
	ring [64]atomic.Pointer[decodedEvent[T]]
}

type decodedEvent[T any] struct {
	e   *switchyard.Event
	v   T
	err error
}

func (c *decodeOnce[T]) get(e *switchyard.Event) (T, error) {
	slot := &c.ring[uint64(e.Seq)%uint64(len(c.ring))]
	if d := slot.Load(); d != nil && d.e == e {
		return d.v, d.err
	}
	v, err := c.convert(e)
	slot.Store(&decodedEvent[T]{e: e, v: v, err: err})
	return v, err
}

// cursorOf is switchyard.EventCursor(e.Seq), encoded once per event rather
// than once per subscriber.
func cursorOf(e *switchyard.Event) string {
	slot := &cursorRing[uint64(e.Seq)%uint64(len(cursorRing))]
	if c := slot.Load(); c != nil && c.e == e {
		return c.cursor
	}
	c := &eventCursor{e: e, cursor: switchyard.EventCursor(e.Seq)}
	slot.Store(c)
	return c.cursor
}

type eventCursor struct {
	e      *switchyard.Event
	cursor string
}

var cursorRing [64]atomic.Pointer[eventCursor]

func decodeOrderEvent(e *switchyard.Event) (*graph.OrderEvent, error) {
	typ, ok := orderEventTypeOf[e.Type]
	if !ok {
		return nil, fmt.Errorf("not an order event type")
	}
	var d struct {
		switchyard.Order
		PreviousStatus *switchyard.OrderStatus `json:"previousStatus"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, err
	}
	return &graph.OrderEvent{
		Cursor:         switchyard.EventCursor(e.Seq),
		Type:           typ,
		Order:          &d.Order,
		PreviousStatus: d.PreviousStatus,
		OccurredAt:     e.OccurredAt,
	}, nil
}
