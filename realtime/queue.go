package realtime

import (
	"sync"

	"github.com/switchyard/switchyard"
)

// eventQueue is a subscription's bounded FIFO of undelivered events. It
// holds what is queued, not its bound: an idle subscription costs a few
// words rather than a buffer of QueueSize slots, which at tens of thousands
// of subscribers is most of what each one costs.
type eventQueue struct {
	mu     sync.Mutex
	events []*switchyard.Event // events[head:] are queued
	head   int
	limit  int
	closed bool
	// room, when not nil, is signalled whenever the reader takes an event:
	// a replay that found the queue full waits on it.
	room chan struct{}
}

// keptCapacity is the most an emptied queue keeps allocated: enough for the
// usual few events at a time, no more.
const keptCapacity = 8

// push appends e and reports whether it fit: false once the queue holds
// limit events, or was closed.
func (q *eventQueue) push(e *switchyard.Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.events)-q.head >= q.limit {
		return false
	}
	if q.head > 0 && len(q.events) == cap(q.events) {
		// Slide the queued events down rather than grow.
		n := copy(q.events, q.events[q.head:])
		clear(q.events[n:])
		q.events, q.head = q.events[:n], 0
	}
	q.events = append(q.events, e)
	return true
}

// pop takes the next event: (e, true) an event, (nil, true) none queued
// now, (nil, false) the queue is closed and empty.
func (q *eventQueue) pop() (*switchyard.Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.events) {
		return nil, !q.closed
	}
	e := q.events[q.head]
	q.events[q.head] = nil
	q.head++
	if q.head == len(q.events) {
		if cap(q.events) > keptCapacity {
			q.events = nil
		} else {
			q.events = q.events[:0]
		}
		q.head = 0
	}
	if q.room != nil {
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	return e, true
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events) - q.head
}

// close ends the queue behind the events in it.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// clear drops what is queued.
func (q *eventQueue) clear() {
	q.mu.Lock()
	clear(q.events)
	q.events, q.head = nil, 0
	q.mu.Unlock()
}
