package integrations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
)

// LeaderName is the job the worker is elected for, cluster-wide.
const LeaderName = "webhooks:outbound"

// Worker sends outbound webhooks. It follows the event log through the
// WebhookOutbox, which queues a delivery for each integration subscribed to
// an event, and sends the due ones: POST {id type occurredAt data} to the
// endpoint, signed with X-Switchyard-Signature.
//
// One worker is active per cluster, elected through Leadership like the
// relay: the queue's order per subject and the breaker's one probe at a time
// are then plain in-process bookkeeping, and a webhook sender's throughput
// is bounded by its receivers, not by one process. Every decision is
// recorded in PostgreSQL before it counts, so a new leader (after a restart
// or a fail-over) resumes from the rows: pending attempts, their due times,
// the breaker. Delivery is at least once: an attempt cut off between the
// send and its record is sent again.
//
// In order per subject: a later event of the same subject (an order) waits
// until every earlier one succeeded or was given up. Retries back off
// exponentially with jitter, honour Retry-After, and stop after RetryLimit.
// After FailureThreshold failures in a row the integration turns FAILING,
// its owner is notified, and its deliveries wait behind the breaker, which
// lets one through every ProbeInterval; the first success closes it.
type Worker struct {
	outbox     switchyard.WebhookOutbox
	secrets    switchyard.IntegrationSecrets
	leadership switchyard.Leadership
	logger     *slog.Logger
	client     *http.Client
	opts       WorkerOptions
	wake       chan struct{}
}

// WorkerOptions configure NewWorker; zero values take the defaults noted.
type WorkerOptions struct {
	// Leadership elects the one active worker; nil runs this one
	// unconditionally (a single instance, or tests).
	Leadership switchyard.Leadership
	// Logger receives failures and breaker changes; nil discards.
	Logger *slog.Logger
	// AllowPrivate lets endpoints resolve to loopback, private and
	// link-local addresses (SWITCHYARD_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// PollInterval is how often the worker looks for events and due
	// deliveries when nothing woke it (default 1s).
	PollInterval time.Duration
	// Timeout bounds one attempt, connection to response (default 10s).
	Timeout time.Duration
	// Concurrency bounds the attempts in flight (default 8), and
	// PerIntegration those of one integration (default 4).
	Concurrency    int
	PerIntegration int
	// BatchSize is how many events one queueing transaction takes
	// (default 500).
	BatchSize int
	// MinBackoff and MaxBackoff bound the wait before a retry (defaults 1s
	// and 1h): MinBackoff doubling per attempt, with jitter, up to
	// MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RetryLimit is how long after its first attempt a delivery is retried
	// (default 24h).
	RetryLimit time.Duration
	// FailureThreshold is the run of failed attempts that opens the circuit
	// breaker (default 10); ProbeInterval the wait between its probes
	// (default 1m).
	FailureThreshold int
	ProbeInterval    time.Duration
}

func (o *WorkerOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&o.PollInterval, time.Second)
	def(&o.Timeout, 10*time.Second)
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, time.Hour)
	def(&o.RetryLimit, 24*time.Hour)
	def(&o.ProbeInterval, time.Minute)
	defInt(&o.Concurrency, 8)
	defInt(&o.PerIntegration, 4)
	defInt(&o.BatchSize, 500)
	defInt(&o.FailureThreshold, 10)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
}

// NewWorker returns an outbound webhook worker.
func NewWorker(outbox switchyard.WebhookOutbox, secrets switchyard.IntegrationSecrets, opts WorkerOptions) *Worker {
	opts.defaults()
	return &Worker{
		outbox: outbox, secrets: secrets, leadership: opts.Leadership,
		logger: opts.Logger.With("component", "webhooks-out"),
		client: newClient(opts.AllowPrivate, opts.Timeout),
		opts:   opts,
		wake:   make(chan struct{}, 1),
	}
}

// newClient is the HTTP client of every attempt: no proxy (a proxy would
// dial for us, past the guard), no redirects (a redirect is the receiver's
// answer, and following it would re-send the signed body elsewhere), and
// the guard on every dial.
func newClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second, Control: guardControl(allowPrivate)}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends webhooks while this instance leads, until ctx ends; then it
// waits for the attempts in flight and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if w.leadership == nil {
		return w.lead(ctx)
	}
	return w.leadership.Lead(ctx, LeaderName, w.lead)
}

// inflight is what is being sent now: delivery ids, subjects (one attempt
// per subject at a time keeps their order) and FAILING integrations' probes.
// done remembers the deliveries recorded lately: a list of due deliveries
// read while one was in flight still shows it PENDING after it finished.
type inflight struct {
	mu   sync.Mutex
	keys map[string]bool
	done map[string]time.Time
}

// finish releases keys; recorded marks the delivery finished at now.
func (f *inflight) finish(deliveryID string, recorded bool, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		delete(f.keys, k)
	}
	if recorded {
		f.done[deliveryID] = time.Now()
	}
}

func (f *inflight) finished(deliveryID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.done[deliveryID]
	return ok
}

// forget drops what finished before a list read at readAt: that list, and
// every later one, already shows it.
func (f *inflight) forget(readAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, at := range f.done {
		if at.Before(readAt) {
			delete(f.done, id)
		}
	}
}

func (f *inflight) take(keys ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if f.keys[k] {
			return false
		}
	}
	for _, k := range keys {
		f.keys[k] = true
	}
	return true
}

func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.keys)
}

// lead is the active worker's loop: queue new events, start the due
// attempts there is room for, wait for a finished attempt or the poll.
func (w *Worker) lead(ctx context.Context) error {
	w.logger.Info("webhooks: delivering")
	busy := &inflight{keys: map[string]bool{}, done: map[string]time.Time{}}
	slots := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		w.queue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		readAt := time.Now()
		due, err := w.outbox.DueWebhooks(ctx, 2*w.opts.Concurrency+busy.len(), w.opts.PerIntegration)
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("webhooks: reading due deliveries failed", "err", err)
		}
	start:
		for _, d := range due {
			if busy.finished(d.DeliveryID) {
				continue
			}
			keys := []string{"delivery:" + d.DeliveryID, "subject:" + d.IntegrationID + ":" + d.SubjectKey}
			if d.IntegrationStatus == switchyard.IntegrationFailing {
				keys = append(keys, "probe:"+d.IntegrationID)
			}
			select {
			case slots <- struct{}{}:
			default:
				break start
			}
			if !busy.take(keys...) {
				<-slots
				continue
			}
			wg.Go(func() {
				recorded := false
				defer func() {
					busy.finish(d.DeliveryID, recorded, keys...)
					<-slots
					w.poke()
				}()
				recorded = w.attempt(ctx, d)
			})
		}
		busy.forget(readAt)
		t := time.NewTimer(w.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// queue takes the events committed since the last round.
func (w *Worker) queue(ctx context.Context) {
	for ctx.Err() == nil {
		n, queued, lost, err := w.outbox.QueueWebhooks(ctx, w.opts.BatchSize)
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("webhooks: queueing events failed", "err", err)
			}
			return
		}
		if lost > 0 {
			w.logger.Error("webhooks: events were pruned from the log before they were queued; they are not delivered", "events", lost)
		}
		if queued > 0 {
			w.logger.Debug("webhooks: queued", "events", n, "deliveries", queued)
		}
		if n < w.opts.BatchSize {
			return
		}
	}
}

// recordFailurePause is how long a delivery whose attempt could not be
// recorded waits before it is sent again.
const recordFailurePause = 5 * time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// outcome is one attempt's result before it is recorded.
type outcome struct {
	status     *int
	err        string
	retryable  bool
	retryAfter *time.Duration
}

// attempt sends d once and records the outcome, reporting whether it did.
// An attempt cut off by the worker's own shutdown is not recorded: it is not
// the endpoint's failure, and the next leader sends it again.
func (w *Worker) attempt(ctx context.Context, d *switchyard.OutboundWebhook) bool {
	started := time.Now()
	out := w.send(ctx, d)
	latency := time.Since(started)
	if ctx.Err() != nil && out.status == nil {
		return false
	}
	a := switchyard.OutboundAttempt{
		DeliveryID:     d.DeliveryID,
		Succeeded:      out.err == "",
		ResponseStatus: out.status,
		LatencyMs:      int(latency.Milliseconds()),
		Breaker:        switchyard.BreakerPolicy{FailureThreshold: w.opts.FailureThreshold, ProbeInterval: w.opts.ProbeInterval},
	}
	if !a.Succeeded {
		msg := out.err
		a.Error = &msg
		if out.retryable {
			a.RetryAt = w.retryAt(d, time.Now(), out.retryAfter)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	res, err := w.outbox.RecordWebhookAttempt(rctx, a)
	if err != nil {
		// The row stays PENDING and due: it is sent again, after a pause
		// that keeps a database in trouble from being hammered (the
		// delivery stays taken meanwhile).
		w.logger.Error("webhooks: recording an attempt failed", "delivery", d.DeliveryID, "err", err)
		sleepCtx(ctx, recordFailurePause)
		return false
	}
	log := w.logger.With("integration", d.IntegrationID, "delivery", d.DeliveryID, "event", d.EventID, "attempt", d.Attempt)
	switch {
	case res.Tripped:
		log.Warn("webhooks: integration is FAILING; deliveries wait behind the circuit breaker", "failures", res.ConsecutiveFailures, "err", out.err)
	case res.Recovered:
		log.Info("webhooks: integration recovered")
	case !a.Succeeded && a.RetryAt == nil:
		log.Warn("webhooks: delivery given up", "err", out.err)
	case !a.Succeeded:
		log.Debug("webhooks: attempt failed; retrying", "err", out.err, "at", a.RetryAt)
	}
	return true
}

// send makes one attempt.
func (w *Worker) send(ctx context.Context, d *switchyard.OutboundWebhook) outcome {
	if d.EndpointURL == "" {
		return outcome{err: "the integration no longer sends webhooks"}
	}
	secrets, err := w.secrets.SigningSecrets(ctx, d.IntegrationID)
	if err != nil || len(secrets) == 0 {
		if ctx.Err() == nil {
			w.logger.Error("webhooks: reading the signing secret failed", "integration", d.IntegrationID, "err", err)
		}
		return outcome{err: "the signing secret could not be read", retryable: true}
	}
	values := make([]string, 0, len(secrets))
	for _, s := range secrets {
		values = append(values, s.Value)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.EndpointURL, bytes.NewReader(d.Payload))
	if err != nil {
		return outcome{err: "the endpoint URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchyard-Webhooks/1")
	req.Header.Set(HeaderSignature, Sign(time.Now(), d.Payload, values...))
	req.Header.Set("X-Switchyard-Event", d.EventType)
	req.Header.Set("X-Switchyard-Event-Id", strconv.FormatInt(d.EventID, 10))
	req.Header.Set("X-Switchyard-Delivery", d.DeliveryID)
	req.Header.Set("X-Switchyard-Attempt", strconv.Itoa(d.Attempt))
	resp, err := w.client.Do(req)
	if err != nil {
		return outcome{err: describe(err, w.opts.Timeout), retryable: true}
	}
	// Drained a little so the connection can be reused; what the receiver
	// says is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	out := outcome{status: &code}
	if code >= 200 && code < 300 {
		return out
	}
	out.err = fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		out.retryable = true
		out.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	} else {
		out.err += " (not retried)"
	}
	return out
}

// describe says why a request failed, without the URL (which may carry the
// receiver's token) and without Go's wrapping.
func describe(err error, timeout time.Duration) string {
	var blocked *blockedAddressError
	if errors.As(err, &blocked) {
		return blocked.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within %v", timeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "the endpoint's host name does not resolve: " + dnsErr.Err
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return "network error: " + op.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return "network error: " + msg
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; nil when
// absent or unreadable.
func parseRetryAfter(v string, now time.Time) *time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return nil
		}
		d := time.Duration(min(n, int64(365*24*time.Hour/time.Second))) * time.Second
		return &d
	}
	if t, err := http.ParseTime(v); err == nil {
		d := max(t.Sub(now), 0)
		return &d
	}
	return nil
}

// retryAt is when the next attempt of d runs, nil to give up: Retry-After
// exactly when the endpoint asked for it, else exponential backoff with
// jitter; never past RetryLimit after the chain's first attempt.
func (w *Worker) retryAt(d *switchyard.OutboundWebhook, now time.Time, retryAfter *time.Duration) *time.Time {
	deadline := d.FirstAttemptAt.Add(w.opts.RetryLimit)
	if !now.Before(deadline) {
		return nil
	}
	if retryAfter != nil {
		t := now.Add(*retryAfter)
		if t.After(deadline) {
			return nil // retrying sooner would ignore the endpoint
		}
		return &t
	}
	t := now.Add(w.backoff(d.Attempt))
	if t.After(deadline) {
		t = deadline
	}
	return &t
}

// backoff is MinBackoff·2^(attempt-1), capped at MaxBackoff, less up to
// half at random, so endpoints recovering from an outage are not hit by
// every sender at once.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.opts.MinBackoff
	for i := 1; i < attempt && d < w.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}
