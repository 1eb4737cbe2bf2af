package resolvers

import (
	"context"
	"sync"

	"github.com/switchyard/switchyard"
)

// Stream is what a subscription tells the transport that carries it beyond
// the payloads gqlgen hands over: the cursor of each payload, and why the
// stream ended. The transport creates it per operation (WithStream) and may
// set a position to resume after (SSE's Last-Event-ID).
//
// How a cursor reaches the transport: gqlgen turns each value the
// subscription's channel yields into one response, on the transport's
// goroutine, and gives the transport only the marshalled response. So the
// adapter pushes the event's cursor onto this FIFO right before it sends the
// payload, and the transport pops one cursor per response. The push happens
// before the send and the send before gqlgen's receive, so a response's
// cursor is always queued by the time the transport pops it; FIFO order keeps
// them paired even when the adapter pushes the next cursor before the
// transport has popped the previous one. A response that no channel value
// produced (an error before the stream started) finds the queue empty.
//
// Why it ended: gqlgen ends a subscription when its channel closes and has no
// way to carry an error then, so the adapter records it here before closing
// the channel, and the transport reads it after the last response.
//
// A transport may instead read the EventStream subscription itself (Detach):
// then it needs neither, and no goroutine waits on an idle stream.
type Stream struct {
	resumeAfter string
	detach      bool
	// base is the operation's context as the transport gave it: a detached
	// subscription lives on it rather than on the resolver's context, which
	// also holds gqlgen's execution of the operation's setup.
	base context.Context

	mu       sync.Mutex
	cursors  []string
	err      error
	detached switchyard.Subscription
}

type streamKey struct{}

// WithStream returns ctx carrying a new Stream for one operation. resumeAfter,
// when not empty, is a cursor the operation resumes after; it takes
// precedence over the operation's `after` argument, so a client that
// reconnects with Last-Event-ID continues where it left off whatever its
// request says.
func WithStream(ctx context.Context, resumeAfter string) (context.Context, *Stream) {
	s := &Stream{resumeAfter: resumeAfter, base: ctx}
	return context.WithValue(ctx, streamKey{}, s), s
}

func streamFrom(ctx context.Context) *Stream {
	s, _ := ctx.Value(streamKey{}).(*Stream)
	return s
}

// NextCursor pops the cursor of the response just received; "" when the
// response carries no event.
func (s *Stream) NextCursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cursors) == 0 {
		return ""
	}
	c := s.cursors[0]
	s.cursors[0] = ""
	s.cursors = s.cursors[1:]
	return c
}

// Err is why the stream ended, once its last response was received; nil when
// it ended because the operation's context did.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// The adapter's side; a nil Stream (a transport that keeps none) ignores all.

func (s *Stream) push(cursor string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.cursors = append(s.cursors, cursor)
	s.mu.Unlock()
}

func (s *Stream) fail(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *Stream) resume() string {
	if s == nil {
		return ""
	}
	return s.resumeAfter
}

// Detach asks the operation's subscription resolver, which has not run yet,
// to hand its EventStream subscription over (Detached) instead of adapting
// it to a channel. The transport then reads the subscription itself and has
// each event executed with WithEvent, once for every subscriber of the same
// operation: gqlgen's channel model costs a goroutine per subscription and
// an execution per subscriber and event.
func (s *Stream) Detach() { s.detach = true }

// Detached returns the subscription the resolver handed over, nil when the
// operation opened none (it failed, or it is no subscription).
func (s *Stream) Detached() switchyard.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.detached
}

type eventKey struct{}

// WithEvent returns ctx in which the operation's subscription field yields
// e once, as it would have yielded it from its stream, and ends: how a
// transport that reads a detached subscription turns an event into a
// response. Nothing is checked or subscribed on that path; the checks ran
// when the subscription opened and the EventStream checks each event.
func WithEvent(ctx context.Context, e *switchyard.Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}
