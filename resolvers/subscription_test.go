package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// fakeStream is an EventStream a test feeds by hand; it enforces no expiry.
type fakeStream struct {
	filters chan switchyard.EventFilter
	subs    chan *fakeSub
}

type fakeSub struct {
	ch  chan *switchyard.Event
	err error
}

func (s *fakeSub) Events() <-chan *switchyard.Event { return s.ch }
func (s *fakeSub) Err() error                       { return s.err }

// TryNext and Notify are unused: the channel adapter under test parks on
// Events.
func (s *fakeSub) TryNext() (*switchyard.Event, bool) { return nil, true }
func (s *fakeSub) Notify(func())                      {}

func (f *fakeStream) Subscribe(ctx context.Context, filter switchyard.EventFilter) (switchyard.Subscription, error) {
	s := &fakeSub{ch: make(chan *switchyard.Event, 16)}
	f.filters <- filter
	f.subs <- s
	return s, nil
}

func newFake() *fakeStream {
	return &fakeStream{filters: make(chan switchyard.EventFilter, 1), subs: make(chan *fakeSub, 1)}
}

func notificationEvent(seq int64, id string) *switchyard.Event {
	data, _ := json.Marshal(switchyard.Notification{ID: id, Kind: switchyard.NotificationOrderStatusChanged, Title: "t"})
	return &switchyard.Event{Seq: seq, Type: switchyard.EventNotificationCreated, SubjectType: "notification", SubjectID: id, Data: data}
}

func receive[T any](t *testing.T, ch <-chan T) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
	}
	var zero T
	return zero, false
}

func TestSubscriptionAdapter(t *testing.T) {
	caller := &switchyard.Caller{UserID: "u1", Role: switchyard.RoleMember}

	t.Run("cursors, resume position and the ending error", func(t *testing.T) {
		fake := newFake()
		r := &Resolver{Events: fake}
		ctx, st := WithStream(switchyard.NewContextWithCaller(context.Background(), caller), switchyard.EventCursor(7))
		ch, err := r.Subscription().NotificationCreated(ctx, ptrTo(switchyard.EventCursor(3)))
		if err != nil {
			t.Fatal(err)
		}
		// The transport's resume position wins over `after`.
		if f := <-fake.filters; f.After != 7 || f.SubjectType != "notification" {
			t.Fatalf("filter %+v", f)
		}
		sub := <-fake.subs
		sub.ch <- notificationEvent(8, "n8")
		sub.ch <- notificationEvent(9, "n9")
		for _, want := range []struct {
			id     string
			cursor string
		}{{"n8", switchyard.EventCursor(8)}, {"n9", switchyard.EventCursor(9)}} {
			n, ok := receive(t, ch)
			if !ok || n.ID != want.id {
				t.Fatalf("got %+v", n)
			}
			if c := st.NextCursor(); c != want.cursor {
				t.Fatalf("cursor %q, want %q", c, want.cursor)
			}
		}
		sub.err = switchyard.Errorf(switchyard.ERATELIMITED, "too slow")
		close(sub.ch)
		if _, ok := receive(t, ch); ok {
			t.Fatal("channel not closed")
		}
		if switchyard.ErrorCode(st.Err()) != switchyard.ERATELIMITED {
			t.Fatalf("err %v", st.Err())
		}
	})

	t.Run("a bad cursor is refused before subscribing", func(t *testing.T) {
		r := &Resolver{Events: newFake()}
		ctx, _ := WithStream(switchyard.NewContextWithCaller(context.Background(), caller), "")
		_, err := r.Subscription().NotificationCreated(ctx, ptrTo("garbage"))
		if switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != "after" {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("expiry when the EventStream does not end it", func(t *testing.T) {
		fake := newFake()
		r := &Resolver{Events: fake}
		c := *caller
		c.ExpiresAt = time.Now().Add(100 * time.Millisecond)
		ctx, st := WithStream(switchyard.NewContextWithCaller(context.Background(), &c), "")
		ch, err := r.Subscription().NotificationCreated(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-fake.filters
		sub := <-fake.subs
		sub.ch <- notificationEvent(4, "n4")
		receive(t, ch)
		if _, ok := receive(t, ch); ok {
			t.Fatal("channel not closed at expiry")
		}
		err = st.Err()
		if switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED || switchyard.ErrorMessage(err) != "token expired; reconnect with a new token and resume after cursor "+switchyard.EventCursor(4) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("undecodable data is an internal error", func(t *testing.T) {
		fake := newFake()
		r := &Resolver{Events: fake}
		ctx, st := WithStream(switchyard.NewContextWithCaller(context.Background(), caller), "")
		ch, err := r.Subscription().OrderEvents(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-fake.filters
		sub := <-fake.subs
		sub.ch <- &switchyard.Event{Seq: 1, Type: switchyard.EventOrderCreated, SubjectType: "order", Data: json.RawMessage(`[1]`)}
		if _, ok := receive(t, ch); ok {
			t.Fatal("channel not closed")
		}
		var se *switchyard.Error
		if err := st.Err(); err == nil || errors.As(err, &se) {
			t.Fatalf("want a plain (internal) error, got %v", err)
		}
	})

	t.Run("a partner is no user", func(t *testing.T) {
		r := &Resolver{Events: newFake()}
		ctx := switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{Partner: &switchyard.PartnerCaller{}})
		_, err := r.Subscription().OrderEvents(ctx, nil, nil)
		if switchyard.ErrorCode(err) != switchyard.EFORBIDDEN {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		r := &Resolver{Events: newFake()}
		_, err := r.Subscription().OrderEvents(context.Background(), nil, nil)
		if switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED {
			t.Fatalf("err %v", err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
