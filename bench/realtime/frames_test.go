package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
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

// feed hands h the stream in pieces of the given sizes, cycling.
// Like the readers, it hands h one buffer that it reuses, and it scribbles
// over it after each call: h must keep nothing of it.
func feed(h streamHandler, stream []byte, sizes ...int) bool {
	buf := make([]byte, len(stream))
	for i := 0; len(stream) > 0; i++ {
		n := copy(buf[:min(sizes[i%len(sizes)], len(stream))], stream)
		ok := h.data(buf[:n], time.Now().UnixNano())
		for j := range buf[:n] {
			buf[j] = '#'
		}
		if !ok {
			return false
		}
		stream = stream[n:]
	}
	return true
}

func TestSSEStream(t *testing.T) {
	occurred := time.Now()
	body := ": heartbeat\n\n" +
		"event: next\r\nid: c1\r\ndata: " + nextPayload("t1", occurred) + "\r\n\r\n" +
		"event: next\nid: c2\ndata: " + nextPayload("t2", occurred) + "\n\n" +
		"data: plain\n\n" +
		"retry: 10\nunknown: x\n: comment\nevent: complete\ndata:\n\n" +
		"event: next\ndata: " + nextPayload("after-complete", occurred) + "\n\n"
	// The same body as HTTP/1.1 chunks of odd sizes, with an extension.
	var chunked bytes.Buffer
	for rest, i := body, 0; len(rest) > 0; i++ {
		n := min(1+i*7%40, len(rest))
		fmt.Fprintf(&chunked, "%x;ext=1\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	chunked.WriteString("0\r\n\r\n")
	for _, tc := range []struct {
		name    string
		chunked bool
		stream  []byte
	}{{"identity", false, []byte(body)}, {"chunked", true, chunked.Bytes()}} {
		for _, sizes := range [][]int{{1}, {3, 1, 17}, {1 << 20}} {
			table := newEventTable()
			table.add("t1", "fanout")
			table.add("t2", "fanout")
			rec := newRecorder(1, "orderEvents", "shipment", table)
			s := &sseStream{rec: rec, chunked: tc.chunked}
			if feed(s, tc.stream, sizes...) {
				t.Errorf("%s %v: the stream went on after complete", tc.name, sizes)
			}
			ds := rec.take()
			if len(ds) != 2 || ds[0].event != 0 || ds[1].event != 1 || ds[0].occurred != occurred.UnixNano() {
				t.Errorf("%s %v: deliveries %+v", tc.name, sizes, ds)
			}
			if rec.ended.Load() != 1 || rec.badFrames.Load() != 1 {
				t.Errorf("%s %v: ended %d, bad %d (the unnamed event); errors:\n%s", tc.name, sizes, rec.ended.Load(), rec.badFrames.Load(), rec.errorSummary())
			}
		}
	}
}

// serverFrame is one unmasked frame, as a server sends it.
func serverFrame(op byte, fin bool, payload string) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// unmask reads the client's frames out of what it sent.
func unmask(t *testing.T, sent []byte) (ops []byte, payloads []string) {
	for len(sent) > 0 {
		if sent[1]&0x80 == 0 {
			t.Fatalf("unmasked client frame % x", sent)
		}
		n, hdr := int(sent[1]&0x7f), 2
		if n == 126 {
			n, hdr = int(binary.BigEndian.Uint16(sent[2:])), 4
		}
		key := sent[hdr : hdr+4]
		p := make([]byte, n)
		for i := range p {
			p[i] = sent[hdr+4+i] ^ key[i%4]
		}
		ops, payloads = append(ops, sent[0]&0x0f), append(payloads, string(p))
		sent = sent[hdr+4+n:]
	}
	return ops, payloads
}

func TestWSStream(t *testing.T) {
	occurred := time.Now()
	long := `{"id":"1","type":"next","payload":` + nextPayload(strings.Repeat("x", 300), occurred) + `}`
	next := func(tag string) string {
		return `{"id":"1","type":"next","payload":` + nextPayload(tag, occurred) + `}`
	}
	var stream []byte
	stream = append(stream, serverFrame(opText, true, next("t1"))...)
	stream = append(stream, serverFrame(opPing, true, "hi")...)
	stream = append(stream, serverFrame(opText, true, `{"type":"ping"}`)...)
	// A fragmented message, with a ping between its fragments.
	stream = append(stream, serverFrame(opText, false, next("t2")[:10])...)
	stream = append(stream, serverFrame(opPing, true, "")...)
	stream = append(stream, serverFrame(opContinuation, true, next("t2")[10:])...)
	stream = append(stream, serverFrame(opText, true, long)...) // a 16-bit length
	stream = append(stream, serverFrame(opText, true, `{"id":"1","type":"complete"}`)...)
	stream = append(stream, serverFrame(opText, true, next("t1"))...)
	for _, sizes := range [][]int{{1}, {2, 5, 1}, {1 << 20}} {
		table := newEventTable()
		table.add("t1", "fanout")
		table.add("t2", "fanout")
		rec := newRecorder(1, "orderEvents", "shipment", table)
		var sent []byte
		s := &wsStream{rec: rec, send: func(b []byte) error { sent = append(sent, b...); return nil }}
		if feed(s, stream, sizes...) {
			t.Errorf("%v: the stream went on after complete", sizes)
		}
		ds := rec.take()
		if len(ds) != 3 || ds[0].event != 0 || ds[1].event != 1 || ds[2].event != -1 {
			t.Errorf("%v: deliveries %+v; errors:\n%s", sizes, ds, rec.errorSummary())
		}
		ops, payloads := unmask(t, sent)
		if len(ops) != 3 || ops[0] != opPong || payloads[0] != "hi" || ops[1] != opText || payloads[1] != `{"type":"pong"}` || ops[2] != opPong || payloads[2] != "" {
			t.Errorf("%v: the client sent %v %q", sizes, ops, payloads)
		}
		if rec.ended.Load() != 1 {
			t.Errorf("%v: complete did not end the stream", sizes)
		}
	}
	rec := newRecorder(1, "orderEvents", "shipment", newEventTable())
	if (&wsStream{rec: rec}).data([]byte{0x81, 0x85, 1, 2, 3, 4, 5}, 0) || rec.ended.Load() != 1 {
		t.Error("a masked frame from the server was taken")
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
