package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// sseClient is one GraphQL-over-SSE stream in distinct connections mode: a
// POST /graphql with Accept: text/event-stream, one TCP connection, one
// operation (https://github.com/enisdenjo/graphql-sse, PROTOCOL.md).
//
// It speaks HTTP/1.1 by hand on a plain connection rather than through
// net/http's Transport, which would add two goroutines and two buffers per
// stream to the generator while it is competing with the server for the
// same two cores.
type sseClient struct {
	conn    net.Conn
	closing atomic.Bool
}

// sseRequest builds the raw request every subscriber sends.
func sseRequest(host, token string, op operation) []byte {
	body := mustJSON(op)
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /graphql HTTP/1.1\r\nHost: %s\r\n", host)
	b.WriteString("Accept: text/event-stream\r\nContent-Type: application/json\r\n")
	fmt.Fprintf(&b, "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, len(body))
	b.Write(body)
	return b.Bytes()
}

// openSSE connects and sends the request; the response is read by the
// stream's goroutine, since a server may hold the headers back until it has
// something to send.
func openSSE(ctx context.Context, addr string, request []byte, idx int, rec *recorder) (*sseClient, error) {
	conn, err := localDial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sse dial: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(request); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sse request: %w", err)
	}
	c := &sseClient{conn: conn}
	go c.read(idx, rec)
	return c, nil
}

func (c *sseClient) read(idx int, rec *recorder) {
	br := bufio.NewReaderSize(c.conn, 2048)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if !c.closing.Load() {
			rec.streamEnded(idx, fmt.Errorf("sse response: %w", err))
		}
		return
	}
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		rec.streamEnded(idx, fmt.Errorf("sse response %s (%s): %s", resp.Status, resp.Header.Get("Content-Type"), bytes.TrimSpace(body)))
		return
	}
	rec.started.Add(1)
	p := newSSEParser(resp.Body)
	for {
		ev, err := p.next()
		recv := time.Now()
		if err != nil {
			if !c.closing.Load() {
				rec.streamEnded(idx, fmt.Errorf("sse stream: %w", err))
			}
			return
		}
		switch ev.event {
		case "next":
			rec.receive(idx, ev.data, false, recv)
		case "complete":
			rec.streamEnded(idx, fmt.Errorf("complete %s", ev.data))
			return
		default:
			rec.badFrames.Add(1)
			rec.noteError(fmt.Sprintf("unexpected sse event %q: %.200s", ev.event, ev.data))
		}
	}
}

func (c *sseClient) close() {
	c.closing.Store(true)
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.conn.Close()
}

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	event string
	id    string
	data  []byte
}

// sseParser reads events as the HTML standard's EventSource parsing
// describes: fields up to a blank line, comments (": ...") skipped, data
// lines joined with "\n", "event" defaulting to "message". An event with no
// data is not dispatched.
type sseParser struct {
	r *bufio.Reader
}

func newSSEParser(r io.Reader) *sseParser { return &sseParser{r: bufio.NewReaderSize(r, 1024)} }

func (p *sseParser) next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	hasData := false
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return sseEvent{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if hasData || ev.event != "" {
				if ev.event == "" {
					ev.event = "message"
				}
				ev.data = data.Bytes()
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "id":
			ev.id = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
}
