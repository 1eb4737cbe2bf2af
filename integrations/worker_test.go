package integrations_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/integrations"
	"github.com/switchyard/switchyard/postgres"
)

// checkSignature verifies an outbound request as a receiver would.
func checkSignature(t *testing.T, r received, secret string) {
	t.Helper()
	h := r.Header.Get(integrations.HeaderSignature)
	ts, _, ok := strings.Cut(strings.TrimPrefix(h, "t="), ",")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		t.Fatalf("malformed signature header %q", h)
	}
	if d := time.Since(time.Unix(unix, 0)); d > time.Minute || d < -time.Minute {
		t.Fatalf("signature timestamp %d is not now", unix)
	}
	if want := integrations.Sign(time.Unix(unix, 0), r.Body, secret); h != want {
		t.Fatalf("signature %q, want %q", h, want)
	}
}

func TestOutboundSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	i, secret := f.outbound(rc.url("/hooks?token=abc"))
	f.worker(integrations.WorkerOptions{AllowPrivate: true})

	o := f.order() // order.created: not subscribed
	f.setStatus(o, switchyard.OrderPaid)
	eventually(t, "one delivery", func() bool { return len(rc.requests()) == 1 })

	r := rc.requests()[0]
	checkSignature(t, r, secret)
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Switchyard-Event") != switchyard.EventOrderStatusChanged {
		t.Fatalf("headers: %v", r.Header)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil || len(raw) != 4 || raw["id"] == nil || raw["occurredAt"] == nil {
		t.Fatalf("body is not {id type occurredAt data}: %s", r.Body)
	}
	p := r.Payload
	if p.Type != switchyard.EventOrderStatusChanged || p.Data.ID != o.ID || p.Data.Status != "PAID" || p.Data.Previous != "PENDING" || p.OccurredAt.IsZero() {
		t.Fatalf("payload: %s", r.Body)
	}
	eventually(t, "the attempt recorded", func() bool {
		a := f.attempts(i.ID)
		return len(a) == 1 && a[0].Status == "SUCCEEDED"
	})
	a := f.attempts(i.ID)[0]
	if a.Attempt != 1 || a.ResponseStatus == nil || *a.ResponseStatus != 200 || a.LatencyMs == nil || a.Error != nil || a.NextAttemptAt != nil {
		t.Fatalf("attempt row: %+v", a)
	}
	if strconv.FormatInt(a.EventID, 10) != p.ID {
		t.Fatalf("payload id %s, event %d", p.ID, a.EventID)
	}
	h, err := f.ints.IntegrationHealth(f.ownerCtx(), []string{i.ID})
	if err != nil {
		t.Fatal(err)
	}
	if hh := h[i.ID]; hh == nil || hh.SuccessRate24h == nil || *hh.SuccessRate24h != 1 || hh.LastDeliveryAt == nil || hh.ConsecutiveFailures != 0 {
		t.Fatalf("health: %+v", h[i.ID])
	}
}

func TestOutboundRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		first   func(r *http.Request, w http.ResponseWriter) int
		timeout time.Duration
		check   func(t *testing.T, first attempt, got []received)
	}{
		{
			name:  "500 then success",
			first: func(*http.Request, http.ResponseWriter) int { return http.StatusInternalServerError },
			check: func(t *testing.T, first attempt, _ []received) {
				if first.ResponseStatus == nil || *first.ResponseStatus != 500 || first.Error == nil || !strings.Contains(*first.Error, "500") {
					t.Fatalf("first attempt: %+v", first)
				}
			},
		},
		{
			name: "429 with Retry-After",
			first: func(_ *http.Request, w http.ResponseWriter) int {
				w.Header().Set("Retry-After", "1")
				return http.StatusTooManyRequests
			},
			check: func(t *testing.T, first attempt, got []received) {
				// The test backoff is 10–100ms: only Retry-After explains a
				// second's wait.
				if gap := got[1].At.Sub(got[0].At); gap < 950*time.Millisecond {
					t.Fatalf("retried %v after a 429 with Retry-After: 1", gap)
				}
				if first.NextAttemptAt == nil || first.NextAttemptAt.Sub(*first.FinishedAt) < 900*time.Millisecond {
					t.Fatalf("next attempt not a second later: %+v", first)
				}
			},
		},
		{
			name: "429 with Retry-After as an HTTP date",
			first: func(_ *http.Request, w http.ResponseWriter) int {
				w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
				return http.StatusServiceUnavailable
			},
			check: func(t *testing.T, _ attempt, got []received) {
				if gap := got[1].At.Sub(got[0].At); gap < 900*time.Millisecond {
					t.Fatalf("retried %v after Retry-After two seconds ahead", gap)
				}
			},
		},
		{
			name:    "timeout",
			timeout: 300 * time.Millisecond,
			first: func(r *http.Request, _ http.ResponseWriter) int {
				<-r.Context().Done() // until the worker gives up on it
				return http.StatusOK
			},
			check: func(t *testing.T, first attempt, _ []received) {
				if first.ResponseStatus != nil || first.Error == nil || !strings.Contains(*first.Error, "no response within") {
					t.Fatalf("first attempt: %+v", first)
				}
			},
		},
		{
			name:  "408",
			first: func(*http.Request, http.ResponseWriter) int { return http.StatusRequestTimeout },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			rc := newReceiver(t)
			rc.setRespond(func(n int, _ received, r *http.Request, w http.ResponseWriter) int {
				if n == 0 {
					return c.first(r, w)
				}
				return http.StatusOK
			})
			i, secret := f.outbound(rc.url("/"))
			f.worker(integrations.WorkerOptions{AllowPrivate: true, Timeout: c.timeout, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
			f.setStatus(f.order(), switchyard.OrderPaid)
			eventually(t, "a failed attempt and a successful one", func() bool {
				a := f.attempts(i.ID)
				return len(a) == 2 && a[1].Status == "SUCCEEDED"
			})
			a := f.attempts(i.ID)
			if a[0].Status != "FAILED" || a[0].Attempt != 1 || a[1].Attempt != 2 || a[0].EventID != a[1].EventID || a[0].NextAttemptAt == nil {
				t.Fatalf("attempts: %+v", a)
			}
			got := rc.requests()
			if len(got) != 2 || got[0].Payload.ID != got[1].Payload.ID || string(got[0].Body) != string(got[1].Body) {
				t.Fatalf("want the same webhook twice, got %d requests", len(got))
			}
			checkSignature(t, got[1], secret)
			if got[1].Header.Get("X-Switchyard-Attempt") != "2" {
				t.Fatalf("attempt header %q", got[1].Header.Get("X-Switchyard-Attempt"))
			}
			if c.check != nil {
				c.check(t, a[0], got)
			}
			if _, failures := f.integrationState(i.ID); failures != 0 {
				t.Fatalf("a success leaves %d failures", failures)
			}
		})
	}
}

// Answers that no retry will change (other 4xx) end the delivery at once;
// retries stop at the retry limit.
func TestOutboundGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	rc.setRespond(func(_ int, _ received, r *http.Request, _ http.ResponseWriter) int {
		if r.URL.Path == "/gone" {
			return http.StatusGone
		}
		return http.StatusBadGateway
	})
	gone, _ := f.outbound(rc.url("/gone"))
	flaky, _ := f.outbound(rc.url("/flaky"))
	f.worker(integrations.WorkerOptions{AllowPrivate: true, RetryLimit: 400 * time.Millisecond, FailureThreshold: 1000})
	f.setStatus(f.order(), switchyard.OrderPaid)

	eventually(t, "the 410 recorded", func() bool { return len(f.attempts(gone.ID)) == 1 && f.attempts(gone.ID)[0].Status == "FAILED" })
	a := f.attempts(gone.ID)[0]
	if a.NextAttemptAt != nil || !strings.Contains(*a.Error, "not retried") {
		t.Fatalf("a 410 was retried: %+v", a)
	}
	eventually(t, "the 502s given up", func() bool {
		list := f.attempts(flaky.ID)
		last := list[len(list)-1]
		return len(list) > 1 && last.Status == "FAILED" && last.NextAttemptAt == nil
	})
	list := f.attempts(flaky.ID)
	if span := list[len(list)-1].CreatedAt.Sub(list[0].CreatedAt); span > 2*time.Second {
		t.Fatalf("retried for %v with a 400ms limit", span)
	}
	for _, x := range list[:len(list)-1] {
		if x.Status != "FAILED" || x.NextAttemptAt == nil {
			t.Fatalf("attempts: %+v", list)
		}
	}
}

// After FailureThreshold failures the integration turns FAILING and its
// owner is told; deliveries wait behind the breaker, which lets one probe
// through every ProbeInterval; the first that succeeds closes it and the
// rest follow in order.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	rc.setRespond(func(int, received, *http.Request, http.ResponseWriter) int { return http.StatusInternalServerError })
	i, _ := f.outbound(rc.url("/"))
	const probe = 600 * time.Millisecond
	f.worker(integrations.WorkerOptions{AllowPrivate: true, FailureThreshold: 3, ProbeInterval: probe, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})

	o := f.order()
	f.setStatus(o, switchyard.OrderPaid)
	eventually(t, "the integration FAILING", func() bool { s, _ := f.integrationState(i.ID); return s == switchyard.IntegrationFailing })

	var kind, title, subjectType, subjectID string
	err := f.db.Pool().QueryRow(context.Background(), `SELECT kind, title, subject_type, subject_id::text FROM notifications WHERE user_id = $1 AND kind <> 'ORDER_STATUS_CHANGED'`, f.owner.ID).
		Scan(&kind, &title, &subjectType, &subjectID)
	if err != nil || kind != switchyard.NotificationIntegrationFailing || subjectType != "integration" || subjectID != i.ID || !strings.Contains(title, i.Name) {
		t.Fatalf("owner's notification: %s %q %s %s %v", kind, title, subjectType, subjectID, err)
	}
	var events int
	_ = f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = 'notification.created' AND $1 = ANY(user_ids::text[]) AND data->>'kind' = $2`,
		f.owner.ID, switchyard.NotificationIntegrationFailing).Scan(&events)
	if events != 1 {
		t.Fatalf("want one notification.created event for the owner, got %d", events)
	}

	// While open, only probes go out, ProbeInterval apart; a later event of
	// the same order waits behind them.
	f.setStatus(o, switchyard.OrderFulfilled)
	eventually(t, "two probes", func() bool { return len(rc.requests()) >= 5 })
	got := rc.requests()
	if len(got) != 5 {
		t.Fatalf("want 3 failures and 2 probes, got %d requests", len(got))
	}
	for n := 3; n < 5; n++ {
		if gap := got[n].At.Sub(got[n-1].At); gap < probe-50*time.Millisecond {
			t.Fatalf("probe %d came %v after the previous attempt, want %v", n-2, gap, probe)
		}
		if got[n].Payload.Data.Status != "PAID" {
			t.Fatalf("probe carried %s, want the first event (PAID)", got[n].Payload.Data.Status)
		}
	}
	eventually(t, "five failures recorded", func() bool { _, n := f.integrationState(i.ID); return n == 5 })
	if st, _ := f.integrationState(i.ID); st != switchyard.IntegrationFailing {
		t.Fatalf("after two failed probes: %s", st)
	}

	rc.setRespond(nil) // the endpoint recovers
	eventually(t, "both events delivered", func() bool {
		g := rc.requests()
		return len(g) >= 7 && g[len(g)-1].Payload.Data.Status == "FULFILLED"
	})
	got = rc.requests()
	if len(got) != 7 || got[5].Payload.Data.Status != "PAID" {
		t.Fatalf("after recovery: %d requests", len(got))
	}
	if gap := got[5].At.Sub(got[2].At); gap < 3*probe-50*time.Millisecond {
		t.Fatalf("the breaker let a delivery through %v after it opened, before three probe intervals", gap)
	}
	eventually(t, "the integration ACTIVE", func() bool { s, n := f.integrationState(i.ID); return s == switchyard.IntegrationActive && n == 0 })
	h, _ := f.ints.IntegrationHealth(f.ownerCtx(), []string{i.ID})
	if h[i.ID].ConsecutiveFailures != 0 || h[i.ID].SuccessRate24h == nil || *h[i.ID].SuccessRate24h >= 1 {
		t.Fatalf("health after recovery: %+v", h[i.ID])
	}
	var statusEvents int
	_ = f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = 'integration.updated' AND subject_id = $1`, i.ID).Scan(&statusEvents)
	if statusEvents != 2 {
		t.Fatalf("want integration.updated for FAILING and for ACTIVE, got %d", statusEvents)
	}
}

// A subject's events arrive in order, a later one waiting for the earlier
// one's retries; other subjects do not wait for it.
func TestOrderPerSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	a, b := f.order(), f.order()
	var aPaidTries atomic.Int32
	rc.setRespond(func(_ int, rec received, _ *http.Request, _ http.ResponseWriter) int {
		if p := rec.Payload.Data; p.ID == a.ID && p.Status == "PAID" && aPaidTries.Add(1) <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	i, _ := f.outbound(rc.url("/"))
	// Every event is committed before the worker starts, so all are queued
	// at once and only the ordering rule holds the later ones back.
	f.setStatus(a, switchyard.OrderPaid)
	f.setStatus(a, switchyard.OrderFulfilled)
	f.setStatus(a, switchyard.OrderShipped)
	f.setStatus(b, switchyard.OrderPaid)
	eventually(t, "the events sequenced", func() bool {
		var n int
		_ = f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events WHERE seq IS NULL`).Scan(&n)
		return n == 0
	})
	f.worker(integrations.WorkerOptions{AllowPrivate: true, MinBackoff: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})

	eventually(t, "every event delivered", func() bool {
		ok := 0
		for _, x := range f.attempts(i.ID) {
			if x.Status == "SUCCEEDED" {
				ok++
			}
		}
		return ok == 4
	})
	// a's PAID fails twice; its later events wait for the third try.
	var seenA []string
	var bAt, aPaidAt time.Time
	for _, r := range rc.requests() {
		switch r.Payload.Data.ID {
		case a.ID:
			seenA = append(seenA, r.Payload.Data.Status)
			if r.Payload.Data.Status == "PAID" {
				aPaidAt = r.At
			}
		case b.ID:
			bAt = r.At
		}
	}
	if strings.Join(seenA, ",") != "PAID,PAID,PAID,FULFILLED,SHIPPED" {
		t.Fatalf("order a's requests: %v", seenA)
	}
	if !bAt.Before(aPaidAt) {
		t.Fatalf("order b waited for order a's retries")
	}
}

// A worker stopped while a delivery waits for its retry leaves it in the
// database; a new worker on the same database sends it.
func TestRestartMidRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	rc.setRespond(func(int, received, *http.Request, http.ResponseWriter) int { return http.StatusInternalServerError })
	i, _ := f.outbound(rc.url("/"))
	stop := f.worker(integrations.WorkerOptions{AllowPrivate: true, MinBackoff: 2 * time.Second, MaxBackoff: 2 * time.Second})
	f.setStatus(f.order(), switchyard.OrderPaid)
	eventually(t, "a retry queued", func() bool {
		a := f.attempts(i.ID)
		return len(a) == 2 && a[1].Status == "PENDING"
	})
	stop()
	rc.setRespond(nil)
	f.worker(integrations.WorkerOptions{AllowPrivate: true})
	eventually(t, "the retry sent by the new worker", func() bool {
		a := f.attempts(i.ID)
		return len(a) == 2 && a[1].Status == "SUCCEEDED"
	})
	a := f.attempts(i.ID)
	if a[0].Status != "FAILED" || a[1].Attempt != 2 || len(rc.requests()) != 2 {
		t.Fatalf("attempts %+v, %d requests", a, len(rc.requests()))
	}
	// The cursor is durable too: the new worker did not queue the event again.
	if n := len(f.attempts(i.ID)); n != 2 {
		t.Fatalf("%d rows", n)
	}
}

// The SSRF guard checks the address dialled: loopback is refused without
// AllowPrivate, whether named by IP or by a name that resolves to it.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	byIP, _ := f.outbound(rc.url("/ip"))
	byName, _ := f.outbound(rc.localhostURL("/name"))
	stop := f.worker(integrations.WorkerOptions{AllowPrivate: false, RetryLimit: time.Hour, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	f.setStatus(f.order(), switchyard.OrderPaid)
	for _, i := range []*switchyard.Integration{byIP, byName} {
		eventually(t, "the refused attempt recorded", func() bool { a := f.attempts(i.ID); return len(a) > 0 && a[0].Status == "FAILED" })
		a := f.attempts(i.ID)[0]
		if a.Error == nil || !strings.Contains(*a.Error, "refused to connect") || a.ResponseStatus != nil {
			t.Fatalf("%s: %+v", *i.EndpointURL, a)
		}
		if strings.Contains(*a.Error, "/ip") || strings.Contains(*a.Error, "/name") {
			t.Fatalf("the error repeats the URL: %s", *a.Error)
		}
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
	stop()

	// With AllowPrivate the same endpoints are reached (redeliverWebhook
	// queues the attempt now rather than in an hour).
	f.worker(integrations.WorkerOptions{AllowPrivate: true})
	for _, i := range []*switchyard.Integration{byIP, byName} {
		first := f.attempts(i.ID)[0]
		if _, err := f.ints.RedeliverWebhook(f.ownerCtx(), first.ID); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both delivered", func() bool { return len(rc.requests()) >= 2 })
}

// redeliverWebhook queues the same payload again as a new attempt.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	i, _ := f.outbound(rc.url("/"))
	f.worker(integrations.WorkerOptions{AllowPrivate: true})
	f.setStatus(f.order(), switchyard.OrderPaid)
	eventually(t, "delivered", func() bool { a := f.attempts(i.ID); return len(a) == 1 && a[0].Status == "SUCCEEDED" })
	first := f.attempts(i.ID)[0]
	again, err := f.ints.RedeliverWebhook(f.ownerCtx(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "redelivered", func() bool { a := f.attempts(i.ID); return len(a) == 2 && a[1].Status == "SUCCEEDED" })
	a := f.attempts(i.ID)[1]
	if a.ID != again.ID || a.RedeliveryOf == nil || *a.RedeliveryOf != first.ID || a.Attempt != 2 {
		t.Fatalf("redelivery row: %+v", a)
	}
	got := rc.requests()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("want the same body twice: %d requests", len(got))
	}
}

// Deliveries are queued for the integrations that send the event's type in
// its project, exist when it happens, and are not PAUSED; the project's
// other integrations, and other projects', get nothing.
func TestQueueSelection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t)
	statusOnly, _ := f.outbound(rc.url("/status"))
	both, _ := f.outbound(rc.url("/both"), switchyard.EventOrderCreated, switchyard.EventOrderStatusChanged)
	paused, _ := f.outbound(rc.url("/paused"))
	if _, err := f.ints.PauseIntegration(f.ownerCtx(), paused.ID); err != nil {
		t.Fatal(err)
	}
	inbound, err := f.ints.CreateIntegration(f.ownerCtx(), switchyard.IntegrationCreate{
		ProjectID: f.project.ID, Name: "Stripe", Provider: switchyard.ProviderStripe, Direction: switchyard.DirectionInbound,
	})
	if err != nil {
		t.Fatal(err)
	}
	other, err := postgres.NewProjectService(f.db).CreateProject(adminCtx(), switchyard.ProjectCreate{Name: "Other", OwnerID: &f.owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.worker(integrations.WorkerOptions{AllowPrivate: true})

	o := f.order()
	f.setStatus(o, switchyard.OrderPaid)
	if _, err := f.orders.CreateOrder(adminCtx(), switchyard.OrderCreate{ProjectID: other.ID, CustomerID: &f.customer.ID, Currency: "EUR",
		Items: []switchyard.OrderItemInput{{SKU: "B", Name: "Bolt", Quantity: 1, UnitPrice: "1.00"}}}); err != nil {
		t.Fatal(err)
	}
	late, _ := f.outbound(rc.url("/late"))
	eventually(t, "three deliveries", func() bool { return len(rc.requests()) >= 3 })
	marker := f.order() // a later event, so a straggler would have shown by the time it is delivered
	f.setStatus(marker, switchyard.OrderPaid)
	eventually(t, "the marker", func() bool { return len(f.attempts(late.ID)) == 1 && f.attempts(late.ID)[0].Status == "SUCCEEDED" })
	eventually(t, "the marker everywhere", func() bool { return len(rc.requests()) == 7 })
	for _, c := range []struct {
		i    *switchyard.Integration
		want int
	}{{statusOnly, 2}, {both, 4}, {paused, 0}, {inbound.Integration, 0}, {late, 1}} {
		if n := len(f.attempts(c.i.ID)); n != c.want {
			t.Errorf("%s got %d deliveries, want %d", c.i.Name, n, c.want)
		}
	}
}
