package resolvers

import (
	"context"
	"sync"
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
type Stream struct {
	resumeAfter string

	mu      sync.Mutex
	cursors []string
	err     error
}

type streamKey struct{}

// WithStream returns ctx carrying a new Stream for one operation. resumeAfter,
// when not empty, is a cursor the operation resumes after; it takes
// precedence over the operation's `after` argument, so a client that
// reconnects with Last-Event-ID continues where it left off whatever its
// request says.
func WithStream(ctx context.Context, resumeAfter string) (context.Context, *Stream) {
	s := &Stream{resumeAfter: resumeAfter}
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
