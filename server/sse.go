package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
)

// sseTransport is GraphQL over Server-Sent Events, the graphql-sse protocol's
// distinct connections mode (github.com/enisdenjo/graphql-sse, PROTOCOL.md):
// one operation per request, GET with the GraphQL-over-HTTP query parameters
// or POST with a JSON body, both with Accept: text/event-stream.
//
// Every result is a `next` event and the stream ends with `complete`; errors
// that prevent execution are a `next` event carrying them (the protocol asks
// for it: a 4xx would leave EventSource with nothing to show), and a
// subscription that ends with an error sends it as a `next` with errors, then
// `complete`. Beyond the protocol, for resumption:
//
//   - every event of a subscription carries `id: <cursor>`, the event's
//     switchyard.EventCursor (also in the payload's extensions.cursor);
//   - a Last-Event-ID request header resumes after that cursor: it is handed
//     to the resolvers through resolvers.WithStream and takes precedence over
//     the operation's `after` argument, so a browser's EventSource, which
//     reconnects on its own with the same URL and this header, continues
//     where it stopped without a gap or a duplicate;
//   - a `:` comment every heartbeat interval (15s) keeps proxies from
//     closing an idle stream.
//
// When the server shuts down the stream ends without `complete`, so clients
// treat it as a dropped connection and reconnect.
//
// It replaces gqlgen's transport.SSE, which sends no id: and ends every stream
// with complete.
type sseTransport struct {
	present   graphql.ErrorPresenterFunc
	heartbeat time.Duration
	log       *slog.Logger
	results   *sharedResults
}

var _ graphql.Transport = sseTransport{}

func (sseTransport) Supports(r *http.Request) bool {
	if !acceptsEventStream(r) || r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodGet:
		return true
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		return err == nil && mt == "application/json"
	}
	return false
}

// Do runs one operation. A subscription, once open, is delivered on a
// connection taken over from net/http (hijacked): the handler returns, and
// with it net/http's buffers, the request and the handler's deep stack,
// which it would otherwise hold for the life of the stream. Where the
// connection cannot be taken over (HTTP/2, HTTP/1.0), the handler stays and
// the stream goes through its ResponseWriter.
func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	// The operation's context ends with the request until the stream is
	// taken over: net/http ends the request's context when the handler
	// returns, hijacked or not.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stopWithRequest := context.AfterFunc(r.Context(), cancel)
	var handedOver bool
	defer func() {
		if !handedOver {
			stopWithRequest()
			cancel()
		}
	}()
	var s *sseWriter
	stream := func() *sseWriter {
		if s == nil {
			s = startSSE(w, t.heartbeat, cancel)
		}
		return s
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	params, perr := sseParams(r)
	if perr != nil {
		perr.Extensions = map[string]any{"code": switchyard.EINVALID}
		stream().event("", "next", mustJSON(&graphql.Response{Errors: gqlerror.List{perr}}))
		stream().event("", "complete", nil)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	var inHandler chan struct{} // closed when a stream the handler serves ends

	op := operation{exec: exec, present: t.present, log: t.log, results: t.results}
	out, end := op.run(ctx, params, r.Header.Get("Last-Event-ID"), runHooks{
		refused: func(_ gqlerror.List, resp *graphql.Response) {
			stream().event("", "next", mustJSON(resp))
		},
		check: func(rc *graphql.OperationContext) *gqlerror.Error {
			if r.Method == http.MethodGet && rc.Operation.Operation == ast.Mutation {
				e := gqlerror.Errorf("mutations are not allowed over GET; use POST")
				e.Extensions = map[string]any{"code": switchyard.EINVALID}
				return e
			}
			return nil
		},
		result: func(res result) bool {
			return stream().event(res.cursor, "next", mustJSON(res.resp))
		},
		live: func(ls *liveStream) {
			// Nothing was written yet: a subscription's first words are
			// its events.
			if d := takeOverSSE(w, r, t.heartbeat, cancel, stopWithRequest); d != nil {
				handedOver = true
				ls.deliver = d.s.next
				ls.tryDeliver = d.s.tryNext
				ls.end = func(out outcome, end *gqlerror.Error) {
					sseLast(d.s, out, end)
					d.close()
				}
				ls.start()
				return
			}
			sw := stream()
			inHandler = make(chan struct{})
			ls.deliver = sw.next
			ls.end = func(out outcome, end *gqlerror.Error) {
				defer close(inHandler)
				sseLast(sw, out, end)
			}
			ls.start()
		},
	})
	switch out {
	case outcomeLive:
		if inHandler != nil {
			<-inHandler
		}
	default:
		sseLast(stream(), out, end)
	}
}

// sseLast ends a stream as the outcome says: complete after a last error, or
// nothing at all when the client or the server is gone.
func sseLast(s *sseWriter, out outcome, end *gqlerror.Error) {
	switch out {
	case outcomeGone:
		return
	case outcomeFailed:
		s.event("", "next", mustJSON(&graphql.Response{Errors: gqlerror.List{end}}))
	}
	s.event("", "complete", nil)
}

// takenOverSSE is an event stream on a connection taken over from net/http
// (hijacked): the handler returns, and with it net/http's buffers, the
// request and the handler's deep stack, which it would otherwise hold for
// the life of the stream. The stream's context (cancel) ends when the
// client hangs up and with the server's streams.
type takenOverSSE struct {
	s     *sseWriter
	hs    *hijackedSSE
	close func() // ends the body, closes the connection, cancels
}

// takeOverSSE takes the connection of an HTTP/1.1 request over and writes
// the response head; nil when that is not possible (HTTP/2, HTTP/1.0), and
// the handler serves the stream. stopWithRequest undoes the tie of cancel to
// the request's context, which net/http ends when the handler returns.
func takeOverSSE(w http.ResponseWriter, r *http.Request, heartbeat time.Duration, cancel context.CancelFunc, stopWithRequest func() bool) *takenOverSSE {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	h := w.Header().Clone() // what the middleware set: the request id
	setSSEHeaders(h)
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("\r\n")
	// net/http's buffered reader holds nothing of use (no request follows
	// an SSE one) and its writer nothing yet: both are dropped.
	_ = brw
	hs := &hijackedSSE{conn: conn, raw: rawConnOf(conn), head: head.Bytes()}

	if !stopWithRequest() {
		cancel() // the request ended before the take-over: the client is gone
	}
	stopWithServer := func() bool { return true }
	if streams, ok := r.Context().Value(streamsKey{}).(context.Context); ok {
		stopWithServer = context.AfterFunc(streams, cancel)
	}
	stopWatching, watched := hangups.watch(conn, cancel)
	if !watched {
		stopWatching = func() {}
		go hs.watch(cancel)
	}
	d := &takenOverSSE{s: newSSEWriter(hs, heartbeat, cancel), hs: hs}
	d.close = func() {
		d.s.close()
		stopWatching() // before the connection closes: its fd may be reused
		hs.finish()
		stopWithServer()
		cancel()
	}
	return d
}

// hijackedSSE writes an event stream as an HTTP/1.1 chunked body on a
// connection of its own.
type hijackedSSE struct {
	conn     net.Conn
	raw      syscall.RawConn // conn's socket, for tryWriteChunk; nil if none
	mu       sync.Mutex
	head     []byte // the response head, sent with the first write
	deadline writeDeadline
}

var (
	chunkEnd  = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

func (o *hijackedSSE) write(parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return o.writeChunk(nil) // the head, if not sent yet
	}
	chunk := make([]byte, 0, n+16+2*len(chunkEnd))
	chunk = strconv.AppendInt(chunk, int64(n), 16)
	chunk = append(chunk, chunkEnd...)
	for _, p := range parts {
		chunk = append(chunk, p...)
	}
	return o.writeChunk(append(chunk, chunkEnd...))
}

var _ chunkWriter = (*hijackedSSE)(nil)

// writeChunk writes one whole chunk, after the response head the first time.
func (o *hijackedSSE) writeChunk(chunk []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deadline.extend(o.conn.SetWriteDeadline)
	if o.head != nil {
		head := o.head
		o.head = nil
		bufs := net.Buffers{head, chunk}
		_, err := bufs.WriteTo(o.conn)
		return err
	}
	if len(chunk) == 0 {
		return nil
	}
	_, err := o.conn.Write(chunk)
	return err
}

// tryWriteChunk is writeChunk without blocking. When the socket takes only
// part of chunk, the rest is returned with the lock still held, for
// finishChunk.
func (o *hijackedSSE) tryWriteChunk(chunk []byte) (rest []byte, out quickOutcome) {
	if !o.mu.TryLock() {
		return nil, quickBusy
	}
	if o.head != nil {
		o.mu.Unlock()
		return nil, quickBusy
	}
	rest, err := startWrite(o.raw, chunk)
	switch {
	case err != nil:
		o.mu.Unlock()
		return nil, quickGone
	case rest == nil:
		o.mu.Unlock()
	}
	return rest, quickSent
}

// finishChunk writes the rest tryWriteChunk left, and releases the lock.
func (o *hijackedSSE) finishChunk(rest []byte) error {
	defer o.mu.Unlock()
	o.deadline.extend(o.conn.SetWriteDeadline)
	_, err := o.conn.Write(rest)
	return err
}

// finish ends the body and the connection.
func (o *hijackedSSE) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = o.conn.Write(lastChunk)
	_ = o.conn.Close()
}

// watch reads until the client closes the connection (it sends nothing
// after its request), then ends the stream.
func (o *hijackedSSE) watch(gone context.CancelFunc) {
	var b [64]byte
	for {
		if _, err := o.conn.Read(b[:]); err != nil {
			gone()
			return
		}
	}
}

// sseParams reads the operation from the query string (GET) or the JSON body
// (POST, already size-checked and shape-checked by limitBody).
func sseParams(r *http.Request) (*graphql.RawParams, *gqlerror.Error) {
	p := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(name); v != "" {
				if err := decodeJSON(bytes.NewReader([]byte(v)), dst); err != nil {
					return nil, gqlerror.Errorf("the %s parameter is not a JSON object", name)
				}
			}
		}
	} else if err := decodeJSON(r.Body, p); err != nil {
		return nil, gqlerror.Errorf("the request body is not a GraphQL request: %v", err)
	}
	return p, nil
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}
