package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// GraphQL-over-SSE in distinct connections mode: a POST /graphql with
// Accept: text/event-stream, one TCP connection, one operation
// (https://github.com/enisdenjo/graphql-sse, PROTOCOL.md). HTTP/1.1 is
// written by hand on a plain connection rather than through net/http's
// Transport, which would add two goroutines and two buffers per stream to
// the generator while it competes with the server for the same two cores.

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

// openSSE connects, sends the request and reads the response head; the
// event stream goes to the readers (reader.go), sseStream parses it.
func openSSE(ctx context.Context, addr string, request []byte, idx int, rec *recorder, rd readers) (subscriberConn, error) {
	conn, err := localDial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sse dial: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(request); err != nil {
		resetClose(conn)
		return nil, fmt.Errorf("sse request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 2048)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		resetClose(conn)
		return nil, fmt.Errorf("sse response: %w", err)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		resetClose(conn)
		return nil, fmt.Errorf("sse response %s (%s): %s", resp.Status, resp.Header.Get("Content-Type"), bytes.TrimSpace(body))
	}
	_ = conn.SetDeadline(time.Time{})
	rec.started.Add(1)
	s := &sseStream{idx: idx, rec: rec, chunked: len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"}
	leftover, _ := br.Peek(br.Buffered())
	_, closeConn, err := rd.add(conn, bytes.Clone(leftover), s)
	if err != nil {
		resetClose(conn)
		return nil, err
	}
	return openStream(closeConn), nil
}

// sseStream decodes the response body as it arrives (HTTP/1.1 chunked
// transfer coding, or as it is) and parses its events as the HTML
// standard's EventSource parsing describes: fields up to a blank line,
// comments (": ...", the heartbeat) skipped, data lines joined with "\n".
type sseStream struct {
	idx     int
	rec     *recorder
	chunked bool

	raw      []byte // chunked coding not decoded yet: a chunk-size line cut off
	left     int    // bytes of the current chunk's data still to come
	trailing int    // bytes of the CRLF after it still to come
	body     []byte // decoded body not parsed into lines yet: a line cut off
	event    []byte // the fields of the event being read
	lines    []byte // its data lines, joined
	hasData  bool
}

// data decodes b in place where it can: a read holding whole chunks and
// whole lines is parsed where the reader read it, and only what is left
// incomplete at its end is kept for the next read. (Copying every message
// into the stream's own buffers first cost a generator of ten thousand
// streams a cache miss on each.)
func (s *sseStream) data(b []byte, recv int64) bool {
	if !s.chunked {
		return s.feed(b, recv)
	}
	p := afterLeftover(&s.raw, b)
	for len(p) > 0 {
		switch {
		case s.left > 0:
			n := min(s.left, len(p))
			if !s.feed(p[:n], recv) {
				return false
			}
			s.left -= n
			p = p[n:]
		case s.trailing > 0:
			n := min(s.trailing, len(p))
			s.trailing -= n
			p = p[n:]
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.raw = append(s.raw[:0], p...) // may overlap: append copies as memmove does
				return true
			}
			line, _, _ := bytes.Cut(bytes.TrimRight(p[:i], "\r"), []byte(";"))
			size, err := strconv.ParseUint(string(line), 16, 31)
			if err != nil {
				s.end(fmt.Errorf("sse body: bad chunk size %q", line))
				return false
			}
			p = p[i+1:]
			if size == 0 {
				s.end(errors.New("sse stream: the server ended the response"))
				return false
			}
			s.left, s.trailing = int(size), 2
		}
	}
	s.raw = s.raw[:0]
	return true
}

// feed parses the decoded body bytes b: the whole lines they complete, and
// each event a blank line ends. A line cut off at the end of b waits in
// body for the rest.
func (s *sseStream) feed(b []byte, recv int64) bool {
	p := afterLeftover(&s.body, b)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSuffix(p[:i], []byte("\r"))
		p = p[i+1:]
		switch {
		case len(line) == 0:
			if !s.dispatch(recv) {
				return false
			}
		case line[0] == ':': // a comment: the heartbeat
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				s.event = append(s.event[:0], value...)
			case "data":
				if s.hasData {
					s.lines = append(s.lines, '\n')
				}
				s.lines = append(s.lines, value...)
				s.hasData = true
			}
		}
	}
	s.body = append(s.body[:0], p...)
	return true
}

// dispatch handles the event the fields so far make, if any.
func (s *sseStream) dispatch(recv int64) bool {
	event, data, hasData := string(s.event), s.lines, s.hasData
	s.event, s.lines, s.hasData = s.event[:0], s.lines[:0], false
	if !hasData && event == "" {
		return true
	}
	switch event {
	case "next":
		s.rec.receive(s.idx, data, false, recv)
	case "complete":
		s.end(fmt.Errorf("complete %s", data))
		return false
	default:
		s.rec.badFrames.Add(1)
		s.rec.noteError(fmt.Sprintf("unexpected sse event %q: %.200s", event, data))
	}
	return true
}

func (s *sseStream) end(why error) { s.rec.streamEnded(s.idx, why) }

func (s *sseStream) lost(err error) { s.rec.streamEnded(s.idx, fmt.Errorf("sse stream: %w", err)) }
