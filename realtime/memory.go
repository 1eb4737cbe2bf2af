package realtime

import (
	"context"
	"errors"
	"sync"

	"github.com/switchyard/switchyard"
)

// brokerBuffer is how many events a broker subscriber may have unread before
// events are dropped for a nil (catch up from the log). The hub reads its
// broker channel in one loop that only stops for log reads and the rare
// viewer reload, so this absorbs those pauses.
const brokerBuffer = 1024

// MemoryBroker is the in-process switchyard.Broker: one instance, no Redis.
// Publish never blocks on a subscriber; one that falls more than its buffer
// behind gets a nil (catch up from the log) in place of what it missed.
// Subscribers share the published *Event, which nobody may change.
type MemoryBroker struct {
	mu     sync.Mutex
	subs   map[*lossyQueue]struct{}
	buffer int
}

var _ switchyard.Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns an in-process broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: make(map[*lossyQueue]struct{}), buffer: brokerBuffer}
}

// Publish hands e to every current subscriber without waiting for any.
func (b *MemoryBroker) Publish(ctx context.Context, e *switchyard.Event) error {
	if e == nil {
		return errors.New("realtime: publish of a nil event")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One lock for all subscribers, so concurrent publishers' events reach
	// every subscriber in the same order.
	b.mu.Lock()
	defer b.mu.Unlock()
	for q := range b.subs {
		q.offer(e)
	}
	return nil
}

// Subscribe delivers the events published after it returns until ctx ends.
func (b *MemoryBroker) Subscribe(ctx context.Context) (<-chan *switchyard.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := newLossyQueue(b.buffer)
	b.mu.Lock()
	b.subs[q] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, q)
		close(q.ch) // under the lock, so no Publish sends on it afterwards
	})
	return q.ch, nil
}

// Ping always succeeds: the broker is this process.
func (b *MemoryBroker) Ping(ctx context.Context) error { return ctx.Err() }
