package realtime

import "github.com/switchyard/switchyard"

// lossyQueue is a broker subscriber's buffer that never blocks its sender.
// When the buffer fills, the event is dropped and a nil is queued in its
// place: the reader then catches up from the event log, which has every
// published event, so a drop costs a read of the log, never an event.
//
// The last slot is kept for that nil, so a full buffer always ends with an
// unread nil, and every event dropped while it is unread is covered by it:
// the reader reaches the nil, and so reads the log, only after the drop.
// One sender at a time (the caller serializes offers).
type lossyQueue struct {
	ch chan *switchyard.Event
	// lastNil: the most recent item sent was a nil. While the buffer is not
	// empty that nil is still unread, since the last item sent is the last
	// one read.
	lastNil bool
}

// minLossyBuffer leaves room for one event and the nil slot.
const minLossyBuffer = 2

func newLossyQueue(size int) *lossyQueue {
	return &lossyQueue{ch: make(chan *switchyard.Event, max(size, minLossyBuffer))}
}

// offer queues e, or a nil that stands for it (and any other drop). A nil e
// asks the reader to catch up.
//
// Invariant: only a nil fills the last slot, so a full buffer ends with an
// unread nil.
func (q *lossyQueue) offer(e *switchyard.Event) {
	n := len(q.ch) // only the reader runs concurrently, so n can only shrink
	switch {
	case e != nil && n < cap(q.ch)-1:
		q.ch <- e
		q.lastNil = false
	case q.lastNil && n > 0:
		// The nil sent last is unread: the reader will catch up from the
		// log after this point anyway.
	default:
		q.ch <- nil
		q.lastNil = true
	}
}
