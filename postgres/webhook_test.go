package postgres

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

func inboundIntegration(t *testing.T, f *integrationFixture) *switchyard.Integration {
	t.Helper()
	got, err := f.Integrations.CreateIntegration(userCtx(context.Background(), f.Owner), switchyard.IntegrationCreate{
		ProjectID: f.Project.ID, Name: "Stripe", Provider: switchyard.ProviderStripe, Direction: switchyard.DirectionInbound,
	})
	if err != nil {
		t.Fatal(err)
	}
	return got.Integration
}

// One provider event is claimed once, however many requests carry it at
// once; a claim whose outcome was final answers every later one, while one
// answered 5xx, or abandoned, is taken over by the provider's retry.
func TestClaimWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newIntegrationFixture(t)
	s := NewWebhookStore(f.DB)
	i := inboundIntegration(t, f)
	claim := func(id string) switchyard.InboundClaim {
		return switchyard.InboundClaim{IntegrationID: i.ID, ProviderEventID: id, EventType: "payment_intent.succeeded", Payload: json.RawMessage(`{"id":"` + id + `"}`)}
	}

	var wg sync.WaitGroup
	var claimed atomic.Int32
	ids := make(chan string, 10)
	for range 10 {
		wg.Go(func() {
			d, ok, err := s.ClaimWebhook(ctx, claim("evt_race"))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				claimed.Add(1)
			}
			ids <- d.ID
		})
	}
	wg.Wait()
	close(ids)
	if claimed.Load() != 1 {
		t.Fatalf("%d claims won, want 1", claimed.Load())
	}
	var first string
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("claims answered different deliveries: %s, %s", first, id)
		}
	}
	// Still PENDING: the others are told it is in progress.
	if d, ok, _ := s.ClaimWebhook(ctx, claim("evt_race")); ok || d.Status != switchyard.DeliveryPending {
		t.Fatalf("a claim in progress: claimed=%v %s", ok, d.Status)
	}

	msg := "order SO-1: an order that is DELIVERED cannot become PAID"
	if err := s.FinishWebhook(ctx, first, switchyard.InboundResult{Status: switchyard.DeliveryFailed, ResponseStatus: 200, Error: &msg}); err != nil {
		t.Fatal(err)
	}
	if d, ok, _ := s.ClaimWebhook(ctx, claim("evt_race")); ok || d.ID != first || d.Status != switchyard.DeliveryFailed {
		t.Fatalf("a final outcome was taken over: claimed=%v %+v", ok, d)
	}
	wantCode(t, s.FinishWebhook(ctx, first, switchyard.InboundResult{Status: switchyard.DeliverySucceeded, ResponseStatus: 200}), switchyard.ENOTFOUND)

	// Answered 500: the retry takes the row over.
	d, _, _ := s.ClaimWebhook(ctx, claim("evt_500"))
	internal := "internal error"
	if err := s.FinishWebhook(ctx, d.ID, switchyard.InboundResult{Status: switchyard.DeliveryFailed, ResponseStatus: 500, Error: &internal}); err != nil {
		t.Fatal(err)
	}
	again, ok, err := s.ClaimWebhook(ctx, claim("evt_500"))
	if err != nil || !ok || again.ID != d.ID || again.Attempt != 2 || again.Status != switchyard.DeliveryPending || again.Error != nil {
		t.Fatalf("retry after a 500: claimed=%v %+v %v", ok, again, err)
	}

	// Abandoned (its processor died): taken over after the claim timeout.
	stale, _, _ := s.ClaimWebhook(ctx, claim("evt_stale"))
	if _, ok, _ := s.ClaimWebhook(ctx, claim("evt_stale")); ok {
		t.Fatal("a fresh claim was taken over")
	}
	if _, err := f.DB.Pool().Exec(ctx, `UPDATE webhook_deliveries SET created_at = now() - make_interval(secs => $2) WHERE id = $1`,
		stale.ID, (switchyard.InboundClaimTimeout + time.Second).Seconds()); err != nil {
		t.Fatal(err)
	}
	if d, ok, _ := s.ClaimWebhook(ctx, claim("evt_stale")); !ok || d.ID != stale.ID || d.Attempt != 2 {
		t.Fatalf("an abandoned claim was not taken over: %v %+v", ok, d)
	}

	// Refused requests reserve nothing.
	if _, err := s.RejectWebhook(ctx, i.ID, "the Stripe-Signature signature does not match", 401); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ClaimWebhook(ctx, claim("evt_new")); !ok {
		t.Fatal("a rejected request reserved an id")
	}
	wantCode(t, func() error {
		_, err := s.RejectWebhook(ctx, "00000000-0000-4000-8000-00000000dead", "x", 401)
		return err
	}(), switchyard.ENOTFOUND)
	wantCode(t, func() error {
		_, _, err := s.ClaimWebhook(ctx, switchyard.InboundClaim{IntegrationID: "nope", ProviderEventID: "x"})
		return err
	}(), switchyard.ENOTFOUND)
}

// sequenceAll gives every unsequenced event its seq, as the relay would.
func sequenceAll(t *testing.T, db *DB) {
	t.Helper()
	_, err := db.Pool().Exec(context.Background(), `WITH s AS (
			SELECT id, (SELECT last_seq FROM relay_state) + row_number() OVER (ORDER BY id) AS seq FROM events WHERE seq IS NULL)
		UPDATE events e SET seq = s.seq FROM s WHERE e.id = s.id;
		UPDATE relay_state SET last_seq = (SELECT coalesce(max(seq), 0) FROM events), published_seq = (SELECT coalesce(max(seq), 0) FROM events)`)
	if err != nil {
		t.Fatal(err)
	}
}

// Queueing moves a durable cursor: each event is queued once, even by two
// workers at once, and a cursor older than the log keeps skips ahead,
// reporting the loss.
func TestQueueWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newIntegrationFixture(t)
	s := NewWebhookStore(f.DB)
	out := f.mustIntegration(t, f.Project).Integration // order.created
	sequenceAll(t, f.DB)
	if _, _, _, err := s.QueueWebhooks(ctx, 100); err != nil { // up to now
		t.Fatal(err)
	}

	for range 5 {
		if _, err := f.Orders.CreateOrder(adminCtx(ctx), switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Member.ID, Currency: "USD",
			Items: []switchyard.OrderItemInput{{SKU: "S", Name: "Sprocket", Quantity: 1, UnitPrice: "1.00"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sequenceAll(t, f.DB)
	var wg sync.WaitGroup
	var events, queued atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				n, q, _, err := s.QueueWebhooks(ctx, 2)
				if err != nil {
					t.Error(err)
					return
				}
				events.Add(int64(n))
				queued.Add(int64(q))
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if queued.Load() != 5 || f.count(t, `SELECT count(*) FROM webhook_deliveries WHERE integration_id = $1`, out.ID) != 5 {
		t.Fatalf("queued %d (of %d events); want each of 5 once", queued.Load(), events.Load())
	}
	due, err := s.DueWebhooks(ctx, 100, 100)
	if err != nil || len(due) != 5 {
		t.Fatalf("due: %d %v", len(due), err)
	}
	var p switchyard.WebhookPayload
	if err := json.Unmarshal(due[0].Payload, &p); err != nil || p.Type != switchyard.EventOrderCreated || p.ID == "" || p.OccurredAt.IsZero() || len(p.Data) == 0 {
		t.Fatalf("payload %s: %v", due[0].Payload, err)
	}
	if due[0].EndpointURL != *out.EndpointURL || due[0].SubjectKey == "" || due[0].FirstAttemptAt.IsZero() {
		t.Fatalf("due delivery: %+v", due[0])
	}

	// The log was pruned past the cursor while the worker was away.
	for range 3 {
		if _, err := f.Orders.CreateOrder(adminCtx(ctx), switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Member.ID, Currency: "USD",
			Items: []switchyard.OrderItemInput{{SKU: "S", Name: "Sprocket", Quantity: 1, UnitPrice: "1.00"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sequenceAll(t, f.DB)
	if _, err := f.DB.Pool().Exec(ctx, `DELETE FROM events WHERE seq > (SELECT seq FROM consumer_cursors WHERE name = 'webhooks:outbound');
		UPDATE relay_state SET pruned_through = last_seq`); err != nil {
		t.Fatal(err)
	}
	_, _, lost, err := s.QueueWebhooks(ctx, 10)
	if err != nil || lost != 3 {
		t.Fatalf("lost %d, %v; want 3", lost, err)
	}
	if _, _, lost, _ := s.QueueWebhooks(ctx, 10); lost != 0 {
		t.Fatalf("the loss was reported twice")
	}
}

// Leadership elects one runner per name; when the leader stops, or its
// session dies, another takes over.
func TestLeadership(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	var active, maxActive atomic.Int32
	var runs atomic.Int32
	started := make(chan int, 10)
	job := func(n int) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			a := active.Add(1)
			for {
				m := maxActive.Load()
				if a <= m || maxActive.CompareAndSwap(m, a) {
					break
				}
			}
			runs.Add(1)
			started <- n
			<-ctx.Done()
			active.Add(-1)
			return nil
		}
	}
	lead := func(n int) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = NewLeadership(db, 50*time.Millisecond, nil).Lead(ctx, "test-job", job(n))
		}()
		return func() { cancel(); <-done }
	}
	next := func() int {
		select {
		case n := <-started:
			return n
		case <-time.After(15 * time.Second):
			t.Fatal("no leader within 15s")
			return 0
		}
	}
	stops := map[int]func(){1: lead(1), 2: lead(2)}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	leader := next()
	// The leader stops: its lock goes with it and the other leads.
	stops[leader]()
	delete(stops, leader)
	if n := next(); n == leader {
		t.Fatalf("instance %d leads after it stopped", n)
	}
	if m := maxActive.Load(); m != 1 {
		t.Fatalf("%d jobs ran at once", m)
	}
	// The leader's session dies: PostgreSQL drops its lock, the leader
	// notices on its next check, ends its job and contends again. (Until
	// that check another instance may already lead: jobs must tolerate a
	// moment of overlap, which is why only a clean hand-over is asserted
	// above.)
	if _, err := db.Pool().Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1 AND objid::int = $2 AND granted`, leaderLockClass, leaderLockKey("test-job")); err != nil {
		t.Fatal(err)
	}
	next()
	if runs.Load() != 3 {
		t.Fatalf("%d runs, want 3", runs.Load())
	}
}
