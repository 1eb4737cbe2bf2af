package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestFrames(t *testing.T) {
	var init wsFrame
	if err := json.Unmarshal(initFrame("tok"), &init); err != nil || init.Type != "connection_init" || string(init.Payload) != `{"Authorization":"Bearer tok"}` {
		t.Errorf("init frame = %+v (%v)", init, err)
	}
	var sub struct {
		ID      string    `json:"id"`
		Type    string    `json:"type"`
		Payload operation `json:"payload"`
	}
	if err := json.Unmarshal(subscribeFrame("1", subscriptionOperation("orderUpdated", "o1", "")), &sub); err != nil {
		t.Fatal(err)
	}
	if sub.ID != "1" || sub.Type != "subscribe" || !strings.Contains(sub.Payload.Query, "orderUpdated(id: $id)") || sub.Payload.Variables["id"] != "o1" {
		t.Errorf("subscribe frame = %+v", sub)
	}
	op := subscriptionOperation("orderEvents", "", "p1")
	if !strings.Contains(op.Query, "orderEvents(projectId: $projectId)") || op.Variables["projectId"] != "p1" {
		t.Errorf("orderEvents with project = %+v", op)
	}
	if op := subscriptionOperation("orderEvents", "", ""); op.Variables != nil {
		t.Errorf("orderEvents without project sends variables %v", op.Variables)
	}

	for _, bad := range []string{`not json`, `{}`, `{"id":"1"}`} {
		if _, err := parseWSFrame([]byte(bad)); err == nil {
			t.Errorf("parseWSFrame(%q) accepted", bad)
		}
	}
	f, err := parseWSFrame([]byte(`{"id":"1","type":"next","payload":{"data":{}}}`))
	if err != nil || f.Type != "next" || f.ID != "1" || string(f.Payload) != `{"data":{}}` {
		t.Errorf("parseWSFrame = %+v, %v", f, err)
	}
}

func TestParseNext(t *testing.T) {
	const payload = `{"data":{"orderEvents":{"cursor":"ZXY6MTI","type":"SHIPMENT_SET","occurredAt":"2026-01-02T03:04:05.123456Z","order":{"id":"o1","status":"PAID","shipment":{"trackingNumber":"bench-7"}}}},"extensions":{"cursor":"ZXY6MTI"}}`
	e, err := parseNext([]byte(payload), "orderEvents")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	if !e.OccurredAt.Equal(want) || e.Cursor != "ZXY6MTI" {
		t.Errorf("event = %+v; want occurredAt %v", e, want)
	}
	if got := e.tag("shipment"); got != "bench-7" {
		t.Errorf("shipment tag = %q", got)
	}
	if got := e.tag("status"); got != "o1/PAID" {
		t.Errorf("status tag = %q", got)
	}

	for name, bad := range map[string]string{
		"errors":        `{"errors":[{"message":"boom","extensions":{"code":"FORBIDDEN"}}]}`,
		"other field":   `{"data":{"orderUpdated":{"occurredAt":"2026-01-02T03:04:05Z"}}}`,
		"no occurredAt": `{"data":{"orderEvents":{"cursor":"x"}}}`,
		"not json":      `{"data":`,
	} {
		if _, err := parseNext([]byte(bad), "orderEvents"); err == nil {
			t.Errorf("%s: parseNext accepted %s", name, bad)
		}
	}
	_, err = parseNext([]byte(`{"errors":[{"message":"boom","extensions":{"code":"FORBIDDEN"}}]}`), "orderEvents")
	if err == nil || err.Error() != "boom (FORBIDDEN)" {
		t.Errorf("error = %v, want boom (FORBIDDEN)", err)
	}
}

func TestParseErrorPayload(t *testing.T) {
	tests := map[string]string{
		`[{"message":"a"},{"message":"b","extensions":{"code":"X"}}]`: "a; b (X)",
		`{"message":"legacy"}`: "legacy",
		`garbage`:              "garbage",
	}
	for in, want := range tests {
		if got := parseErrorPayload([]byte(in)).Error(); got != want {
			t.Errorf("parseErrorPayload(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestSSEParser(t *testing.T) {
	stream := ": heartbeat\n\n" +
		"event: next\r\nid: c1\r\ndata: {\"a\":1}\r\n\r\n" +
		"event: next\nid: c2\ndata: line1\ndata: line2\n\n" +
		"data: plain\n\n" +
		"retry: 10\nunknown: x\n: comment\nevent: complete\ndata:\n\n"
	p := newSSEParser(strings.NewReader(stream))
	want := []sseEvent{
		{event: "next", id: "c1", data: []byte(`{"a":1}`)},
		{event: "next", id: "c2", data: []byte("line1\nline2")},
		{event: "message", data: []byte("plain")},
		{event: "complete", data: []byte("")},
	}
	for i, w := range want {
		got, err := p.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.event != w.event || got.id != w.id || string(got.data) != string(w.data) {
			t.Errorf("event %d = {%q %q %q}, want {%q %q %q}", i, got.event, got.id, got.data, w.event, w.id, w.data)
		}
	}
	if _, err := p.next(); err != io.EOF {
		t.Errorf("after the last event: %v, want EOF", err)
	}
	p = newSSEParser(strings.NewReader("event: next\ndata: cut"))
	if _, err := p.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated stream: %v, want unexpected EOF", err)
	}
}

func TestParseGCTrace(t *testing.T) {
	g, ok := parseGCTrace("gc 12 @3.456s 2%: 0.011+1.2+0.003 ms clock, 0.023+0.40/1.1/0.2+0.006 ms cpu, 45->46->30 MB, 60 MB goal, 3 MB stacks, 0 MB globals, 2 P")
	if !ok || g.heapLive != 30<<20 || g.heapGoal != 60<<20 || g.stacks != 3<<20 {
		t.Errorf("parseGCTrace = %+v, %v", g, ok)
	}
	if _, ok := parseGCTrace(`time=... level=INFO msg="serving"`); ok {
		t.Error("parseGCTrace accepted a log line")
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-transport", "ws,sse", "-n", "1000,5_000,10000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.transports) != 2 || len(o.sizes) != 3 || o.sizes[1] != 5000 {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{
		{"-transport", "grpc"},
		{"-n", "0"},
		{"-n", "ten"},
		{"-trigger", "status", "-subscription", "orderUpdated"},
		{"-url", "http://127.0.0.1:8080"},
		{"-token", "x"},
		{"-events", "0"},
		{"extra"},
	} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
}
