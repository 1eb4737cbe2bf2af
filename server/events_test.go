package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

type wireEvent struct {
	Cursor      string          `json:"cursor"`
	Type        string          `json:"type"`
	SubjectType string          `json:"subjectType"`
	SubjectID   string          `json:"subjectId"`
	ProjectID   *string         `json:"projectId"`
	Data        json.RawMessage `json:"data"`
}

// eventsGET opens /events at pathAndQuery; token "" sends no Authorization.
func (e *env) eventsGET(t *testing.T, pathAndQuery, token string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+pathAndQuery, nil)
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return e.openSSE(t, req, cancel)
}

func (c *sseClient) wantStatus(t *testing.T, status int, code string) {
	t.Helper()
	if c.resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", c.resp.StatusCode, status, readAll(c.resp.Body))
	}
	if code != "" {
		if body := readAll(c.resp.Body); !strings.Contains(body, `"code":"`+code+`"`) {
			t.Fatalf("body %s lacks code %s", body, code)
		}
	}
}

func (c *sseClient) nextEvent(t *testing.T) (sseEvent, wireEvent) {
	t.Helper()
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", c.resp.StatusCode, readAll(c.resp.Body))
	}
	ev := c.next()
	return ev, decodePayload[wireEvent](t, []byte(ev.Data))
}

func (e *rtEnv) ticket(t *testing.T, token string, topics ...string) (ticket, url string) {
	t.Helper()
	var r struct {
		CreateEventStreamTicket struct {
			Ticket, URL string
			ExpiresAt   time.Time
		}
	}
	e.gql(token, `mutation($t: [EventTopic!]) { createEventStreamTicket(topics: $t) { ticket url expiresAt } }`, map[string]any{"t": topics}).decode(t, &r)
	tk := r.CreateEventStreamTicket
	if d := time.Until(tk.ExpiresAt); d <= 0 || d > 2*switchyard.EventStreamTicketTTL {
		t.Fatalf("ticket expires in %v", d)
	}
	if !strings.HasPrefix(tk.URL, "/events?") || !strings.Contains(tk.URL, "ticket=") {
		t.Fatalf("url %q", tk.URL)
	}
	return tk.Ticket, tk.URL
}

func TestEventsEndpoint(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "redis")
	w := e.world()

	t.Run("ticket: status change, single use", func(t *testing.T) {
		after := e.settle()
		_, url := e.ticket(t, e.token(w.alice), "ORDERS")
		if !strings.Contains(url, "topics=orders") {
			t.Fatalf("url %q", url)
		}
		c := e.eventsGET(t, url+"&after="+after, "", nil)
		e.setStatus(w.o1, switchyard.OrderPaid)
		ev, we := c.nextEvent(t)
		if ev.Event != switchyard.EventOrderStatusChanged || ev.ID == "" || ev.ID != we.Cursor {
			t.Fatalf("event %+v", ev)
		}
		if we.SubjectType != "order" || we.SubjectID != w.o1.ID || we.ProjectID == nil || *we.ProjectID != w.p1.ID || !strings.Contains(string(we.Data), `"status":"PAID"`) {
			t.Fatalf("data %s", ev.Data)
		}
		if strings.Contains(ev.Data, "actorId") || strings.Contains(ev.Data, "userIds") {
			t.Errorf("data leaks routing fields: %s", ev.Data)
		}
		e.eventsGET(t, url, "", nil).wantStatus(t, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED)
	})

	t.Run("ticket refusals", func(t *testing.T) {
		ctx := switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: w.alice.ID, Role: switchyard.RoleMember})
		expired, err := e.tickets.WithTicketTTL(-time.Second).CreateEventStreamTicket(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.eventsGET(t, "/events?ticket="+expired.Ticket, "", nil).wantStatus(t, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED)
		e.eventsGET(t, "/events?ticket=forged", "", nil).wantStatus(t, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED)
		tk, _ := e.ticket(t, e.token(w.alice), "ORDERS")
		e.eventsGET(t, "/events?topics=notifications&ticket="+tk, "", nil).wantStatus(t, http.StatusForbidden, switchyard.EFORBIDDEN)
		if r := e.gql("", `mutation { createEventStreamTicket { ticket } }`, nil); r.code() != switchyard.EUNAUTHENTICATED {
			t.Fatalf("anonymous ticket: %s", r.Raw)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		e.eventsGET(t, "/events?topics=orders", "", nil).wantStatus(t, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED)
		e.eventsGET(t, "/events?topics=orders,users", e.token(w.alice), nil).wantStatus(t, http.StatusBadRequest, switchyard.EINVALID)
		e.eventsGET(t, "/events?after=nope", e.token(w.alice), nil).wantStatus(t, http.StatusBadRequest, switchyard.EINVALID)
		e.eventsGET(t, "/events", e.token(w.alice), http.Header{"Last-Event-ID": {"nope"}}).wantStatus(t, http.StatusBadRequest, switchyard.EINVALID)
		e.eventsGET(t, "/events", "nope", nil).wantStatus(t, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED)
	})

	t.Run("resume with Last-Event-ID", func(t *testing.T) {
		after := e.settle()
		c := e.eventsGET(t, "/events?topics=orders&after="+after, e.token(w.alice), nil)
		e.setStatus(w.o1, switchyard.OrderFulfilled)
		first, _ := c.nextEvent(t)
		c.close()
		e.setShipment(w.o1, "T-9")
		e.setStatus(w.o1, switchyard.OrderShipped)
		// EventSource repeats its URL and adds the header: the header wins.
		c = e.eventsGET(t, "/events?topics=orders&after="+after, e.token(w.alice), http.Header{"Last-Event-ID": {first.ID}})
		var got []string
		for range 2 {
			ev, _ := c.nextEvent(t)
			got = append(got, ev.Event)
		}
		if strings.Join(got, ",") != "order.shipment_set,order.status_changed" {
			t.Fatalf("resumed with %v", got)
		}
	})

	t.Run("isolation and topics", func(t *testing.T) {
		after := e.settle()
		carol := e.eventsGET(t, "/events?after="+after, e.token(w.carol), nil)
		daveNotes := e.eventsGET(t, "/events?topics=notifications&after="+after, e.token(w.dave), nil)
		e.setStatus(w.o1, switchyard.OrderDelivered) // P1: not carol's; dave's order
		e.setStatus(w.o2, switchyard.OrderPaid)      // P2: carol's
		if _, we := carol.nextEvent(t); we.SubjectID != w.o2.ID || we.Type != switchyard.EventOrderStatusChanged {
			t.Fatalf("carol's first event is about %s (%s)", we.SubjectID, we.Type)
		}
		ev, we := daveNotes.nextEvent(t)
		if ev.Event != switchyard.EventNotificationCreated || !strings.Contains(string(we.Data), w.o1.ID) {
			t.Fatalf("dave got %+v", ev)
		}
		// Replay obeys the same rule.
		replay := e.eventsGET(t, "/events?topics=orders&after="+after, e.token(w.carol), nil)
		e.setStatus(w.o2, switchyard.OrderFulfilled)
		for _, want := range []string{`"status":"PAID"`, `"status":"FULFILLED"`} {
			if _, we := replay.nextEvent(t); we.SubjectID != w.o2.ID || !strings.Contains(string(we.Data), want) {
				t.Fatalf("carol's replay: %s %s, want o2 %s", we.SubjectID, we.Data, want)
			}
		}
	})

	t.Run("a ticket's stream ends when the token that made it expires", func(t *testing.T) {
		after := e.settle()
		_, url := e.ticket(t, e.tokenTTL(w.alice, 2*time.Second))
		c := e.eventsGET(t, url+"&after="+after, "", nil)
		ev, ok := c.nextWithin(waitFor, false)
		if !ok || ev.Event != "error" || !strings.Contains(ev.Data, switchyard.EUNAUTHENTICATED) || !strings.Contains(ev.Data, "expired") {
			t.Fatalf("got %+v", ev)
		}
		if !c.ended() {
			t.Fatal("stream still open")
		}
	})
}
