package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/switchyard/switchyard"
)

// eventsHandler serves GET /events: the live events as a plain EventSource
// stream, for clients that do not speak GraphQL.
//
//	GET /events?topics=orders,notifications[&ticket=…][&after=<cursor>]
//
// Each event is `id: <cursor>`, `event: <event type>` (like
// order.status_changed) and `data: {json}`. The stream resumes after the
// Last-Event-ID header, which EventSource sends by itself when it
// reconnects, or else after the `after` parameter, for a new EventSource
// (which cannot set that header). The caller authenticates with the
// Authorization header or with a ticket from createEventStreamTicket, which
// is consumed: EventSource cannot send headers. Refusals before the stream
// starts are HTTP errors with a GraphQL-shaped JSON body, so EventSource
// stops instead of retrying; a stream that ends with an error (a slow
// consumer, an expired token) sends `event: error` with the error and its
// resume cursor, then closes.
//
// Every event goes through the same EventStream as the GraphQL
// subscriptions, so the same per-event access checks apply.
type eventsHandler struct {
	events    switchyard.EventStream
	tickets   switchyard.TicketService
	callers   switchyard.CallerResolver
	log       *slog.Logger
	present   graphql.ErrorPresenterFunc
	heartbeat time.Duration
}

// wireEvent is an event as /events sends it: no actor, no recipients.
type wireEvent struct {
	Cursor      string          `json:"cursor"`
	Type        string          `json:"type"`
	SubjectType string          `json:"subjectType"`
	SubjectID   string          `json:"subjectId"`
	ProjectID   *string         `json:"projectId"`
	OccurredAt  time.Time       `json:"occurredAt"`
	Data        json.RawMessage `json:"data"`
}

func (h *eventsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	caller := switchyard.CallerFromContext(ctx)
	allowed := switchyard.EventTopics
	if ticket := q.Get("ticket"); ticket != "" {
		if h.tickets == nil {
			h.fail(w, r, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "this server issues no tickets; send an Authorization header"))
			return
		}
		grant, err := h.tickets.RedeemEventStreamTicket(ctx, ticket)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		c, err := h.callers.ResolveCaller(ctx, grant.UserID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		cc := *c
		cc.ExpiresAt = grant.SessionExpiresAt
		caller, allowed = &cc, grant.Topics
		ctx = switchyard.NewContextWithCaller(ctx, caller)
	}
	if caller == nil {
		h.fail(w, r, switchyard.Errorf(switchyard.EUNAUTHENTICATED,
			"authentication required: send Authorization: Bearer <token>, or a ticket from createEventStreamTicket as ?ticket="))
		return
	}
	if caller.UserID == "" {
		h.fail(w, r, switchyard.Errorf(switchyard.EFORBIDDEN, "live updates are for signed-in users; partners receive outbound webhooks"))
		return
	}
	if !caller.ExpiresAt.IsZero() && !time.Now().Before(caller.ExpiresAt) {
		h.fail(w, r, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "token expired"))
		return
	}
	topics, err := parseTopics(q.Get("topics"), allowed)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var types []string
	for _, t := range topics {
		types = append(types, switchyard.TopicEventTypes(t)...)
	}
	resume, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if resume == "" {
		resume, field = q.Get("after"), "after"
	}
	var after int64
	if resume != "" {
		if after, err = switchyard.ParseEventCursor(field, resume); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	// The stream outlives the handler once its connection is taken over;
	// until then it ends with the request.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopWithRequest := context.AfterFunc(r.Context(), cancel)
	handedOver := false
	defer func() {
		if !handedOver {
			stopWithRequest()
			cancel()
		}
	}()
	sub, err := h.events.Subscribe(ctx, switchyard.EventFilter{Types: types, After: after})
	if err != nil {
		h.fail(w, r, err)
		return
	}

	var s *sseWriter
	var finish func()
	var inHandler chan struct{}
	if d := takeOverSSE(w, r, h.heartbeat, cancel, stopWithRequest); d != nil {
		handedOver = true
		s, finish = d.s, d.close
	} else {
		inHandler = make(chan struct{})
		s = startSSE(w, h.heartbeat, cancel)
		finish = func() {
			s.close()
			close(inHandler)
		}
	}
	// The EventStream ends the stream when the caller's credentials expire,
	// with the cursor to resume after.
	var reader eventReader
	reader.start(sub, func(e *switchyard.Event) {
		cursor := switchyard.EventCursor(e.Seq)
		data := mustJSON(wireEvent{
			Cursor: cursor, Type: e.Type, SubjectType: e.SubjectType, SubjectID: e.SubjectID,
			ProjectID: e.ProjectID, OccurredAt: e.OccurredAt, Data: e.Data,
		})
		s.event(cursor, e.Type, data) // a failed write cancels the stream
	}, func() {
		if err := sub.Err(); err != nil && ctx.Err() == nil {
			h.streamError(ctx, s, err)
		}
		finish()
	})
	if inHandler != nil {
		<-inHandler
	}
}

// parseTopics reads "orders,notifications"; empty means every allowed one.
func parseTopics(raw string, allowed []string) ([]string, error) {
	if strings.TrimSpace(raw) == "" {
		return allowed, nil
	}
	var out []string
	for _, t := range strings.Split(raw, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || slices.Contains(out, t) {
			continue
		}
		if switchyard.TopicEventTypes(t) == nil {
			return nil, switchyard.InvalidField("topics", "unknown topic %q; topics are %s", t, strings.Join(switchyard.EventTopics, ", "))
		}
		if !slices.Contains(allowed, t) {
			return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "the ticket does not cover the topic %q", t)
		}
		out = append(out, t)
	}
	return out, nil
}

// streamError ends a stream that has started: the error, presented like a
// GraphQL error, as an `error` event.
func (h *eventsHandler) streamError(ctx context.Context, s *sseWriter, err error) {
	s.event("", "error", mustJSON(h.present(ctx, err)))
}

// fail refuses the request before the stream starts.
func (h *eventsHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := map[string]int{
		switchyard.EUNAUTHENTICATED: http.StatusUnauthorized,
		switchyard.EFORBIDDEN:       http.StatusForbidden,
		switchyard.EINVALID:         http.StatusBadRequest,
		switchyard.ENOTFOUND:        http.StatusNotFound,
		switchyard.ERATELIMITED:     http.StatusTooManyRequests,
	}[switchyard.ErrorCode(err)]
	if status == 0 {
		writeInternal(w, r, h.log, fmt.Errorf("events: %w", err))
		return
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	ext := map[string]any{"code": switchyard.ErrorCode(err)}
	if f := switchyard.ErrorField(err); f != "" {
		ext["field"] = f
	}
	writeErrorExt(w, status, switchyard.ErrorMessage(err), ext)
}
