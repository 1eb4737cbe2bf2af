package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/resolvers"
)

// Shared by the streaming transports (WebSocket, GraphQL over SSE, /events).

// writeTimeout bounds a write to a client that stopped reading, so one stuck
// client cannot hold a goroutine forever; its subscription's bounded queue has
// long been cut off by then.
const writeTimeout = 10 * time.Second

// writeDeadline keeps a connection's write deadline between half and all of
// writeTimeout ahead, moving it only when half has run down: setting it on
// every write costs each delivery a timer update. Callers serialize.
type writeDeadline struct{ at time.Time }

func (d *writeDeadline) extend(set func(time.Time) error) {
	now := time.Now()
	if d.at.Sub(now) > writeTimeout/2 {
		return
	}
	d.at = now.Add(writeTimeout)
	_ = set(d.at)
}

// operation runs one GraphQL operation the way every streaming transport
// does: with a resolvers.Stream in its context, so each response comes with
// the cursor of the event it carries, and a subscription that ends with an
// error says why.
type operation struct {
	exec    graphql.GraphExecutor
	present graphql.ErrorPresenterFunc
	log     *slog.Logger
	results *sharedResults
}

// result is one response of an operation, with the cursor of the event it
// carries ("" for a response that is no event). The cursor is also in the
// response's extensions.cursor: clients whose SSE parser drops id: (the
// graphql-sse client's does) and WebSocket clients resume from the payload.
type result struct {
	resp   *graphql.Response
	cursor string
}

// outcome is how an operation ended, which decides the transport's last word.
type outcome int

const (
	// outcomeRefused: errors prevented execution; refused was called with
	// them and the transport has said all there is to say.
	outcomeRefused outcome = iota
	// outcomeCompleted: every result was delivered.
	outcomeCompleted
	// outcomeFailed: a subscription ended with an error, returned presented.
	outcomeFailed
	// outcomeGone: the context ended or the client stopped taking results;
	// nothing more is sent.
	outcomeGone
	// outcomeLive: the subscription was handed to the live hook, which
	// delivers it from here.
	outcomeLive
)

type runHooks struct {
	// refused receives the errors that prevent execution (parse,
	// validation, check) and the response presenting them.
	refused func(errs gqlerror.List, resp *graphql.Response)
	// check may refuse an operation that validated (a mutation over GET).
	check func(rc *graphql.OperationContext) *gqlerror.Error
	// result delivers one result and reports whether to go on.
	result func(result) bool
	// live, when set, takes over a subscription once its resolver has opened
	// it: the transport sets the stream's deliver and end and starts it.
	// Without it a subscription's results come through result.
	live func(*liveStream)
}

// run executes params; resumeAfter is the transport's resume position
// (Last-Event-ID), which takes precedence over the operation's `after`.
func (o operation) run(ctx context.Context, params *graphql.RawParams, resumeAfter string, h runHooks) (outcome, *gqlerror.Error) {
	ctx = graphql.StartOperationTrace(ctx)
	ctx, stream := resolvers.WithStream(ctx, resumeAfter)
	rc, errs := o.exec.CreateOperationContext(ctx, params)
	if errs == nil && h.check != nil {
		if err := h.check(rc); err != nil {
			errs = gqlerror.List{err}
		}
	}
	if errs != nil {
		h.refused(errs, o.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs))
		return outcomeRefused, nil
	}
	live := h.live != nil && rc.Operation.Operation == ast.Subscription
	if live {
		stream.Detach()
	}
	opCtx := ctx
	responses, ctx := o.exec.DispatchOperation(ctx, rc)
	if sub := stream.Detached(); live && sub != nil {
		ls, err := o.liveStream(opCtx, rc, sub)
		if err != nil {
			// The operation cannot be keyed (its variables do not encode):
			// nothing can reach the client, so end the subscription.
			return outcomeFailed, o.present(opCtx, err)
		}
		h.live(ls)
		return outcomeLive, nil
	}
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		r := result{resp: resp, cursor: stream.NextCursor()}
		if r.cursor != "" {
			if resp.Extensions == nil {
				resp.Extensions = map[string]any{}
			}
			resp.Extensions["cursor"] = r.cursor
		}
		if !h.result(r) {
			return outcomeGone, nil
		}
	}
	if ctx.Err() != nil {
		return outcomeGone, nil
	}
	err := stream.Err()
	if err == nil {
		return outcomeCompleted, nil
	}
	e := o.present(ctx, err)
	// The error belongs to the subscription's field.
	if len(rc.Operation.SelectionSet) > 0 {
		if f, ok := rc.Operation.SelectionSet[0].(*ast.Field); ok {
			e.Path = ast.Path{ast.PathName(f.Alias)}
		}
	}
	return outcomeFailed, e
}

func (o operation) liveStream(ctx context.Context, rc *graphql.OperationContext, sub switchyard.Subscription) (*liveStream, error) {
	op, mine, err := newResultKeys(rc, switchyard.CallerFromContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("server: key a live operation: %w", err)
	}
	ls := &liveStream{
		sub: sub, exec: o.exec, rc: rc, ctx: context.WithoutCancel(ctx), opCtx: ctx,
		present: o.present, log: o.log, results: o.results, op: op, mine: mine,
	}
	if len(rc.Operation.SelectionSet) > 0 {
		if f, ok := rc.Operation.SelectionSet[0].(*ast.Field); ok {
			ls.field = f.Alias
		}
	}
	return ls, nil
}

// sseWriter writes an event stream: events, and a comment as heartbeat when
// nothing else was written for a while, so proxies keep the connection and
// clients notice a dead one. Writes are serialized, and none happens once
// close was called: a ResponseWriter must not be used after its handler
// returns.
type sseWriter struct {
	out       sseOutput
	heartbeat time.Duration
	// onFail is called once, when a write fails: the stream has no reader
	// any more and must end, or its subscription would live on.
	onFail func()

	mu     sync.Mutex
	closed bool
	failed bool
	timer  *time.Timer
	// wrote is when something was last written: the heartbeat is due a
	// heartbeat interval later. (Moving the timer on every write instead
	// cost each delivery a timer update.)
	wrote time.Time
}

// sseOutput is where an event stream goes: the handler's ResponseWriter, or
// a connection taken over from net/http (hijackedSSE).
type sseOutput interface {
	// write writes parts as one piece of the body and sends it on.
	write(parts ...[]byte) error
}

// startSSE writes the event stream's headers and starts the heartbeat.
// onFail, if not nil, is called once when a write fails.
func startSSE(w http.ResponseWriter, heartbeat time.Duration, onFail func()) *sseWriter {
	setSSEHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	out := responseOutput{w: w, rc: http.NewResponseController(w)}
	return newSSEWriter(out, heartbeat, onFail)
}

func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
}

// newSSEWriter sends what out has buffered (the headers) and starts the
// heartbeat.
func newSSEWriter(out sseOutput, heartbeat time.Duration, onFail func()) *sseWriter {
	s := &sseWriter{out: out, heartbeat: heartbeat, onFail: onFail}
	s.mu.Lock()
	s.writeLocked(func() error { return out.write() })
	if heartbeat > 0 {
		// A timer, not a goroutine, per stream: idle streams cost little.
		// Set under the lock beat takes, since a short heartbeat can fire
		// before this assignment would otherwise be seen.
		s.timer = time.AfterFunc(heartbeat, s.beat)
	}
	s.mu.Unlock()
	return s
}

var (
	sseComment   = []byte(":\n\n")
	sseID        = []byte("id: ")
	sseEvent     = []byte("event: ")
	sseData      = []byte("data:")
	sseNewline   = []byte("\n")
	sseEventEnd  = []byte("\n\n")
	sseNextEvent = []byte("event: next\ndata: ")
)

func (s *sseWriter) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if idle := time.Since(s.wrote); idle < s.heartbeat {
		s.timer.Reset(s.heartbeat - idle)
		return
	}
	s.writeLocked(func() error { return s.out.write(sseComment) })
	s.timer.Reset(s.heartbeat)
}

// event writes one event; id and name may be empty. It reports false once
// the client can no longer be written to.
func (s *sseWriter) event(id, name string, data []byte) bool {
	parts := make([][]byte, 0, 9)
	if id != "" {
		parts = append(parts, sseID, []byte(id), sseNewline)
	}
	if name != "" {
		parts = append(parts, sseEvent, []byte(name), sseNewline)
	}
	// data is one line: JSON escapes newlines inside strings.
	parts = append(parts, sseData)
	if len(data) > 0 {
		parts = append(parts, []byte{' '}, data)
	}
	parts = append(parts, sseEventEnd)
	return s.send(parts...)
}

// next writes a `next` event with its cursor as id. On a connection of its
// own the event goes out as the result's chunk, the same bytes for every
// subscriber of the operation; else its parts, the payload not copied.
func (s *sseWriter) next(r *sharedResult) bool {
	if c, ok := s.out.(chunkWriter); ok {
		return s.sendWith(func() error { return c.writeChunk(r.sseChunk()) })
	}
	return s.send(sseID, []byte(r.cursor), sseNewline, sseNextEvent, r.payload, sseEventEnd)
}

// tryNext is next without blocking, on a connection taken over. When the
// socket takes only part of the chunk, a goroutine writes the rest,
// holding both locks until it has.
func (s *sseWriter) tryNext(r *sharedResult) quickOutcome {
	h, ok := s.out.(*hijackedSSE)
	if !ok || h.raw == nil || !s.mu.TryLock() {
		return quickBusy
	}
	if s.closed || s.failed {
		s.mu.Unlock()
		return quickGone
	}
	rest, out := h.tryWriteChunk(r.sseChunk())
	switch {
	case out == quickGone:
		s.writeLocked(func() error { return errStreamGone })
	case out == quickSent && rest == nil:
		s.wrote = time.Now()
	case out == quickSent:
		go func() {
			defer s.mu.Unlock()
			s.writeLocked(func() error { return h.finishChunk(rest) })
		}()
		return quickSent
	}
	s.mu.Unlock()
	return out
}

var errStreamGone = errors.New("event stream: the client is gone")

func (s *sseWriter) send(parts ...[]byte) bool {
	return s.sendWith(func() error { return s.out.write(parts...) })
}

func (s *sseWriter) sendWith(write func() error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.writeLocked(write)
	return !s.failed
}

func (s *sseWriter) writeLocked(write func() error) {
	if s.failed {
		return
	}
	s.wrote = time.Now()
	if err := write(); err != nil {
		s.failed = true
		if s.onFail != nil {
			s.onFail()
		}
	}
}

// chunkWriter is an sseOutput that writes the HTTP/1.1 chunked body itself
// and takes whole chunks.
type chunkWriter interface {
	writeChunk(chunk []byte) error
}

// close stops the heartbeat; nothing is written afterwards.
func (s *sseWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// responseOutput writes through the handler's ResponseWriter.
type responseOutput struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (o responseOutput) write(parts ...[]byte) error {
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	for _, p := range parts {
		if _, err := o.w.Write(p); err != nil {
			return err
		}
	}
	return o.rc.Flush()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Responses are built from marshalled GraphQL data and gqlerrors.
		panic(err)
	}
	return b
}
