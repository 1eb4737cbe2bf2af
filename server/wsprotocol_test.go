package server_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/server"
)

// Bad input on the websocket gets the protocol's error or close code with a
// clear message, and never disturbs other connections: a bystander
// subscribed before it all still receives its event at the end.
func TestWebsocketProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory", withConfig(func(c *server.Config) {
		c.WebsocketReadLimit = 4096
		c.MaxOperationsPerConnection = 2
		c.InitTimeout = 500 * time.Millisecond
	}))
	w := e.world()
	start := e.settle()
	bystander := e.wsConnect(t, "graphql-transport-ws", e.token(w.alice))
	bystander.subscribe("watch", orderEventsQuery, map[string]any{"p": w.p1.ID, "after": start})
	legacyBystander := e.wsConnect(t, "graphql-ws", e.token(w.alice))
	legacyBystander.subscribe("watch", orderEventsQuery, map[string]any{"p": w.p1.ID, "after": start})

	closes := []struct {
		name   string
		act    func(c *wsClient)
		init   bool
		code   int
		reason string
	}{
		{"malformed JSON", func(c *wsClient) { c.sendRaw([]byte(`{"type": "subscribe", "id": `)) }, true, 4400, "Invalid message"},
		{"not an object", func(c *wsClient) { c.sendRaw([]byte(`[1, 2]`)) }, true, 4400, "Invalid message"},
		{"unknown type", func(c *wsClient) { c.send(map[string]any{"type": "hello"}) }, true, 4400, `unexpected message type "hello"`},
		{"binary frame", func(c *wsClient) { _ = c.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) }, true, 4400, "binary"},
		{"subscribe without a query", func(c *wsClient) { c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{}}) }, true, 4400, "query"},
		{"subscribe without an id", func(c *wsClient) {
			c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"query": "{ me { id } }"}})
		}, true, 4400, "id"},
		{"subscribe before connection_init", func(c *wsClient) { c.subscribe("1", "{ me { id } }", nil) }, false, 4401, "Unauthorized"},
		{"second connection_init", func(c *wsClient) { c.send(map[string]any{"type": "connection_init"}) }, true, 4429, "Too many initialisation requests"},
		{"duplicate operation id", func(c *wsClient) {
			c.subscribe("dup", orderEventsQuery, nil)
			c.subscribe("dup", orderEventsQuery, nil)
		}, true, 4409, "Subscriber for dup already exists"},
		{"oversize message", func(c *wsClient) { c.subscribe("big", "{ me { id } }"+strings.Repeat(" ", 8000), nil) }, true, 1009, "the limit is 4096 bytes"},
		{"no connection_init in time", func(c *wsClient) {}, false, 4408, "Connection initialisation timeout"},
		{"bad token", func(c *wsClient) {
			c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
		}, false, 4403, "Forbidden: invalid token"},
	}
	for _, tc := range closes {
		t.Run("graphql-transport-ws/"+tc.name, func(t *testing.T) {
			var c *wsClient
			if tc.init {
				c = e.wsConnect(t, "graphql-transport-ws", e.token(w.bob))
			} else {
				c = e.wsOpen(t, "graphql-transport-ws")
			}
			tc.act(c)
			ce := c.closed()
			if ce.Code != tc.code || !strings.Contains(ce.Text, tc.reason) {
				t.Fatalf("closed with %d %q, want %d containing %q", ce.Code, ce.Text, tc.code, tc.reason)
			}
		})
	}

	t.Run("graphql-transport-ws/unsupported subprotocol", func(t *testing.T) {
		conn, resp, err := e.dialWSHeader(t, "graphql-nope", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		resp.Body.Close()
		defer conn.Close()
		_, _, err = conn.ReadMessage()
		if !websocket.IsCloseError(err, 4406) {
			t.Fatalf("want close 4406, got %v", err)
		}
	})

	t.Run("graphql-transport-ws/operation errors keep the connection", func(t *testing.T) {
		c := e.wsConnect(t, "graphql-transport-ws", e.token(w.bob))
		c.subscribe("1", `subscription { orderNope { id } }`, nil)
		m := c.next()
		if m.Type != "error" || m.ID != "1" || !strings.Contains(string(m.Payload), "GRAPHQL_VALIDATION_FAILED") || !strings.Contains(string(m.Payload), "orderNope") {
			t.Fatalf("unknown field: %s %s", m.Type, m.Payload)
		}
		c.subscribe("2", `subscription { orderEvents { cursor `, nil)
		if m := c.next(); m.Type != "error" || m.ID != "2" || !strings.Contains(string(m.Payload), "GRAPHQL_PARSE_FAILED") {
			t.Fatalf("syntax error: %s %s", m.Type, m.Payload)
		}
		c.send(map[string]any{"type": "ping", "payload": map[string]any{"n": 1}})
		select {
		case m := <-c.msgs:
			if m.Type != "pong" || string(m.Payload) != `{"n":1}` {
				t.Fatalf("ping answered with %s %s", m.Type, m.Payload)
			}
		case <-time.After(waitFor):
			t.Fatal("no pong")
		}
		c.subscribe("3", `{ me { email } }`, nil)
		if p := c.nextData("3"); !strings.Contains(string(p), w.bob.Email) {
			t.Fatalf("query after errors: %s", p)
		}
		if m := c.next(); m.Type != "complete" || m.ID != "3" {
			t.Fatalf("want complete, got %s", m.Type)
		}
	})

	t.Run("graphql-transport-ws/operations per connection", func(t *testing.T) {
		c := e.wsConnect(t, "graphql-transport-ws", e.token(w.bob))
		c.subscribe("a", orderEventsQuery, nil)
		c.subscribe("b", orderEventsQuery, nil)
		c.subscribe("c", orderEventsQuery, nil)
		m := c.next()
		if m.Type != "error" || m.ID != "c" || !strings.Contains(string(m.Payload), switchyard.ERATELIMITED) || !strings.Contains(string(m.Payload), "limit") {
			t.Fatalf("third operation: %s %s %s", m.Type, m.ID, m.Payload)
		}
		// Completing one frees its place and its id at once.
		c.send(map[string]any{"id": "a", "type": "complete"})
		c.subscribe("a", `{ me { email } }`, nil)
		if p := c.nextData("a"); !strings.Contains(string(p), w.bob.Email) {
			t.Fatalf("after complete: %s", p)
		}
	})

	t.Run("graphql-ws/bad input keeps the connection", func(t *testing.T) {
		c := e.wsConnect(t, "graphql-ws", e.token(w.bob))
		c.sendRaw([]byte(`{not json`))
		if m := c.next(); m.Type != "connection_error" || !strings.Contains(string(m.Payload), "Invalid message") {
			t.Fatalf("malformed: %s %s", m.Type, m.Payload)
		}
		c.send(map[string]any{"id": "x", "type": "hello"})
		if m := c.next(); m.Type != "error" || m.ID != "x" || !strings.Contains(string(m.Payload), `unknown message type \"hello\"`) {
			t.Fatalf("unknown type: %s %s %s", m.Type, m.ID, m.Payload)
		}
		c.subscribe("1", `subscription { orderNope { id } }`, nil)
		if m := c.next(); m.Type != "error" || m.ID != "1" || !strings.Contains(string(m.Payload), "orderNope") {
			t.Fatalf("unknown field: %s %s", m.Type, m.Payload)
		}
		c.subscribe("dup", orderEventsQuery, nil)
		c.subscribe("dup", orderEventsQuery, nil)
		if m := c.next(); m.Type != "error" || m.ID != "dup" || !strings.Contains(string(m.Payload), "already running") {
			t.Fatalf("duplicate id: %s %s", m.Type, m.Payload)
		}
		c.subscribe("q", `{ me { email } }`, nil)
		if p := c.nextData("q"); !strings.Contains(string(p), w.bob.Email) {
			t.Fatalf("query after errors: %s", p)
		}
	})

	t.Run("graphql-ws/start before connection_init", func(t *testing.T) {
		c := e.wsOpen(t, "graphql-ws")
		c.subscribe("1", "{ me { id } }", nil)
		if m := c.next(); m.Type != "connection_error" {
			t.Fatalf("want connection_error, got %s", m.Type)
		}
		if ce := c.closed(); ce.Code != 4401 {
			t.Fatalf("closed with %d %q", ce.Code, ce.Text)
		}
	})

	t.Run("graphql-ws/bad token", func(t *testing.T) {
		c := e.wsOpen(t, "graphql-ws")
		c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
		if m := c.next(); m.Type != "connection_error" || !strings.Contains(string(m.Payload), "invalid token") {
			t.Fatalf("want connection_error, got %s %s", m.Type, m.Payload)
		}
		if ce := c.closed(); ce.Code != 4403 {
			t.Fatalf("closed with %d %q", ce.Code, ce.Text)
		}
	})

	t.Run("bystanders unaffected", func(t *testing.T) {
		e.setStatus(w.o1, switchyard.OrderPaid)
		for _, c := range []*wsClient{bystander, legacyBystander} {
			if p := c.nextData("watch"); !strings.Contains(string(p), `"status":"PAID"`) {
				t.Fatalf("%s bystander got %s", c.proto, p)
			}
		}
		if strings.Contains(e.logs.String(), "panic") {
			t.Fatalf("server log mentions a panic:\n%s", e.logs.String())
		}
	})
}

// A peer that stops answering pings is dropped; legacy clients get "ka".
func TestWebsocketKeepAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *server.Config) {
		c.KeepAlive = 100 * time.Millisecond
		c.PongWait = 100 * time.Millisecond
	}))
	w := e.world()

	t.Run("dead peer", func(t *testing.T) {
		conn, resp, err := e.dialWSHeader(t, "graphql-transport-ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		defer conn.Close()
		// Never answer pings, like a peer whose network vanished.
		pings := 0
		conn.SetPingHandler(func(string) error { pings++; return nil })
		_ = conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + e.token(w.alice)}})
		_ = conn.SetReadDeadline(time.Now().Add(waitFor))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("the server kept a silent peer for %v", waitFor)
				}
				break
			}
		}
		if pings == 0 {
			t.Fatal("the server sent no ping")
		}
	})

	t.Run("live peer stays; legacy gets ka", func(t *testing.T) {
		c := e.wsConnect(t, "graphql-ws", e.token(w.alice))
		kas := 0
		deadline := time.After(waitFor)
		for kas < 5 {
			select {
			case m := <-c.msgs:
				if m.Type == "ka" {
					kas++
				}
			case <-c.done:
				t.Fatalf("connection ended: %v", c.err)
			case <-deadline:
				t.Fatalf("%d ka in %v", kas, waitFor)
			}
		}
		c.subscribe("q", `{ me { email } }`, nil)
		if p := c.nextData("q"); !strings.Contains(string(p), w.alice.Email) {
			t.Fatalf("got %s", p)
		}
	})
}

func TestWebsocketOrigins(t *testing.T) {
	t.Parallel()
	def := newEnv(t)
	custom := newEnv(t, withConfig(func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example.com", "http://dev.example:*"} }))
	for _, tc := range []struct {
		name   string
		e      *env
		origin string
		ok     bool
	}{
		{"no origin (a program)", def, "", true},
		{"same host", def, def.url, true},
		{"localhost dev server", def, "http://localhost:5173", true},
		{"foreign", def, "https://evil.example", false},
		{"listed", custom, "https://app.example.com", true},
		{"listed, any port", custom, "http://dev.example:3000", true},
		{"listed host, other scheme", custom, "http://app.example.com", false},
		{"localhost once a list is configured", custom, "http://localhost:5173", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			conn, resp, err := tc.e.dialWSHeader(t, "graphql-transport-ws", h)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("want 403, got %v", resp)
			}
			defer resp.Body.Close()
			if body := readAll(resp.Body); !strings.Contains(body, "FORBIDDEN") || !strings.Contains(body, tc.origin) {
				t.Fatalf("body %s", body)
			}
		})
	}
}

// GraphQL over SSE reports bad requests as `next` events with errors, then
// `complete`, and keeps idle streams alive with comments.
func TestSSEProtocol(t *testing.T) {
	t.Parallel()
	e := newRealtimeEnv(t, "memory", withConfig(func(c *server.Config) { c.SSEHeartbeat = 50 * time.Millisecond }))
	w := e.world()
	tok := e.token(w.alice)

	errorThenComplete := func(t *testing.T, c *sseClient, want ...string) {
		t.Helper()
		if c.resp.StatusCode != http.StatusOK || !strings.HasPrefix(c.resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d, %s", c.resp.StatusCode, c.resp.Header.Get("Content-Type"))
		}
		ev := c.next()
		if ev.Event != "next" || !strings.Contains(ev.Data, `"errors"`) {
			t.Fatalf("want next with errors, got %+v", ev)
		}
		for _, s := range want {
			if !strings.Contains(ev.Data, s) {
				t.Errorf("%s lacks %q", ev.Data, s)
			}
		}
		if ev := c.next(); ev.Event != "complete" {
			t.Fatalf("want complete, got %+v", ev)
		}
		if !c.ended() {
			t.Fatal("stream still open after complete")
		}
	}
	t.Run("unknown field", func(t *testing.T) {
		errorThenComplete(t, e.sseRequest(t, http.MethodPost, tok, `subscription { orderNope { id } }`, nil, nil), "GRAPHQL_VALIDATION_FAILED", "orderNope")
	})
	t.Run("malformed variables", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.url+`/graphql?query=subscription{orderEvents{cursor}}&variables={nope`, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		errorThenComplete(t, e.openSSE(t, req, func() {}), switchyard.EINVALID, "variables")
	})
	t.Run("mutation over GET", func(t *testing.T) {
		errorThenComplete(t, e.sseRequest(t, http.MethodGet, tok, `mutation { markAllNotificationsRead }`, nil, nil), "not allowed over GET")
	})
	t.Run("query", func(t *testing.T) {
		c := e.sseRequest(t, http.MethodGet, tok, `{ me { email } }`, nil, nil)
		if ev := c.next(); ev.Event != "next" || ev.ID != "" || !strings.Contains(ev.Data, w.alice.Email) {
			t.Fatalf("got %+v", ev)
		}
		if ev := c.next(); ev.Event != "complete" {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		// After every event so far (the world's, still being published
		// when the test starts): an idle stream.
		c := e.sseRequest(t, http.MethodPost, tok, orderEventsQuery, map[string]any{"after": e.settle()}, nil)
		for range 3 {
			if ev, ok := c.nextWithin(waitFor, true); !ok || !ev.Comment {
				t.Fatalf("want a heartbeat comment, got %+v", ev)
			}
		}
	})
	t.Run("bad token is 401 before the stream", func(t *testing.T) {
		c := e.sseRequest(t, http.MethodPost, "nope", orderEventsQuery, nil, nil)
		if c.resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", c.resp.StatusCode)
		}
	})
}
