package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

// waitFor bounds every wait for something the server sends; deliveries take
// milliseconds, and a loaded 2-core machine running -race gets ample slack.
const waitFor = 15 * time.Second

// rtEnv is an env with live updates: a relay and a hub over the env's
// database, publishing through a memory or a Redis broker.
type rtEnv struct {
	*env
	rtdb    *postgres.DB
	tickets *postgres.TicketService
	hub     *realtime.Hub
}

// newRealtimeEnv starts a server with realtime; broker is "memory" or
// "redis" (REDIS_URL, each test on its own channel).
func newRealtimeEnv(t *testing.T, broker string, opts ...envOption) *rtEnv {
	t.Helper()
	dsn := postgrestest.NewDatabaseURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var b switchyard.Broker
	switch broker {
	case "memory":
		b = realtime.NewMemoryBroker()
	case "redis":
		raw := os.Getenv("REDIS_URL")
		if raw == "" {
			t.Fatal(`REDIS_URL is not set; start the project's services first: make services && eval "$(make -s env)"`)
		}
		o, err := redis.ParseURL(raw)
		if err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
		client := redis.NewClient(o)
		t.Cleanup(func() { client.Close() })
		suffix := make([]byte, 6)
		_, _ = rand.Read(suffix)
		b = realtime.NewRedisBroker(client, "switchyard-test:"+hex.EncodeToString(suffix))
	default:
		t.Fatalf("unknown broker %q", broker)
	}
	hub := realtime.NewHub(postgres.NewEventLog(db), postgres.NewUserService(db), realtime.HubOptions{
		CheckInterval: 200 * time.Millisecond, Logger: logger,
	})
	relay := postgres.NewRelay(db, b, logger, postgres.WithRelayPollInterval(100*time.Millisecond), postgres.WithRelayLockRetry(100*time.Millisecond))
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(runCtx) })
	wg.Go(func() { _ = hub.Run(runCtx, b) })
	t.Cleanup(func() {
		stop()
		wg.Wait()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("realtime log:\n%s", logs.String())
		}
	})
	tickets := postgres.NewTicketService(db)
	all := append([]envOption{withDSN(dsn), withResolver(func(r *resolvers.Resolver) {
		r.Events = hub
		r.Notifications = postgres.NewNotificationService(db)
		r.Tickets = tickets
	})}, opts...)
	return &rtEnv{env: newEnv(t, all...), rtdb: db, tickets: tickets, hub: hub}
}

// settle waits until the relay has published every committed event and
// returns the cursor of the last one: a subscription that resumes after it
// gets exactly the events of changes made from now on, however long it
// takes to register.
func (e *rtEnv) settle() string {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var unpublished, published int64
		err := e.rtdb.Pool().QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM events WHERE seq IS NULL OR seq > r.published_seq), r.published_seq
			FROM relay_state r`).Scan(&unpublished, &published)
		if err != nil {
			e.t.Fatalf("settle: %v", err)
		}
		if unpublished == 0 {
			return switchyard.EventCursor(published)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("settle: %d events still unpublished after %v", unpublished, waitFor)
		}
		time.Sleep(10 * time.Millisecond) // polling the database, with a deadline
	}
}

// setStatus changes an order's status as an admin, as a mutation would.
func (e *rtEnv) setStatus(o *switchyard.Order, s switchyard.OrderStatus) {
	e.t.Helper()
	if _, err := e.orders.UpdateOrderStatus(adminCtx(), o.ID, s, nil); err != nil {
		e.t.Fatalf("status %s: %v", s, err)
	}
}

func (e *rtEnv) setShipment(o *switchyard.Order, tracking string) {
	e.t.Helper()
	if _, err := e.orders.SetOrderShipment(adminCtx(), o.ID, switchyard.Shipment{Carrier: "UPS", TrackingNumber: tracking}); err != nil {
		e.t.Fatalf("shipment: %v", err)
	}
}

func (e *env) tokenTTL(u *switchyard.User, ttl time.Duration) string {
	e.t.Helper()
	tok, err := server.IssueToken(testSecret, u, ttl)
	if err != nil {
		e.t.Fatalf("token: %v", err)
	}
	return tok
}

// orderEventsQuery selects enough of an OrderEvent to see that nested fields
// are read per event.
const orderEventsQuery = `subscription($p: ID, $after: String) {
  orderEvents(projectId: $p, after: $after) {
    cursor type previousStatus occurredAt
    order { id status history { to } customer { email } project { name } items { sku } shipment { trackingNumber } }
  }
}`

type orderEventPayload struct {
	Data struct {
		OrderEvents  *orderEvent `json:"orderEvents"`
		OrderUpdated *orderEvent `json:"orderUpdated"`
	} `json:"data"`
	Errors     []gqlError     `json:"errors"`
	Extensions map[string]any `json:"extensions"`
}

func (p orderEventPayload) event() *orderEvent {
	if p.Data.OrderEvents != nil {
		return p.Data.OrderEvents
	}
	return p.Data.OrderUpdated
}

type orderEvent struct {
	Cursor         string  `json:"cursor"`
	Type           string  `json:"type"`
	PreviousStatus *string `json:"previousStatus"`
	Order          struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		History []struct {
			To string `json:"to"`
		} `json:"history"`
		Customer struct {
			Email string `json:"email"`
		} `json:"customer"`
		Project *struct {
			Name string `json:"name"`
		} `json:"project"`
		Items    []struct{ SKU string } `json:"items"`
		Shipment *struct {
			TrackingNumber string `json:"trackingNumber"`
		} `json:"shipment"`
	} `json:"order"`
}

func decodePayload[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// WebSocket client: a reader goroutine feeds a channel, so waits have
// deadlines without corrupting the connection with read timeouts.

type wsClient struct {
	t     *testing.T
	conn  *websocket.Conn
	proto string
	msgs  chan wsMessage
	done  chan struct{}
	err   error // why reading stopped, once done is closed
}

func (e *env) dialWSHeader(t *testing.T, proto string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if proto != "" {
		d.Subprotocols = []string{proto}
	}
	return d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", h)
}

// wsOpen dials without sending anything.
func (e *env) wsOpen(t *testing.T, proto string) *wsClient {
	t.Helper()
	conn, resp, err := e.dialWSHeader(t, proto, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", proto, err)
	}
	resp.Body.Close()
	c := &wsClient{t: t, conn: conn, proto: proto, msgs: make(chan wsMessage, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			var m wsMessage
			if err := json.Unmarshal(data, &m); err != nil {
				c.err = err
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c
}

// wsConnect dials and completes connection_init with token ("" anonymous).
func (e *env) wsConnect(t *testing.T, proto, token string) *wsClient {
	t.Helper()
	c := e.wsOpen(t, proto)
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	c.send(map[string]any{"type": "connection_init", "payload": payload})
	if m := c.next(); m.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %s %s", m.Type, m.Payload)
	}
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) sendRaw(data []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	typ := "subscribe"
	if c.proto == "graphql-ws" {
		typ = "start"
	}
	c.send(map[string]any{"id": id, "type": typ, "payload": map[string]any{"query": query, "variables": vars}})
}

func (c *wsClient) dataType() string {
	if c.proto == "graphql-ws" {
		return "data"
	}
	return "next"
}

// next returns the next message that is not a keep-alive.
func (c *wsClient) next() wsMessage {
	c.t.Helper()
	m, ok := c.nextWithin(waitFor)
	if !ok {
		c.t.Fatalf("no message within %v (connection: %v)", waitFor, c.err)
	}
	return m
}

func (c *wsClient) nextWithin(d time.Duration) (wsMessage, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-c.msgs:
			switch m.Type {
			case "ka", "ping", "pong":
				continue
			}
			return m, true
		case <-c.done:
			// Drain what arrived before the close.
			select {
			case m := <-c.msgs:
				if m.Type == "ka" || m.Type == "ping" || m.Type == "pong" {
					continue
				}
				return m, true
			default:
			}
			return wsMessage{}, false
		case <-timer.C:
			return wsMessage{}, false
		}
	}
}

// nextData returns the payload of the next data message for id, failing on
// anything else.
func (c *wsClient) nextData(id string) []byte {
	c.t.Helper()
	m := c.next()
	if m.Type != c.dataType() || m.ID != id {
		c.t.Fatalf("want %s for %s, got %s %s: %s", c.dataType(), id, m.Type, m.ID, m.Payload)
	}
	return m.Payload
}

// closed waits for the server to close the connection and returns the close
// error.
func (c *wsClient) closed() *websocket.CloseError {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		c.t.Fatalf("connection still open after %v", waitFor)
	}
	var ce *websocket.CloseError
	if !errors.As(c.err, &ce) {
		c.t.Fatalf("want a close frame, got %v", c.err)
	}
	return ce
}

// SSE client.

type sseEvent struct {
	ID, Event, Data string
	Comment         bool
}

type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
	cancel context.CancelFunc
}

// sseRequest opens a GraphQL-over-SSE stream: POST with a JSON body, or GET
// with query parameters.
func (e *env) sseRequest(t *testing.T, method, token, query string, vars map[string]any, header http.Header) *sseClient {
	t.Helper()
	var req *http.Request
	ctx, cancel := context.WithCancel(context.Background())
	if method == http.MethodGet {
		q := url.Values{"query": {query}}
		if vars != nil {
			b, _ := json.Marshal(vars)
			q.Set("variables", string(b))
		}
		req, _ = http.NewRequestWithContext(ctx, method, e.url+"/graphql?"+q.Encode(), nil)
	} else {
		b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ = http.NewRequestWithContext(ctx, method, e.url+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return e.openSSE(t, req, cancel)
}

func (e *env) openSSE(t *testing.T, req *http.Request, cancel context.CancelFunc) *sseClient {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 1024), done: make(chan struct{}), cancel: cancel}
	t.Cleanup(c.close)
	if resp.StatusCode != http.StatusOK {
		return c
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.Comment = true
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "id":
					ev.ID = value
				case "event":
					ev.Event = value
				case "data":
					ev.Data = value
				}
			}
		}
	}()
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event that is not a heartbeat.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	ev, ok := c.nextWithin(waitFor, false)
	if !ok {
		c.t.Fatalf("no event within %v", waitFor)
	}
	return ev
}

func (c *sseClient) nextWithin(d time.Duration, comments bool) (sseEvent, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-c.events:
			if ev.Comment && ev.Event == "" && ev.Data == "" && !comments {
				continue
			}
			return ev, true
		case <-c.done:
			select {
			case ev := <-c.events:
				if ev.Comment && ev.Event == "" && ev.Data == "" && !comments {
					continue
				}
				return ev, true
			default:
			}
			return sseEvent{}, false
		case <-timer.C:
			return sseEvent{}, false
		}
	}
}

// ended reports whether the server closed the stream (after draining events).
func (c *sseClient) ended() bool {
	select {
	case <-c.done:
		return true
	case <-time.After(waitFor):
		return false
	}
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}
