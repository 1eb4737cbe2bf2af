package integrations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/integrations"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/realtime"
)

// waitFor bounds every wait; deliveries take milliseconds, and a loaded
// 2-core machine running -race gets ample slack.
const waitFor = 20 * time.Second

// eventually polls cond (a database read, usually) until it holds or the
// deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// fixture is a database with a relay sequencing its events, a project with
// an owner, and the services the webhook machinery uses.
type fixture struct {
	t        *testing.T
	db       *postgres.DB
	orders   *postgres.OrderService
	ints     *postgres.IntegrationService
	store    *postgres.WebhookStore
	owner    *switchyard.User
	customer *switchyard.User
	project  *switchyard.Project
}

func adminCtx() context.Context {
	return switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{
		UserID: "00000000-0000-4000-8000-0000000000ad", Email: "fixtures@example.com", Role: switchyard.RoleAdmin,
	})
}

func (f *fixture) ownerCtx() context.Context {
	return switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: f.owner.ID, Email: f.owner.Email, Role: switchyard.RoleMember})
}

var seq atomic.Int64

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgrestest.NewDatabaseURL(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	// The worker follows sequenced events, so a relay runs as in serve.
	relay := postgres.NewRelay(db, realtime.NewMemoryBroker(), nil, postgres.WithRelayPollInterval(20*time.Millisecond), postgres.WithRelayLockRetry(20*time.Millisecond))
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(rctx) })
	t.Cleanup(func() { stop(); wg.Wait() })

	ints, err := postgres.NewIntegrationService(db, postgres.IntegrationOptions{
		SecretKey: make([]byte, 32), AllowPrivateEndpoints: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, orders: postgres.NewOrderService(db), ints: ints, store: postgres.NewWebhookStore(db)}
	users := postgres.NewUserService(db)
	mkUser := func(name string) *switchyard.User {
		u, err := users.CreateUser(adminCtx(), switchyard.UserCreate{Email: fmt.Sprintf("%s.%d@example.com", name, seq.Add(1)), Name: name, Role: switchyard.RoleMember})
		if err != nil {
			t.Fatalf("user: %v", err)
		}
		return u
	}
	f.owner, f.customer = mkUser("owner"), mkUser("customer")
	f.project, err = postgres.NewProjectService(db).CreateProject(adminCtx(), switchyard.ProjectCreate{Name: "Webhooks", OwnerID: &f.owner.ID})
	if err != nil {
		t.Fatalf("project: %v", err)
	}
	return f
}

func (f *fixture) order() *switchyard.Order {
	f.t.Helper()
	o, err := f.orders.CreateOrder(adminCtx(), switchyard.OrderCreate{
		ProjectID: f.project.ID, CustomerID: &f.customer.ID, Currency: "EUR",
		Items: []switchyard.OrderItemInput{{SKU: "A-1", Name: "Anvil", Quantity: 1, UnitPrice: "10.00"}},
	})
	if err != nil {
		f.t.Fatalf("order: %v", err)
	}
	return o
}

func (f *fixture) setStatus(o *switchyard.Order, s switchyard.OrderStatus) {
	f.t.Helper()
	if _, err := f.orders.UpdateOrderStatus(adminCtx(), o.ID, s, nil); err != nil {
		f.t.Fatalf("status %s: %v", s, err)
	}
}

// outbound creates an integration sending types (default
// order.status_changed) to url, and returns it with its secret.
func (f *fixture) outbound(url string, types ...string) (*switchyard.Integration, string) {
	f.t.Helper()
	if len(types) == 0 {
		types = []string{switchyard.EventOrderStatusChanged}
	}
	created, err := f.ints.CreateIntegration(f.ownerCtx(), switchyard.IntegrationCreate{
		ProjectID: f.project.ID, Name: "Receiver " + fmt.Sprint(seq.Add(1)), Provider: switchyard.ProviderGeneric,
		Direction: switchyard.DirectionOutbound, EventTypes: types, EndpointURL: &url,
	})
	if err != nil {
		f.t.Fatalf("integration: %v", err)
	}
	return created.Integration, created.Secret
}

// worker starts a worker over the fixture's database; stop ends it and
// waits until it has.
func (f *fixture) worker(opts integrations.WorkerOptions) (stop func()) {
	f.t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 20 * time.Millisecond
		opts.MaxBackoff = 100 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{f.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	w := integrations.NewWorker(f.store, f.ints, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(waitFor):
				f.t.Errorf("the worker did not stop within %v", waitFor)
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// attempt is a webhook_deliveries row as the tests look at it.
type attempt struct {
	ID             string
	EventID        int64
	EventType      string
	Attempt        int
	Status         string
	ResponseStatus *int
	LatencyMs      *int
	Error          *string
	NextAttemptAt  *time.Time
	RedeliveryOf   *string
	CreatedAt      time.Time
	FinishedAt     *time.Time
}

// attempts reads an integration's outbound rows, oldest first.
func (f *fixture) attempts(integrationID string) []attempt {
	f.t.Helper()
	rows, err := f.db.Pool().Query(context.Background(), `SELECT id::text, event_id, event_type, attempt, status, response_status,
			latency_ms, error, next_attempt_at, redelivery_of::text, created_at, finished_at
		FROM webhook_deliveries WHERE integration_id = $1 AND direction = 'OUTBOUND' ORDER BY event_id, attempt`, integrationID)
	if err != nil {
		f.t.Fatalf("attempts: %v", err)
	}
	defer rows.Close()
	var out []attempt
	for rows.Next() {
		var a attempt
		if err := rows.Scan(&a.ID, &a.EventID, &a.EventType, &a.Attempt, &a.Status, &a.ResponseStatus, &a.LatencyMs, &a.Error,
			&a.NextAttemptAt, &a.RedeliveryOf, &a.CreatedAt, &a.FinishedAt); err != nil {
			f.t.Fatalf("attempts: %v", err)
		}
		out = append(out, a)
	}
	return out
}

func (f *fixture) integrationState(id string) (switchyard.IntegrationStatus, int) {
	f.t.Helper()
	var status string
	var failures int
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT status, consecutive_failures FROM integrations WHERE id = $1`, id).Scan(&status, &failures); err != nil {
		f.t.Fatalf("integration: %v", err)
	}
	return switchyard.IntegrationStatus(status), failures
}

// payload is an outbound webhook's body.
type payload struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurredAt"`
	Data       struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Previous string `json:"previousStatus"`
	} `json:"data"`
}

// received is one request a receiver got.
type received struct {
	At      time.Time
	Header  http.Header
	Body    []byte
	Payload payload
}

// receiver is a local webhook endpoint (httptest, on 127.0.0.1) that records
// what it gets and answers with respond.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, rec received, r *http.Request, w http.ResponseWriter) int
}

// newReceiver answers 200 until told otherwise.
func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rec := received{At: time.Now(), Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &rec.Payload)
		rc.got = append(rc.got, rec)
		respond := rc.respond
		rc.mu.Unlock()
		status := http.StatusOK
		if respond != nil {
			status = respond(n, rec, r, w)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setRespond(f func(n int, rec received, r *http.Request, w http.ResponseWriter) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

// localhostURL is the receiver's URL by a host name that resolves to
// 127.0.0.1.
func (rc *receiver) localhostURL(path string) string {
	return strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1) + path
}

// testWriter sends the worker's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
