package cluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a graphql-transport-ws client that records every message it
// receives, so tests can wait for what they expect with a deadline. A
// client dialled with paused set reads nothing after connection_ack until
// resume: it models a consumer that stopped reading.
type wsClient struct {
	name string
	conn *websocket.Conn

	mu      sync.Mutex
	msgs    []wsMessage
	closed  error // why reading stopped; nil while it goes on
	changed chan struct{}
	reading bool

	trickle time.Duration
	fast    atomic.Bool

	writeMu sync.Mutex
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type dialOptions struct {
	// paused: stop reading after connection_ack until resume.
	paused bool
	// trickle, when set, makes the client read one message per trickle
	// until speedUp: a consumer far slower than the events it asked for.
	trickle time.Duration
	// rcvBuf, when set, is the socket's receive buffer: a small one makes a
	// consumer that stops reading push back on the server at once, rather
	// than after megabytes of kernel buffers.
	rcvBuf int
}

// dialWS opens a graphql-transport-ws connection to in and authenticates with
// token in the connection_init payload.
func dialWS(t testing.TB, in *instance, token string, opts dialOptions) *wsClient {
	t.Helper()
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if opts.rcvBuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, opts.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{
		Subprotocols:     []string{"graphql-transport-ws"},
		HandshakeTimeout: 10 * time.Second,
		NetDialContext:   nd.DialContext,
		ReadBufferSize:   1024,
	}
	conn, res, err := d.Dial(in.ws, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", in.ws, err, status)
	}
	if got := conn.Subprotocol(); got != "graphql-transport-ws" {
		t.Fatalf("dial %s: subprotocol %q, want graphql-transport-ws", in.ws, got)
	}
	c := &wsClient{name: in.name, conn: conn, changed: make(chan struct{}), trickle: opts.trickle}
	t.Cleanup(func() { conn.Close() })
	c.send(t, wsMessage{Type: "connection_init", Payload: mustJSON(map[string]any{"Authorization": "Bearer " + token})})
	_ = conn.SetReadDeadline(time.Now().Add(deliverTimeout))
	var ack wsMessage
	if err := conn.ReadJSON(&ack); err != nil {
		t.Fatalf("%s: waiting for connection_ack: %v", in.name, err)
	}
	if ack.Type != "connection_ack" {
		t.Fatalf("%s: got %s %s, want connection_ack", in.name, ack.Type, ack.Payload)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if !opts.paused {
		c.resume()
	}
	if opts.trickle > 0 {
		// The server drops a peer it has not heard from for a while, and a
		// trickling reader answers the server's pings only once it has read
		// everything queued before them. A slow but live client says it is
		// there with pings of its own.
		go func() {
			for !c.fast.Load() {
				if c.write(wsMessage{Type: "ping"}) != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	return c
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (c *wsClient) send(t testing.TB, m wsMessage) {
	t.Helper()
	if err := c.write(m); err != nil {
		t.Fatalf("%s: send %s: %v", c.name, m.Type, err)
	}
}

func (c *wsClient) write(m wsMessage) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteJSON(m)
}

// resume starts reading (again): every message is recorded.
func (c *wsClient) resume() {
	c.mu.Lock()
	if c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	go func() {
		for {
			if c.trickle > 0 && !c.fast.Load() {
				time.Sleep(c.trickle)
			}
			var m wsMessage
			_, raw, err := c.conn.ReadMessage()
			if err == nil {
				err = json.Unmarshal(raw, &m)
			}
			c.mu.Lock()
			if err != nil {
				c.closed = err
			} else {
				c.msgs = append(c.msgs, m)
			}
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

// speedUp ends trickle: the client reads as fast as it can from now on.
func (c *wsClient) speedUp() { c.fast.Store(true) }

func (c *wsClient) close() { c.conn.Close() }

const orderEventsQuery = `subscription($after: String, $projectId: ID) {
	orderEvents(projectId: $projectId, after: $after) { cursor type previousStatus order { id status } }
}`

// subscribe starts operation id.
func (c *wsClient) subscribe(t testing.TB, id, query string, vars map[string]any) {
	t.Helper()
	c.send(t, wsMessage{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})})
}

// orderEvent is one OrderEvent a subscription delivered.
type orderEvent struct {
	Cursor         string
	Seq            int64
	Type           string
	PreviousStatus string
	OrderID        string
	Status         string
	// ExtCursor is the payload's extensions.cursor.
	ExtCursor string
}

// brief shows at most a few events of a long list, for failure messages.
func brief(events []orderEvent) string {
	if len(events) <= 8 {
		return fmt.Sprint(events)
	}
	return fmt.Sprintf("%v … %d more … %v", events[:3], len(events)-6, events[len(events)-3:])
}

func (e orderEvent) String() string {
	return fmt.Sprintf("#%d %s %s→%s", e.Seq, e.OrderID[:8], e.PreviousStatus, e.Status)
}

// opState is what an operation received so far: its events, and how it
// ended, if it did.
type opState struct {
	Events []orderEvent
	// Ended is set once the operation completed or failed.
	Ended bool
	// Errors are the errors it ended with (an error message, or a next
	// that carries only errors).
	Errors []gqlError
	// Closed is why the connection stopped, if it did.
	Closed error
}

func (s opState) errorText() string {
	var b strings.Builder
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "[%v] %s; ", e.Extensions["code"], e.Message)
	}
	return b.String()
}

// op parses what operation id received; field is its root field.
func (c *wsClient) op(t testing.TB, id, field string) opState {
	t.Helper()
	c.mu.Lock()
	msgs := slices.Clone(c.msgs)
	closed := c.closed
	c.mu.Unlock()
	var s opState
	s.Closed = closed
	for _, m := range msgs {
		if m.ID != id {
			continue
		}
		switch m.Type {
		case "next":
			var p struct {
				Data       map[string]json.RawMessage `json:"data"`
				Errors     []gqlError                 `json:"errors"`
				Extensions map[string]any             `json:"extensions"`
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatalf("%s: next payload %s: %v", c.name, m.Payload, err)
			}
			raw, ok := p.Data[field]
			if !ok || string(raw) == "null" {
				s.Errors = append(s.Errors, p.Errors...)
				continue
			}
			var ev struct {
				Cursor         string
				Type           string
				PreviousStatus *string
				Order          struct{ ID, Status string }
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("%s: %s payload %s: %v", c.name, field, raw, err)
			}
			e := orderEvent{Cursor: ev.Cursor, Seq: cursorSeq(t, ev.Cursor), Type: ev.Type, OrderID: ev.Order.ID, Status: ev.Order.Status}
			if ev.PreviousStatus != nil {
				e.PreviousStatus = *ev.PreviousStatus
			}
			if ext, ok := p.Extensions["cursor"].(string); ok {
				e.ExtCursor = ext
			}
			s.Events = append(s.Events, e)
		case "error":
			var errs []gqlError
			if err := json.Unmarshal(m.Payload, &errs); err != nil {
				t.Fatalf("%s: error payload %s: %v", c.name, m.Payload, err)
			}
			s.Errors = append(s.Errors, errs...)
			s.Ended = true
		case "complete":
			s.Ended = true
		}
	}
	return s
}

// waitOp waits until cond holds for operation id, failing t at the deadline
// with what arrived.
func (c *wsClient) waitOp(t testing.TB, id, field string, timeout time.Duration, what string, cond func(opState) bool) opState {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		s := c.op(t, id, field)
		if cond(s) {
			return s
		}
		if s.Closed != nil && !cond(s) {
			t.Fatalf("%s: connection closed (%v) while waiting for %s; operation %s got %s, errors %s", c.name, s.Closed, what, id, brief(s.Events), s.errorText())
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: timed out after %v waiting for %s; operation %s got %d events %s, ended %v, errors %s", c.name, timeout, what, id, len(s.Events), brief(s.Events), s.Ended, s.errorText())
		}
	}
}

// waitEvents waits until operation id has received at least n events.
func (c *wsClient) waitEvents(t testing.TB, id string, n int) []orderEvent {
	t.Helper()
	return c.waitOp(t, id, "orderEvents", deliverTimeout, fmt.Sprintf("%d events", n), func(s opState) bool { return len(s.Events) >= n }).Events
}

// waitEnd waits until operation id has ended.
func (c *wsClient) waitEnd(t testing.TB, id string, timeout time.Duration) opState {
	t.Helper()
	return c.waitOp(t, id, "orderEvents", timeout, "the operation to end", func(s opState) bool { return s.Ended })
}

// waitClosed waits until the server closed the connection.
func (c *wsClient) waitClosed(t testing.TB, timeout time.Duration) error {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		if closed != nil {
			return closed
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: the connection is still open after %v", c.name, timeout)
		}
	}
}

// cursorSeq decodes a cursor as switchyard.EventCursor encodes it. Tests
// look inside only to check order and contiguity; clients never need to.
func cursorSeq(t testing.TB, cursor string) int64 {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		if n, ok := strings.CutPrefix(string(raw), "ev:"); ok {
			if seq, err := strconv.ParseInt(n, 10, 64); err == nil {
				return seq
			}
		}
	}
	t.Fatalf("cursor %q is not an event cursor", cursor)
	return 0
}

// change is one order change a test made and expects to see delivered.
type change struct {
	OrderID string
	Type    string // CREATED, STATUS_CHANGED
	Status  string
}

func (ch change) String() string { return fmt.Sprintf("%s %s %s", ch.OrderID[:8], ch.Type, ch.Status) }

// requireExactly checks that events are exactly want, in order: nothing
// missing, nothing twice, nothing else, with cursors rising and each
// payload's extensions.cursor equal to its cursor.
func requireExactly(t testing.TB, who string, events []orderEvent, want []change) {
	t.Helper()
	got := make([]change, len(events))
	for i, e := range events {
		got[i] = change{OrderID: e.OrderID, Type: e.Type, Status: e.Status}
		if i > 0 && e.Seq <= events[i-1].Seq {
			t.Errorf("%s: event %d has cursor seq %d after %d: not in order", who, i, e.Seq, events[i-1].Seq)
		}
		if e.ExtCursor != e.Cursor {
			t.Errorf("%s: event %d: extensions.cursor %q, cursor %q", who, i, e.ExtCursor, e.Cursor)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s received\n  %v\nwant exactly\n  %v", who, got, want)
	}
}
