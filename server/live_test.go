package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchyard/switchyard"
)

const sharedQuery = `subscription($p: ID, $after: String) {
  orderEvents(projectId: $p, after: $after) { cursor order { id project { name } } }
}`

// Subscribers of the same operation share one execution per event, and
// when a nested field reads through the services, only subscribers who are
// the same caller. The cursor they resume after chooses events, not what an
// event's result holds: it does not split them.
func TestLiveResultsSharedPerCaller(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	early := e.settle()

	// What a change costs the server's pool on its own: one in another
	// project, which nobody below is sent.
	before := e.stmts.n.Load()
	e.setShipment(w.o2, "NOT-WATCHED")
	late := e.settle()
	changeAlone := e.stmts.n.Load() - before

	var alice []*wsClient
	for i := range 4 {
		after := early
		if i%2 == 1 {
			after = late
		}
		c := e.wsConnect(t, "graphql-transport-ws", e.token(w.alice))
		c.subscribe("op1", sharedQuery, map[string]any{"p": w.p1.ID, "after": after})
		alice = append(alice, c)
	}
	// Dave is o1's customer, not a member of its project: he reads the
	// order but not the project.
	dave := e.wsConnect(t, "graphql-transport-ws", e.token(w.dave))
	dave.subscribe("op1", sharedQuery, map[string]any{"p": w.p1.ID, "after": early})

	before = e.stmts.n.Load()
	e.setShipment(w.o1, "WATCHED")
	for i, c := range alice {
		p := decodePayload[orderEventPayload](t, c.nextData("op1"))
		if ev := p.event(); ev == nil || ev.Order.ID != w.o1.ID || ev.Order.Project == nil || ev.Order.Project.Name != w.p1.Name {
			t.Fatalf("alice %d: %+v", i, p)
		}
	}
	raw := dave.nextData("op1")
	if p := decodePayload[orderEventPayload](t, raw); p.event() == nil || p.event().Order.ID != w.o1.ID || p.event().Order.Project != nil {
		t.Fatalf("dave got %s; want the order without its project", raw)
	}
	// Each execution loads the project with one statement: one for Alice's
	// four subscriptions, one for Dave's.
	if executions := e.stmts.n.Load() - before - changeAlone; executions != 2 {
		t.Errorf("the event cost %d statements beyond the change; want 2 (one execution per caller)", executions)
	}
}

// serverGoroutines counts the goroutines running the server's code: the
// handlers, the transports, the resolvers and the hub; not the executors,
// a fixed pool.
func serverGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// The pools' goroutines are a fixed few for the process, started
		// with the first live delivery.
		if bytes.Contains(g, []byte("server.(*executorPool).work")) || bytes.Contains(g, []byte("server.(*delivererPool).work")) {
			continue
		}
		for _, mark := range []string{
			"switchyard/switchyard/server.", "switchyard/switchyard/resolvers.", "switchyard/switchyard/realtime.",
			"net/http.(*conn).serve", "net/http.(*connReader).backgroundRead",
		} {
			if bytes.Contains(g, []byte(mark)) {
				count++
				break
			}
		}
	}
	return count
}

// waitGoroutines waits until at most limit server goroutines run.
func waitGoroutines(t *testing.T, limit int, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		n := serverGoroutines()
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d server goroutines, want at most %d", what, n, limit)
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
}

// An idle subscription costs no goroutine of its own: a websocket has one
// for the connection, however many operations it carries; SSE streams, of
// GraphQL or /events, have none (on Linux; elsewhere one each, to notice
// the client leaving).
func TestIdleSubscriptionsHoldNoGoroutine(t *testing.T) {
	e := newRealtimeEnv(t, "memory") // not parallel: it counts goroutines
	w := e.world()
	start := e.settle()
	vars := map[string]any{"p": w.p1.ID, "after": start}
	base := serverGoroutines()

	const ops, graphqlStreams, eventStreams = 20, 10, 5
	const streams = graphqlStreams + eventStreams
	c := e.wsConnect(t, "graphql-transport-ws", e.token(w.alice))
	for i := range ops {
		c.subscribe(fmt.Sprint("op", i), sharedQuery, vars)
	}
	var sse []*sseClient
	for range graphqlStreams {
		sse = append(sse, e.sseRequest(t, http.MethodPost, e.token(w.alice), sharedQuery, vars, nil))
	}
	for range eventStreams {
		sse = append(sse, e.eventsGET(t, "/events?topics=orders&after="+start, e.token(w.alice), nil))
	}
	e.setStatus(w.o1, switchyard.OrderPaid)
	seen := map[string]bool{}
	for len(seen) < ops {
		m := c.next()
		if m.Type != "next" || m.ID == "" {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
		seen[m.ID] = true
	}
	for i, s := range sse {
		want := "next"
		if i >= graphqlStreams {
			want = "order.status_changed"
		}
		if ev := s.next(); ev.Event != want || !strings.Contains(ev.Data, w.o1.ID) {
			t.Fatalf("stream %d: %+v", i, ev)
		}
	}
	// One for the websocket; on Linux one watches every SSE stream for
	// hang-ups, elsewhere one per stream; and a little slack for goroutines
	// that are finishing a delivery.
	perStream := 0
	if runtime.GOOS != "linux" {
		perStream = 1
	}
	waitGoroutines(t, base+1+1+perStream*streams+2, fmt.Sprintf("%d idle operations on one websocket and %d SSE streams", ops, streams))
	if n := e.hub.Subscriptions(); n != ops+streams {
		t.Fatalf("the hub has %d subscriptions, want %d", n, ops+streams)
	}

	// Leaving ends every subscription: the websocket's when it closes, each
	// stream's when its client hangs up.
	for _, s := range sse {
		s.close()
	}
	c.conn.Close()
	deadline := time.Now().Add(waitFor)
	for e.hub.Subscriptions() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions still open after their clients left", e.hub.Subscriptions())
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
	waitGoroutines(t, base+2, "after the clients left")
}

// Ping and pong frames the client sends between messages are handled while
// the connection waits on its own (wsidle.go): pings are answered with their
// payload, and the messages around them are read intact.
func TestWebsocketControlFramesBetweenMessages(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	conn, resp, err := e.dialWSHeader(t, "graphql-transport-ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer conn.Close()
	pongs := make(chan string, 8)
	conn.SetPongHandler(func(p string) error { pongs <- p; return nil })
	read := func() wsMessage {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(waitFor))
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if typ == websocket.TextMessage {
				var m wsMessage
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatalf("message %s: %v", data, err)
				}
				return m
			}
		}
	}
	control := func(typ int, payload string) {
		t.Helper()
		if err := conn.WriteControl(typ, []byte(payload), time.Now().Add(time.Second)); err != nil {
			t.Fatalf("write control: %v", err)
		}
	}
	wantPong := func(payload string) {
		t.Helper()
		select {
		case p := <-pongs:
			if p != payload {
				t.Fatalf("pong %q, want %q", p, payload)
			}
		case <-time.After(waitFor):
			t.Fatalf("no pong for %q", payload)
		}
	}

	control(websocket.PongMessage, "unsolicited")
	control(websocket.PingMessage, "p-1")
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + e.token(w.alice)}}); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.Type != "connection_ack" {
		t.Fatalf("got %s, want connection_ack", m.Type)
	}
	wantPong("p-1")

	long := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 4)[:125] // the most a control frame carries
	control(websocket.PingMessage, long)
	control(websocket.PingMessage, "")
	if err := conn.WriteJSON(map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.Type != "pong" {
		t.Fatalf("got %s, want pong", m.Type)
	}
	wantPong(long)
	wantPong("")
}

// A client that cannot have its connection taken over (HTTP/1.0: no chunked
// encoding) gets the stream through the handler.
func TestSSEOverHTTP10(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory")
	w := e.world()
	start := e.settle()
	body, _ := json.Marshal(map[string]any{"query": sharedQuery, "variables": map[string]any{"p": w.p1.ID, "after": start}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.0\r\nHost: test\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n"+
		"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", e.token(w.alice), len(body), body)
	e.setStatus(w.o1, switchyard.OrderPaid)
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("status line %q: %v", status, err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no event: %v", err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, w.o1.ID) {
			return
		}
	}
}
