package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard"
)

// DefaultRedisChannel is the pub/sub channel a cluster's instances share
// unless configured otherwise.
const DefaultRedisChannel = "switchyard:events"

// RedisBroker is the switchyard.Broker that fans events out to every instance
// through one Redis pub/sub channel.
//
// Redis pub/sub keeps nothing for a subscriber that is away, so a subscriber
// cannot know what it missed while its connection was down: after every
// reconnection it puts a nil on its channel, and the reader catches up from
// the event log. The connection is rebuilt with backoff for as long as the
// subscriber's context lives, so a Redis restart never ends a subscription.
type RedisBroker struct {
	client  *redis.Client
	channel string
	logger  *slog.Logger

	buffer int
	// idle is how long a subscriber's connection may stay silent before it is
	// pinged; a ping unanswered for another idle means the connection is dead
	// though TCP has not noticed (a half-open connection after a network
	// fault), and it is replaced.
	idle       time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	confirm    time.Duration

	replaced atomic.Int64 // connections given up as unresponsive, for tests
}

var _ switchyard.Broker = (*RedisBroker)(nil)

// NewRedisBroker returns a broker on client's Redis that publishes on channel.
// Every instance of one cluster must use the same channel. The broker does
// not own client: closing it is the caller's job, after the subscribers'
// contexts have ended.
func NewRedisBroker(client *redis.Client, channel string) *RedisBroker {
	return &RedisBroker{
		client: client, channel: channel,
		logger:     slog.Default().With("component", "realtime.redis", "channel", channel),
		buffer:     brokerBuffer,
		idle:       5 * time.Second,
		minBackoff: 50 * time.Millisecond,
		maxBackoff: 2 * time.Second,
		confirm:    10 * time.Second,
	}
}

// Publish sends e to every instance's subscribers as JSON.
func (b *RedisBroker) Publish(ctx context.Context, e *switchyard.Event) error {
	if e == nil {
		return errors.New("realtime: publish of a nil event")
	}
	payload, err := encodeEvent(e)
	if err != nil {
		return err
	}
	if err := b.client.Publish(ctx, b.channel, payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish seq %d to redis: %w", e.Seq, err)
	}
	return nil
}

// Ping checks Redis answers.
func (b *RedisBroker) Ping(ctx context.Context) error {
	return b.client.Ping(ctx).Err()
}

// Subscribe returns once Redis has confirmed the subscription, so every event
// published after it returns is delivered. Later confirmations (after a
// reconnection) appear on the channel as nil.
func (b *RedisBroker) Subscribe(ctx context.Context) (<-chan *switchyard.Event, error) {
	ps := b.client.Subscribe(ctx, b.channel)
	if err := b.awaitConfirmation(ctx, ps); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("realtime: subscribe to redis channel %q: %w", b.channel, err)
	}
	q := newLossyQueue(b.buffer)
	go b.receive(ctx, ps, q)
	return q.ch, nil
}

func (b *RedisBroker) awaitConfirmation(ctx context.Context, ps *redis.PubSub) error {
	// A blocked read does not watch ctx; closing the PubSub ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	deadline := time.Now().Add(b.confirm)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return errors.New("no subscription confirmation")
		}
		msg, err := ps.ReceiveTimeout(ctx, left)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "subscribe" {
			return nil
		}
	}
}

// receive is the subscriber's one goroutine: it reads the pub/sub connection
// until ctx ends, keeps it alive, and rebuilds it after failures.
func (b *RedisBroker) receive(ctx context.Context, ps *redis.PubSub, q *lossyQueue) {
	defer close(q.ch)

	// A blocked read does not watch ctx; closing the PubSub ends it.
	var mu sync.Mutex
	current, closed := ps, false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		closed = true
		_ = current.Close()
	})
	defer func() {
		if stop() {
			mu.Lock()
			_ = current.Close()
			mu.Unlock()
		}
	}()
	replace := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return false
		}
		_ = current.Close()
		b.replaced.Add(1)
		current = b.client.Subscribe(ctx, b.channel)
		ps = current
		return true
	}

	pinged, failures := false, 0
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.idle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if failures == 0 && errors.As(err, &ne) && ne.Timeout() {
				if !pinged {
					pinged = true
					_ = ps.Ping(ctx) // a failed write shows up as a read error
					continue
				}
				b.logger.Warn("redis pub/sub connection unresponsive; reconnecting")
				pinged = false
				if !replace() {
					return
				}
				continue
			}
			if failures == 0 {
				b.logger.Warn("redis pub/sub connection lost; reconnecting", "err", err)
			}
			pinged = false
			failures++
			// The client already redialled once on the failed read; back off
			// only when that did not work either.
			if failures > 1 && !sleepCtx(ctx, b.backoff(failures-1)) {
				return
			}
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if failures > 0 {
					b.logger.Info("redis pub/sub reconnected", "attempts", failures)
				}
				failures = 0
				// Resubscribed on a new connection: whatever was published
				// in between is only in the log.
				q.offer(nil)
			}
		case *redis.Message:
			failures = 0
			e, err := decodeEvent(m.Payload)
			if err != nil {
				b.logger.Error("undecodable message on the event channel; readers will catch up from the log", "err", err)
				q.offer(nil)
				continue
			}
			q.offer(e)
		case *redis.Pong:
			failures = 0
		}
	}
}

// backoff is the wait before reconnection attempt n (n >= 1): doubling, capped,
// with jitter so instances do not reconnect in lockstep after a restart.
func (b *RedisBroker) backoff(n int) time.Duration {
	d := b.maxBackoff
	if n < 16 {
		d = min(b.minBackoff<<(n-1), b.maxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// wireEvent is an Event on the Redis channel. Its shape is a contract between
// instances of different versions during a rolling deploy: add fields, never
// rename them.
type wireEvent struct {
	ID          int64           `json:"id"`
	Seq         int64           `json:"seq"`
	Type        string          `json:"type"`
	SubjectType string          `json:"subjectType"`
	SubjectID   string          `json:"subjectId"`
	ProjectID   *string         `json:"projectId,omitempty"`
	UserIDs     []string        `json:"userIds,omitempty"`
	ActorID     *string         `json:"actorId,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	OccurredAt  time.Time       `json:"occurredAt"`
}

func encodeEvent(e *switchyard.Event) ([]byte, error) {
	raw, err := json.Marshal(wireEvent{
		ID: e.ID, Seq: e.Seq, Type: e.Type, SubjectType: e.SubjectType, SubjectID: e.SubjectID,
		ProjectID: e.ProjectID, UserIDs: e.UserIDs, ActorID: e.ActorID, Data: e.Data, OccurredAt: e.OccurredAt,
	})
	if err != nil {
		return nil, fmt.Errorf("realtime: encode event seq %d: %w", e.Seq, err)
	}
	return raw, nil
}

func decodeEvent(payload string) (*switchyard.Event, error) {
	var w wireEvent
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return nil, err
	}
	if w.Seq <= 0 || w.Type == "" {
		return nil, fmt.Errorf("event without seq or type: %.200s", payload)
	}
	return &switchyard.Event{
		ID: w.ID, Seq: w.Seq, Type: w.Type, SubjectType: w.SubjectType, SubjectID: w.SubjectID,
		ProjectID: w.ProjectID, UserIDs: w.UserIDs, ActorID: w.ActorID, Data: w.Data, OccurredAt: w.OccurredAt,
	}, nil
}
