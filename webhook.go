package switchyard

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// Webhooks in and out. Inbound: a provider POSTs to /webhooks/{integrationId};
// the server hands the request to a WebhookReceiver (integrations/), which
// verifies the signature, stores the delivery through a WebhookInbox and
// moves orders through the OrderService like any other caller. Outbound: a
// worker (integrations/) follows the event log through a WebhookOutbox, which
// queues a delivery per subscribed integration, and sends them signed, with
// retries and a circuit breaker, one active worker per cluster (Leadership).

// NotificationIntegrationFailing tells an integration's owner that its
// outbound deliveries kept failing and it turned FAILING.
const NotificationIntegrationFailing = "INTEGRATION_FAILING"

// IsNotificationSubject: an INTEGRATION_FAILING notification is about an
// integration.
func (Integration) IsNotificationSubject() {}

// MaxWebhookBodyBytes bounds an inbound webhook's body; a larger one is
// refused with 413.
const MaxWebhookBodyBytes = 1 << 20

// InboundWebhook is one request to /webhooks/{integrationId}, as received.
type InboundWebhook struct {
	IntegrationID string
	// Header holds the request's headers under canonical keys (an
	// http.Header).
	Header map[string][]string
	// Body is the raw body, exactly as received: signatures cover its bytes.
	Body []byte
	// TooLarge says the body was over MaxWebhookBodyBytes; Body is then
	// empty.
	TooLarge bool
}

// WebhookOutcome is what became of a verified inbound webhook. Each answers
// the provider with a status chosen for its retries: a provider retries
// anything but 2xx, so what a retry cannot change is answered 2xx.
type WebhookOutcome string

const (
	// WebhookApplied: mapped and applied, or the order was already in the
	// state the event asks for. 200.
	WebhookApplied WebhookOutcome = "APPLIED"
	// WebhookDuplicate: the integration already has a delivery with this
	// provider event id; nothing changed. 200.
	WebhookDuplicate WebhookOutcome = "DUPLICATE"
	// WebhookIgnored: verified and stored, but of a type Switchyard does not
	// act on (or, for Stripe, naming no Switchyard order). 202.
	WebhookIgnored WebhookOutcome = "IGNORED"
	// WebhookNotApplied: mapped, but the change was refused for good: the
	// order lifecycle forbids the step (PAID on a DELIVERED order) or the
	// order does not exist in the integration's project. Stored as FAILED
	// with the reason for the owner to see, and answered 200, because the
	// provider's retries would be refused the same way for days and get the
	// endpoint disabled for a problem only a person can fix.
	WebhookNotApplied WebhookOutcome = "NOT_APPLIED"
	// WebhookInProgress: another request is applying the same provider event
	// right now. 409 with Retry-After, so a retry sees the final outcome.
	WebhookInProgress WebhookOutcome = "IN_PROGRESS"
	// WebhookPaused: the integration is PAUSED; nothing is stored or
	// applied. 503 with Retry-After, so the provider keeps the event and
	// delivers it once the integration is resumed.
	WebhookPaused WebhookOutcome = "PAUSED"
)

// WebhookReceipt is the answer to a verified inbound webhook.
type WebhookReceipt struct {
	Outcome WebhookOutcome
	// DeliveryID is the stored delivery ("" when PAUSED).
	DeliveryID string
	// EventID and EventType are the provider's.
	EventID   string
	EventType string
	// Message says what happened, for the provider's delivery log.
	Message string
}

// WebhookReceiver handles inbound webhooks.
type WebhookReceiver interface {
	// ReceiveWebhook verifies w by its integration's provider, stores it as a
	// delivery, and applies what it maps to.
	// Returns ENOTFOUND, alike for an integration that does not exist, was
	// deleted, or does not receive (OUTBOUND), so the answer tells nothing
	// about which; EUNAUTHENTICATED for a missing, malformed or wrong
	// signature or a timestamp outside the tolerance; EINVALID for a body too
	// large or not the JSON the provider sends. A refused request to a
	// receiving integration is stored as a REJECTED delivery and changes
	// nothing else.
	ReceiveWebhook(ctx context.Context, w InboundWebhook) (*WebhookReceipt, error)
}

// InboundClaim is a verified inbound delivery about to be applied.
type InboundClaim struct {
	IntegrationID   string
	ProviderEventID string
	EventType       string
	// Payload is the body, valid JSON.
	Payload json.RawMessage
}

// InboundResult is how a claimed inbound delivery ended.
type InboundResult struct {
	// Status is SUCCEEDED, IGNORED or FAILED.
	Status DeliveryStatus
	// ResponseStatus is the HTTP status the provider was answered. A FAILED
	// delivery answered 5xx was not final: the provider's retry takes it
	// over.
	ResponseStatus int
	LatencyMs      int
	Error          *string
}

// InboundClaimTimeout is how long a claimed inbound delivery may stay
// PENDING before a retry of the same event takes it over, taking its
// processor for dead.
const InboundClaimTimeout = 2 * time.Minute

// WebhookInbox stores inbound deliveries. It runs for providers, not for a
// person, so it takes no caller. Inbound deliveries are PENDING only while
// claimed and being applied.
type WebhookInbox interface {
	// RejectWebhook stores a request refused for its signature, timestamp or
	// body, answered responseStatus, as a REJECTED delivery. reason never
	// holds a secret.
	// Returns ENOTFOUND for an unknown integration.
	RejectWebhook(ctx context.Context, integrationID, reason string, responseStatus int) (*WebhookDelivery, error)

	// ClaimWebhook stores a verified delivery as PENDING and makes the caller
	// the one to apply it, so one provider event is applied once however
	// often, and however concurrently, it arrives. When the integration
	// already has a delivery of c.ProviderEventID, it returns that one and
	// claimed is false; except that a claim left PENDING for longer than
	// InboundClaimTimeout, or a FAILED delivery that was answered 5xx, is
	// taken over (its attempt grows) and claimed is true.
	// Returns ENOTFOUND for an unknown integration.
	ClaimWebhook(ctx context.Context, c InboundClaim) (d *WebhookDelivery, claimed bool, err error)

	// FinishWebhook records how a claimed delivery ended.
	// Returns ENOTFOUND when the delivery is gone (its integration deleted).
	FinishWebhook(ctx context.Context, deliveryID string, r InboundResult) error
}

// WebhookPayload is the body of every outbound webhook.
type WebhookPayload struct {
	// ID is the event's id; a redelivery carries the same one, so receivers
	// drop repeats by it.
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
}

// NewWebhookPayload is the outbound body for e.
func NewWebhookPayload(e *Event) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return json.Marshal(WebhookPayload{ID: strconv.FormatInt(e.ID, 10), Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Data: data})
}

// OutboundWebhook is a queued outbound delivery, due, as the worker sends it.
type OutboundWebhook struct {
	// DeliveryID is the PENDING attempt's row.
	DeliveryID    string
	IntegrationID string
	EventType     string
	// EventID is the events.id delivered.
	EventID int64
	// SubjectKey ("order:<id>") orders deliveries: a later event of the same
	// subject waits for the earlier ones.
	SubjectKey string
	Attempt    int
	Payload    json.RawMessage
	// FirstAttemptAt is when the chain of attempts began (the original
	// delivery or a redelivery); retries stop a limit after it.
	FirstAttemptAt time.Time
	// EndpointURL is where it goes; "" when the integration no longer sends.
	EndpointURL string
	// IntegrationStatus is ACTIVE, or FAILING when this one is a probe.
	IntegrationStatus IntegrationStatus
}

// BreakerPolicy is when the circuit breaker opens and how often it probes.
type BreakerPolicy struct {
	// FailureThreshold is the run of consecutive failed attempts that turns
	// an ACTIVE integration FAILING.
	FailureThreshold int
	// ProbeInterval is the wait before each probe while it is FAILING.
	ProbeInterval time.Duration
}

// OutboundAttempt is the outcome of one attempt.
type OutboundAttempt struct {
	DeliveryID string
	Succeeded  bool
	// ResponseStatus is nil when no response came (network error, timeout,
	// refused address).
	ResponseStatus *int
	LatencyMs      int
	// Error says why a failed attempt failed; it never holds a secret.
	Error *string
	// RetryAt queues the next attempt at that time; nil gives up (or, on
	// success, nothing to retry).
	RetryAt *time.Time
	Breaker BreakerPolicy
}

// OutboundAttemptResult is the integration's state after an attempt.
type OutboundAttemptResult struct {
	// Recorded is false when the delivery was no longer PENDING (another
	// worker recorded it, or the integration was deleted): nothing changed.
	Recorded            bool
	IntegrationStatus   IntegrationStatus
	ConsecutiveFailures int
	// Tripped: this failure turned the integration FAILING (its owner was
	// notified). Recovered: this success made a FAILING one ACTIVE.
	Tripped, Recovered bool
}

// WebhookOutbox is the durable state of outbound delivery: a cursor on the
// event log, the queue of deliveries, and each integration's circuit
// breaker. It runs for the worker, without a caller.
type WebhookOutbox interface {
	// QueueWebhooks takes up to limit events after the outbound cursor, in
	// Seq order, queues a PENDING delivery of each to every integration that
	// sends it (OUTBOUND or BIDIRECTIONAL, not PAUSED, of the event's project,
	// subscribed to its type, created before it), and moves the cursor past
	// them, in one transaction. It returns how many events it took and how
	// many deliveries it queued. A cursor older than the log keeps skips to
	// the oldest event kept and reports how many events were lost.
	QueueWebhooks(ctx context.Context, limit int) (events, queued int, lost int64, err error)

	// DueWebhooks returns up to limit PENDING outbound deliveries whose time
	// has come and that no earlier event of the same subject is still
	// pending for, ordered by due time, then event: at most perIntegration
	// of an ACTIVE integration, so one integration's backlog does not crowd
	// out the others, and one of a FAILING integration whose next probe is
	// due. PAUSED integrations' deliveries wait.
	DueWebhooks(ctx context.Context, limit, perIntegration int) ([]*OutboundWebhook, error)

	// RecordWebhookAttempt records an attempt on its PENDING row, queues the
	// retry it asks for as a new PENDING row (attempt + 1), and moves the
	// integration's circuit breaker: a success closes it and clears the
	// failure run; a failure extends the run, opens the breaker at
	// a.Breaker.FailureThreshold (status FAILING, a notification to the
	// owner) and, while open, schedules the next probe. All in one
	// transaction, with integration.updated when the status changes.
	RecordWebhookAttempt(ctx context.Context, a OutboundAttempt) (*OutboundAttemptResult, error)
}

// Leadership elects one instance of a cluster to run a job.
type Leadership interface {
	// Lead runs job whenever this instance leads name, cluster-wide: it waits
	// to be elected, runs job with a context that ends when the leadership is
	// lost, and contends again. It returns when ctx ends, after job returned.
	Lead(ctx context.Context, name string, job func(ctx context.Context) error) error
}
