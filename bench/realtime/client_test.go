package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// nextPayload is a next payload for an orderEvents event tagged tag.
func nextPayload(tag string, occurred time.Time) string {
	return fmt.Sprintf(`{"data":{"orderEvents":{"cursor":"c","type":"SHIPMENT_SET","occurredAt":%q,"order":{"id":"o1","status":"PAID","shipment":{"trackingNumber":%q}}}}}`,
		occurred.Format(time.RFC3339Nano), tag)
}

// fakeWSServer speaks enough graphql-transport-ws to check the client: it
// wants connection_init with the token, acks after a ping the client must
// answer, and on subscribe sends one next, a ping, and then an error.
func fakeWSServer(t *testing.T, token string, occurred time.Time) *httptest.Server {
	up := websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		read := func() wsFrame {
			_, data, err := c.ReadMessage()
			if err != nil {
				return wsFrame{}
			}
			f, _ := parseWSFrame(data)
			return f
		}
		init := read()
		if init.Type != "connection_init" || !strings.Contains(string(init.Payload), "Bearer "+token) {
			t.Errorf("first frame %+v, want connection_init with the token", init)
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if f := read(); f.Type != "pong" {
			t.Errorf("answer to ping: %+v", f)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_ack"}`))
		sub := read()
		if sub.Type != "subscribe" || sub.ID != "1" {
			t.Errorf("after ack: %+v, want subscribe 1", sub)
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":"1","type":"next","payload":`+nextPayload("t1", occurred)+`}`))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if f := read(); f.Type != "pong" {
			t.Errorf("answer to the second ping: %+v", f)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":"1","type":"error","payload":[{"message":"slow","extensions":{"code":"RATE_LIMITED"}}]}`))
		read() // until the client closes
	}))
}

// eachReader runs f with every kind of reader.
func eachReader(t *testing.T, f func(t *testing.T, rd readers)) {
	for _, kind := range []string{"epoll", "goroutines"} {
		t.Run(kind, func(t *testing.T) {
			rd, err := newReaders(kind)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.stop()
			f(t, rd)
		})
	}
}

func TestWSClient(t *testing.T) { eachReader(t, testWSClient) }

func testWSClient(t *testing.T, rd readers) {
	occurred := time.Now().Add(-5 * time.Millisecond)
	srv := fakeWSServer(t, "tok", occurred)
	defer srv.Close()

	table := newEventTable()
	table.add("t1", "fanout")
	rec := newRecorder(1, "orderEvents", "shipment", table)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := openWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", "tok", subscribeFrame("1", subscriptionOperation("orderEvents", "", "")), 0, rec, rd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if !waitFor(ctx, 5*time.Second, func() bool { return rec.ended.Load() == 1 }) {
		t.Fatalf("the server's error did not end the stream; errors:\n%s", rec.errorSummary())
	}
	ds := rec.take()
	if len(ds) != 1 || ds[0].event != 0 || ds[0].occurred != occurred.UnixNano() || ds[0].recv < ds[0].occurred {
		t.Errorf("deliveries = %+v", ds)
	}
	if rec.confirmed.Load() != 1 || rec.delivered.Load() != 1 {
		t.Errorf("confirmed %d, delivered %d; want 1, 1", rec.confirmed.Load(), rec.delivered.Load())
	}
	if s := rec.errorSummary(); !strings.Contains(s, "slow (RATE_LIMITED)") {
		t.Errorf("errors = %q, want the server's error", s)
	}
}

func TestWSClientRefused(t *testing.T) { eachReader(t, testWSClientRefused) }

func testWSClientRefused(t *testing.T, rd readers) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_, _, _ = c.ReadMessage()
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4403, "Forbidden"))
	}))
	defer srv.Close()
	rec := newRecorder(1, "orderEvents", "shipment", newEventTable())
	_, err := openWS(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "bad", subscribeFrame("1", subscriptionOperation("orderEvents", "", "")), 0, rec, rd)
	if err == nil || !strings.Contains(err.Error(), "4403") {
		t.Errorf("openWS with a refused token: %v, want the 4403 close", err)
	}
}

func TestSSEClient(t *testing.T) { eachReader(t, testSSEClient) }

func testSSEClient(t *testing.T, rd readers) {
	occurred := time.Now().Add(-5 * time.Millisecond)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var op operation
		if err := json.NewDecoder(r.Body).Decode(&op); err != nil || !strings.Contains(op.Query, "orderEvents") {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ":\n\n")
		w.(http.Flusher).Flush()
		fmt.Fprintf(w, "event: next\nid: c1\ndata: %s\n\n", nextPayload("t1", occurred))
		fmt.Fprint(w, "event: complete\ndata:\n\n")
	}))
	defer srv.Close()

	table := newEventTable()
	table.add("t1", "fanout")
	rec := newRecorder(1, "orderEvents", "shipment", table)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := openSSE(context.Background(), host, sseRequest(host, "tok", subscriptionOperation("orderEvents", "", "")), 0, rec, rd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !waitFor(ctx, 5*time.Second, func() bool { return rec.ended.Load() == 1 }) {
		t.Fatalf("complete did not end the stream; errors:\n%s", rec.errorSummary())
	}
	if rec.started.Load() != 1 || rec.delivered.Load() != 1 || rec.badFrames.Load() != 0 {
		t.Errorf("started %d delivered %d bad %d; errors:\n%s", rec.started.Load(), rec.delivered.Load(), rec.badFrames.Load(), rec.errorSummary())
	}
	if ds := rec.take(); len(ds) != 1 || ds[0].event != 0 {
		t.Errorf("deliveries = %+v", ds)
	}
}

func TestSSEClientRefused(t *testing.T) { eachReader(t, testSSEClientRefused) }

func testSSEClientRefused(t *testing.T, rd readers) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"message":"no"}]}`)
	}))
	defer srv.Close()
	rec := newRecorder(1, "orderEvents", "shipment", newEventTable())
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := openSSE(context.Background(), host, sseRequest(host, "tok", operation{Query: "subscription { x }"}), 0, rec, rd)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("openSSE refused: %v, want the 401", err)
	}
}
