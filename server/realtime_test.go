package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
)

// subscriber opens orderEvents-like subscriptions on one transport and reads
// their payloads, so tests run the same scenario over every transport.
type subscriber interface {
	// next returns the next payload (a GraphQL response) and the SSE id: of
	// its event ("" over WebSocket).
	next() (payload []byte, id string)
	// end returns the error that ended the subscription: the `error`
	// message's over WebSocket, the last `next`'s before `complete` over SSE.
	end() gqlError
	close()
}

var transports = []string{"graphql-transport-ws", "graphql-ws", "sse-post", "sse-get"}

func subscribeOn(t *testing.T, e *env, transport, token, query string, vars map[string]any, header http.Header) subscriber {
	t.Helper()
	switch transport {
	case "graphql-transport-ws", "graphql-ws":
		c := e.wsConnect(t, transport, token)
		c.subscribe("op1", query, vars)
		return &wsSubscriber{c: c}
	case "sse-post":
		return &sseSubscriber{c: e.sseRequest(t, http.MethodPost, token, query, vars, header)}
	case "sse-get":
		return &sseSubscriber{c: e.sseRequest(t, http.MethodGet, token, query, vars, header)}
	}
	t.Fatalf("unknown transport %s", transport)
	return nil
}

type wsSubscriber struct{ c *wsClient }

func (s *wsSubscriber) next() ([]byte, string) { return s.c.nextData("op1"), "" }
func (s *wsSubscriber) close()                 { s.c.conn.Close() }
func (s *wsSubscriber) end() gqlError {
	s.c.t.Helper()
	m := s.c.next()
	if m.Type != "error" || m.ID != "op1" {
		s.c.t.Fatalf("want error for op1, got %s %s %s", m.Type, m.ID, m.Payload)
	}
	errs := decodePayload[[]gqlError](s.c.t, m.Payload)
	if len(errs) != 1 {
		s.c.t.Fatalf("want one error, got %s", m.Payload)
	}
	return errs[0]
}

type sseSubscriber struct{ c *sseClient }

func (s *sseSubscriber) next() ([]byte, string) {
	s.c.t.Helper()
	if s.c.resp.StatusCode != http.StatusOK {
		s.c.t.Fatalf("status %d: %s", s.c.resp.StatusCode, readAll(s.c.resp.Body))
	}
	ev := s.c.next()
	if ev.Event != "next" {
		s.c.t.Fatalf("want next, got %+v", ev)
	}
	return []byte(ev.Data), ev.ID
}
func (s *sseSubscriber) close() { s.c.close() }
func (s *sseSubscriber) end() gqlError {
	s.c.t.Helper()
	payload, _ := s.next()
	r := decodePayload[gqlResponse](s.c.t, payload)
	if len(r.Errors) != 1 {
		s.c.t.Fatalf("want one error, got %s", payload)
	}
	if ev := s.c.next(); ev.Event != "complete" {
		s.c.t.Fatalf("want complete after the error, got %+v", ev)
	}
	return r.Errors[0]
}

func code(e gqlError) string { c, _ := e.Extensions["code"].(string); return c }

// A status change reaches a subscriber on every transport and through both
// brokers, with the event's cursor in the payload, in extensions.cursor and
// (SSE) in id:, and nested fields read fresh for each event.
func TestSubscriptionDelivery(t *testing.T) {
	t.Parallel()
	for _, broker := range []string{"memory", "redis"} {
		for _, tr := range transports {
			t.Run(broker+"/"+tr, func(t *testing.T) {
				t.Parallel()
				e := newRealtimeEnv(t, broker)
				w := e.world()
				after := e.settle()
				sub := subscribeOn(t, e.env, tr, e.token(w.alice), orderEventsQuery, map[string]any{"p": w.p1.ID, "after": after}, nil)

				var cursors []string
				for i, step := range []struct {
					status, previous string
					history          int
				}{{"PAID", "PENDING", 2}, {"FULFILLED", "PAID", 3}} {
					e.setStatus(w.o1, switchyard.OrderStatus(step.status))
					raw, id := sub.next()
					p := decodePayload[orderEventPayload](t, raw)
					ev := p.event()
					if len(p.Errors) > 0 || ev == nil {
						t.Fatalf("event %d: %s", i, raw)
					}
					if ev.Type != "STATUS_CHANGED" || ev.Order.ID != w.o1.ID || ev.Order.Status != step.status || ev.PreviousStatus == nil || *ev.PreviousStatus != step.previous {
						t.Errorf("event %d: %s", i, raw)
					}
					// A per-operation cache would serve the first event's
					// history again.
					if len(ev.Order.History) != step.history || ev.Order.Customer.Email != w.dave.Email || ev.Order.Project == nil || ev.Order.Project.Name != w.p1.Name || len(ev.Order.Items) != 2 {
						t.Errorf("event %d nested fields: %s", i, raw)
					}
					if ev.Cursor == "" || p.Extensions["cursor"] != ev.Cursor {
						t.Errorf("event %d: cursor %q, extensions %v", i, ev.Cursor, p.Extensions)
					}
					if strings.HasPrefix(tr, "sse") && id != ev.Cursor {
						t.Errorf("event %d: id: %q, cursor %q", i, id, ev.Cursor)
					}
					cursors = append(cursors, ev.Cursor)
				}
				s0, _ := switchyard.ParseEventCursor("c", cursors[0])
				s1, _ := switchyard.ParseEventCursor("c", cursors[1])
				if s1 <= s0 {
					t.Errorf("cursors out of order: %v", cursors)
				}
			})
		}
	}
}

// orderUpdated has no `after`: over WebSocket the test changes the order
// until the subscription (whose registration it cannot observe) reports it;
// over SSE, Last-Event-ID resumes it from a known position.
func TestOrderUpdated(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	const q = `subscription($id: ID!) { orderUpdated(id: $id) { cursor type order { id shipment { trackingNumber } } } }`

	for _, tr := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(tr, func(t *testing.T) {
			c := e.wsConnect(t, tr, e.token(w.dave))
			c.subscribe("op1", q, map[string]any{"id": w.o1.ID})
			deadline := time.Now().Add(waitFor)
			for n := 0; ; n++ {
				e.setShipment(w.o1, tr+"-"+string(rune('a'+n%26)))
				if m, ok := c.nextWithin(200 * time.Millisecond); ok {
					if m.Type != c.dataType() || !strings.Contains(string(m.Payload), `"type":"SHIPMENT_SET"`) || !strings.Contains(string(m.Payload), tr+"-") {
						t.Fatalf("got %s %s", m.Type, m.Payload)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("no orderUpdated event")
				}
			}
		})
	}
	t.Run("sse with Last-Event-ID", func(t *testing.T) {
		after := e.settle()
		sub := subscribeOn(t, e.env, "sse-post", e.token(w.alice), q, map[string]any{"id": w.o1.ID}, http.Header{"Last-Event-ID": {after}})
		e.setShipment(w.o2, "not-this-order")
		e.setShipment(w.o1, "TRACK-1")
		raw, id := sub.next()
		if !strings.Contains(string(raw), "TRACK-1") || id == "" {
			t.Fatalf("got %s (id %q)", raw, id)
		}
	})
	t.Run("an order one may not read is NOT_FOUND", func(t *testing.T) {
		for _, tr := range transports {
			sub := subscribeOn(t, e.env, tr, e.token(w.carol), q, map[string]any{"id": w.o1.ID}, nil)
			raw, _ := sub.next()
			r := decodePayload[gqlResponse](t, raw)
			if r.code() != switchyard.ENOTFOUND {
				t.Errorf("%s: %s", tr, raw)
			}
		}
	})
}

// Resuming after a disconnect: the events missed come first, in order, with
// no gap and no duplicate, then live ones. Last-Event-ID wins over `after`.
func TestResume(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			e := newRealtimeEnv(t, "memory")
			w := e.world()
			start := e.settle()
			vars := map[string]any{"p": w.p1.ID, "after": start}
			sub := subscribeOn(t, e.env, tr, e.token(w.alice), orderEventsQuery, vars, nil)
			e.setStatus(w.o1, switchyard.OrderPaid)
			raw, _ := sub.next()
			first := decodePayload[orderEventPayload](t, raw).event()
			sub.close()

			// Missed while away.
			e.setStatus(w.o1, switchyard.OrderFulfilled)
			e.setShipment(w.o1, "T-1")
			e.setStatus(w.o1, switchyard.OrderShipped)

			var header http.Header
			if strings.HasPrefix(tr, "sse") {
				// The header overrides the stale `after` the request repeats.
				header = http.Header{"Last-Event-ID": {first.Cursor}}
			} else {
				vars = map[string]any{"p": w.p1.ID, "after": first.Cursor}
			}
			sub = subscribeOn(t, e.env, tr, e.token(w.alice), orderEventsQuery, vars, header)
			var got []string
			var cursors []string
			for range 3 {
				raw, _ := sub.next()
				ev := decodePayload[orderEventPayload](t, raw).event()
				got = append(got, ev.Type+":"+ev.Order.Status)
				cursors = append(cursors, ev.Cursor)
			}
			e.setStatus(w.o1, switchyard.OrderDelivered)
			raw, _ = sub.next()
			ev := decodePayload[orderEventPayload](t, raw).event()
			got = append(got, ev.Type+":"+ev.Order.Status)
			cursors = append(cursors, ev.Cursor)

			want := []string{"STATUS_CHANGED:FULFILLED", "SHIPMENT_SET:FULFILLED", "STATUS_CHANGED:SHIPPED", "STATUS_CHANGED:DELIVERED"}
			if !slices.Equal(got, want) {
				t.Fatalf("after resuming: %v, want %v", got, want)
			}
			prev, _ := switchyard.ParseEventCursor("c", first.Cursor)
			for _, c := range cursors {
				seq, _ := switchyard.ParseEventCursor("c", c)
				if seq <= prev {
					t.Fatalf("cursors not increasing: %s then %v", first.Cursor, cursors)
				}
				prev = seq
			}
		})
	}
}

// Another member never receives an event of a project they cannot read: not
// live, not on replay, not after being removed from it.
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "redis")
	w := e.world()
	const q = `subscription($after: String) { orderEvents(after: $after) { cursor order { id status } } }`

	t.Run("live", func(t *testing.T) {
		start := e.settle()
		subs := map[string]subscriber{}
		for _, tr := range transports {
			subs[tr] = subscribeOn(t, e.env, tr, e.token(w.carol), q, map[string]any{"after": start}, nil)
		}
		e.setStatus(w.o1, switchyard.OrderPaid) // P1: not carol's
		e.setStatus(w.o2, switchyard.OrderPaid) // P2: carol's
		for tr, sub := range subs {
			raw, _ := sub.next()
			if !strings.Contains(string(raw), w.o2.ID) || strings.Contains(string(raw), w.o1.ID) {
				t.Errorf("%s: carol's first event is %s", tr, raw)
			}
		}

		t.Run("replay", func(t *testing.T) {
			e.setStatus(w.o2, switchyard.OrderFulfilled)
			for _, tr := range transports {
				sub := subscribeOn(t, e.env, tr, e.token(w.carol), q, map[string]any{"after": start}, nil)
				for _, want := range []string{`"status":"PAID"`, `"status":"FULFILLED"`} {
					raw, _ := sub.next()
					if !strings.Contains(string(raw), w.o2.ID) || !strings.Contains(string(raw), want) {
						t.Errorf("%s: replayed %s, want o2 %s", tr, raw, want)
					}
				}
				sub.close()
			}
		})
	})

	t.Run("removed member", func(t *testing.T) {
		start := e.settle()
		subs := map[string]subscriber{}
		for _, tr := range transports {
			subs[tr] = subscribeOn(t, e.env, tr, e.token(w.bob), q, map[string]any{"after": start}, nil)
		}
		if _, err := e.projects.RemoveProjectMember(adminCtx(), w.p1.ID, w.bob.ID); err != nil {
			t.Fatal(err)
		}
		e.setStatus(w.o1, switchyard.OrderFulfilled) // P1, bob no longer a member
		if _, err := e.projects.AddProjectMember(adminCtx(), w.p2.ID, w.bob.ID); err != nil {
			t.Fatal(err)
		}
		e.setStatus(w.o2, switchyard.OrderShipped) // P2, bob now a member
		for tr, sub := range subs {
			raw, _ := sub.next()
			if !strings.Contains(string(raw), w.o2.ID) {
				t.Errorf("%s: bob's first event after his removal is %s", tr, raw)
			}
		}
	})

	t.Run("projectUpdated of an unreadable project is NOT_FOUND", func(t *testing.T) {
		for _, tr := range transports {
			sub := subscribeOn(t, e.env, tr, e.token(w.carol), `subscription($id: ID!) { projectUpdated(id: $id) { id name } }`, map[string]any{"id": w.p1.ID}, nil)
			raw, _ := sub.next()
			if r := decodePayload[gqlResponse](t, raw); r.code() != switchyard.ENOTFOUND {
				t.Errorf("%s: %s", tr, raw)
			}
		}
	})

	t.Run("anonymous is UNAUTHENTICATED", func(t *testing.T) {
		for _, tr := range transports {
			sub := subscribeOn(t, e.env, tr, "", q, nil, nil)
			raw, _ := sub.next()
			if r := decodePayload[gqlResponse](t, raw); r.code() != switchyard.EUNAUTHENTICATED {
				t.Errorf("%s: %s", tr, raw)
			}
		}
	})
}

func TestProjectUpdated(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	after := e.settle()
	sub := subscribeOn(t, e.env, "sse-post", e.token(w.bob), `subscription($id: ID!) { projectUpdated(id: $id) { id name owner { email } } }`,
		map[string]any{"id": w.p1.ID}, http.Header{"Last-Event-ID": {after}})
	name := "Apollo renamed"
	if _, err := e.projects.UpdateProject(adminCtx(), w.p1.ID, switchyard.ProjectUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	raw, id := sub.next()
	if !strings.Contains(string(raw), name) || !strings.Contains(string(raw), w.alice.Email) || id == "" {
		t.Fatalf("got %s", raw)
	}
}

// A subscription ends with UNAUTHENTICATED when the token that opened it
// expires, and names the cursor to resume after.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			start := e.settle()
			tok := e.tokenTTL(w.alice, 2*time.Second)
			sub := subscribeOn(t, e.env, tr, tok, orderEventsQuery, map[string]any{"p": w.p1.ID, "after": start}, nil)
			got := sub.end()
			// The message names where to resume, though no event came yet.
			if code(got) != switchyard.EUNAUTHENTICATED || !strings.Contains(got.Message, "expired") || !strings.Contains(got.Message, "resume after cursor") {
				t.Fatalf("got %+v", got)
			}
			if len(got.Path) != 1 || got.Path[0] != "orderEvents" {
				t.Errorf("path %v", got.Path)
			}
		})
	}
	t.Run("new operations on an expired websocket", func(t *testing.T) {
		// After the world's own events: the token expires before any other
		// could come.
		after := e.settle()
		c := e.wsConnect(t, "graphql-transport-ws", e.tokenTTL(w.alice, time.Second))
		c.subscribe("a", orderEventsQuery, map[string]any{"p": w.p1.ID, "after": after})
		if m := c.next(); m.Type != "error" || !strings.Contains(string(m.Payload), "expired") {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
		c.subscribe("b", `{ me { email } }`, nil)
		m := c.next()
		if m.Type != "error" || m.ID != "b" || !strings.Contains(string(m.Payload), switchyard.EUNAUTHENTICATED) {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})
}

// A cursor that is malformed or older than the log keeps is refused with
// BAD_USER_INPUT naming the field, never served with a gap.
func TestBadCursor(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	e.setStatus(w.o1, switchyard.OrderPaid)
	e.setStatus(w.o1, switchyard.OrderFulfilled)
	e.settle()
	if err := pruneAll(e); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, after, field string }{
		{"malformed", "not-a-cursor", "after"},
		{"pruned", switchyard.EventCursor(1), "after"},
	} {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				sub := subscribeOn(t, e.env, tr, e.token(w.alice), orderEventsQuery, map[string]any{"after": tc.after}, nil)
				raw, _ := sub.next()
				r := decodePayload[gqlResponse](t, raw)
				if r.code() != switchyard.EINVALID || r.field() != tc.field {
					t.Fatalf("got %s", raw)
				}
			})
		}
	}
	t.Run("malformed Last-Event-ID", func(t *testing.T) {
		sub := subscribeOn(t, e.env, "sse-post", e.token(w.alice), orderEventsQuery, nil, http.Header{"Last-Event-ID": {"garbage"}})
		raw, _ := sub.next()
		if r := decodePayload[gqlResponse](t, raw); r.code() != switchyard.EINVALID || r.field() != "Last-Event-ID" {
			t.Fatalf("got %s", raw)
		}
	})
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	start := e.settle()
	const sub = `subscription($after: String) { notificationCreated(after: $after) { id kind title subject { __typename ... on Order { id status } ... on Project { id name } } } }`
	dave := subscribeOn(t, e.env, "graphql-transport-ws", e.token(w.dave), sub, map[string]any{"after": start}, nil)
	bob := subscribeOn(t, e.env, "sse-post", e.token(w.bob), sub, map[string]any{"after": start}, nil)

	e.setStatus(w.o1, switchyard.OrderPaid) // tells dave (customer) and alice (owner)
	raw, _ := dave.next()
	if !strings.Contains(string(raw), `"kind":"ORDER_STATUS_CHANGED"`) || !strings.Contains(string(raw), `"__typename":"Order"`) || !strings.Contains(string(raw), w.o1.ID) {
		t.Fatalf("dave got %s", raw)
	}
	if _, err := e.projects.AddProjectMember(adminCtx(), w.p2.ID, w.bob.ID); err != nil {
		t.Fatal(err)
	}
	raw, _ = bob.next() // not alice's or dave's: his own, the next one
	if !strings.Contains(string(raw), `"kind":"PROJECT_MEMBER_ADDED"`) || !strings.Contains(string(raw), w.p2.ID) {
		t.Fatalf("bob got %s", raw)
	}

	const list = `query($u: Boolean) { notifications(unreadOnly: $u, first: 10) { totalCount edges { node { id kind readAt subject { __typename ... on Order { id } ... on Project { id } } } } } unreadNotificationCount }`
	type listResp struct {
		Notifications struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID, Kind string
					ReadAt   *string
					Subject  *struct{ Typename, ID string } `json:"subject"`
				}
			}
		}
		UnreadNotificationCount int
	}
	var daves listResp
	e.gql(e.token(w.dave), list, nil).decode(t, &daves)
	if daves.Notifications.TotalCount != 1 || daves.UnreadNotificationCount != 1 || daves.Notifications.Edges[0].Node.Kind != "ORDER_STATUS_CHANGED" {
		t.Fatalf("dave's notifications: %+v", daves)
	}
	davesID := daves.Notifications.Edges[0].Node.ID

	t.Run("only your own", func(t *testing.T) {
		r := e.gql(e.token(w.alice), `mutation($id: ID!) { markNotificationRead(id: $id) { id } }`, map[string]any{"id": davesID})
		if r.code() != switchyard.ENOTFOUND {
			t.Fatalf("alice marking dave's: %s", r.Raw)
		}
		r = e.gql(e.token(w.admin), `mutation($id: ID!) { markNotificationRead(id: $id) { id } }`, map[string]any{"id": davesID})
		if r.code() != switchyard.ENOTFOUND {
			t.Fatalf("admin marking dave's: %s", r.Raw)
		}
		if r := e.gql("", `{ unreadNotificationCount }`, nil); r.code() != switchyard.EUNAUTHENTICATED {
			t.Fatalf("anonymous: %s", r.Raw)
		}
	})
	t.Run("mark read", func(t *testing.T) {
		var m struct{ MarkNotificationRead struct{ ReadAt *string } }
		e.gql(e.token(w.dave), `mutation($id: ID!) { markNotificationRead(id: $id) { readAt } }`, map[string]any{"id": davesID}).decode(t, &m)
		if m.MarkNotificationRead.ReadAt == nil {
			t.Fatal("readAt not set")
		}
		var after listResp
		e.gql(e.token(w.dave), list, map[string]any{"u": true}).decode(t, &after)
		if after.UnreadNotificationCount != 0 || after.Notifications.TotalCount != 0 {
			t.Fatalf("after marking: %+v", after)
		}
		var all struct{ MarkAllNotificationsRead int }
		e.gql(e.token(w.alice), `mutation { markAllNotificationsRead }`, nil).decode(t, &all)
		if all.MarkAllNotificationsRead != 1 {
			t.Fatalf("alice marked %d", all.MarkAllNotificationsRead)
		}
	})
	t.Run("subject is null once unreadable", func(t *testing.T) {
		if _, err := e.projects.RemoveProjectMember(adminCtx(), w.p2.ID, w.bob.ID); err != nil {
			t.Fatal(err)
		}
		r := e.gql(e.token(w.bob), `{ notifications { edges { node { kind subject { __typename } } } } }`, nil)
		if len(r.Errors) > 0 || !strings.Contains(r.Raw, `"subject":null`) {
			t.Fatalf("got %s", r.Raw)
		}
	})
}

// pruneAll deletes every published event, as retention would once they are
// old enough.
func pruneAll(e *rtEnv) error {
	_, err := postgres.PruneEvents(context.Background(), e.rtdb, 0)
	return err
}
