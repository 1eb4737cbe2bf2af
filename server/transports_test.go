package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialWS(t *testing.T, e *env, subprotocol string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// next reads the next message that is not a keep-alive.
func next(t *testing.T, conn *websocket.Conn) wsMessage {
	t.Helper()
	for {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ka", "ping", "pong":
			continue
		}
		return m
	}
}

func TestWebsocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()

	for _, proto := range []struct{ name, start, data string }{
		{"graphql-transport-ws", "subscribe", "next"},
		{"graphql-ws", "start", "data"},
	} {
		t.Run(proto.name+" authenticates from connection_init", func(t *testing.T) {
			e.t = t
			conn := dialWS(t, e, proto.name)
			if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + e.token(w.alice)}}); err != nil {
				t.Fatal(err)
			}
			if m := next(t, conn); m.Type != "connection_ack" {
				t.Fatalf("want connection_ack, got %+v", m)
			}
			if err := conn.WriteJSON(map[string]any{"id": "1", "type": proto.start, "payload": map[string]any{"query": "{ me { email } }"}}); err != nil {
				t.Fatal(err)
			}
			m := next(t, conn)
			if m.Type != proto.data || !strings.Contains(string(m.Payload), w.alice.Email) {
				t.Fatalf("want %s with alice's email, got %s %s", proto.data, m.Type, m.Payload)
			}
			if m := next(t, conn); m.Type != "complete" {
				t.Fatalf("want complete, got %+v", m)
			}
		})
	}

	t.Run("anonymous without a token", func(t *testing.T) {
		e.t = t
		conn := dialWS(t, e, "graphql-transport-ws")
		_ = conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}})
		if m := next(t, conn); m.Type != "connection_ack" {
			t.Fatalf("want connection_ack, got %+v", m)
		}
		_ = conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ me { email } }"}})
		if m := next(t, conn); m.Type != "next" || !strings.Contains(string(m.Payload), `"me":null`) {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})

	t.Run("bad token closes with 4403", func(t *testing.T) {
		e.t = t
		conn := dialWS(t, e, "graphql-transport-ws")
		_ = conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
		for {
			_, _, err := conn.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, 4403) {
				t.Fatalf("want close 4403, got %v", err)
			}
			return
		}
	})

	t.Run("foreign origin is refused", func(t *testing.T) {
		e.t = t
		h := http.Header{"Origin": {"https://evil.example"}}
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		conn, resp, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", h)
		if err == nil {
			conn.Close()
			t.Fatal("upgrade from a foreign origin succeeded")
		}
		if resp != nil {
			resp.Body.Close()
		}
	})

	// Last: the server refuses streams from here on.
	t.Run("CloseStreams ends open websockets", func(t *testing.T) {
		e.t = t
		conn := dialWS(t, e, "graphql-transport-ws")
		_ = conn.WriteJSON(map[string]any{"type": "connection_init"})
		if m := next(t, conn); m.Type != "connection_ack" {
			t.Fatalf("want connection_ack, got %+v", m)
		}
		e.srv.CloseStreams()
		for {
			_, _, err := conn.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("want a normal close, got %v", err)
			}
			return
		}
	})
}

func TestSSE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query":"{ me { email } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+e.token(w.bob))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			events = append(events, line)
		}
	}
	got := strings.Join(events, "\n")
	if !strings.Contains(got, "event: next") || !strings.Contains(got, w.bob.Email) || !strings.Contains(got, "event: complete") {
		t.Fatalf("events:\n%s", got)
	}
}
