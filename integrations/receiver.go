package integrations

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/switchyard/switchyard"
)

// Receiver implements switchyard.WebhookReceiver: it verifies an inbound
// webhook by its integration's provider, stores the delivery, and moves the
// order it names through the OrderService, as the integration's partner with
// ORDERS_WRITE on its project. The change is an ordinary one: the lifecycle
// applies, history and notifications are written, and its events reach
// subscribers live.
type Receiver struct {
	secrets switchyard.IntegrationSecrets
	inbox   switchyard.WebhookInbox
	orders  switchyard.OrderService
	now     func() time.Time
	logger  *slog.Logger
}

var _ switchyard.WebhookReceiver = (*Receiver)(nil)

// ReceiverOptions configure NewReceiver; zero values take the defaults.
type ReceiverOptions struct {
	// Now is the clock signatures' timestamps are checked against; default
	// time.Now.
	Now func() time.Time
	// Logger receives refused and failed deliveries; nil discards.
	Logger *slog.Logger
}

// NewReceiver returns the inbound webhook receiver.
func NewReceiver(secrets switchyard.IntegrationSecrets, inbox switchyard.WebhookInbox, orders switchyard.OrderService, opts ReceiverOptions) *Receiver {
	r := &Receiver{secrets: secrets, inbox: inbox, orders: orders, now: opts.Now, logger: opts.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r.logger = r.logger.With("component", "webhooks-in")
	return r
}

// errNoEndpoint is every "not here" alike: no integration, a deleted one, or
// one that does not receive.
var errNoEndpoint = switchyard.Errorf(switchyard.ENOTFOUND, "no webhook endpoint here")

// ReceiveWebhook verifies, stores and applies one inbound webhook. The
// checks run cheapest and least revealing first: existence, size,
// signature, then the body, which is never read before it is verified.
func (r *Receiver) ReceiveWebhook(ctx context.Context, in switchyard.InboundWebhook) (*switchyard.WebhookReceipt, error) {
	started := time.Now()
	i, err := r.secrets.LookupIntegration(ctx, in.IntegrationID)
	if switchyard.ErrorCode(err) == switchyard.ENOTFOUND || (err == nil && !i.Direction.Receives()) {
		return nil, errNoEndpoint
	}
	if err != nil {
		return nil, err
	}
	if i.Status == switchyard.IntegrationPaused {
		return &switchyard.WebhookReceipt{Outcome: switchyard.WebhookPaused, Message: "the integration is paused; deliver the event again later"}, nil
	}
	if in.TooLarge {
		return nil, r.reject(ctx, i, http.StatusRequestEntityTooLarge,
			malformed("the body is over %d bytes", switchyard.MaxWebhookBodyBytes))
	}
	secrets, err := r.secrets.SigningSecrets(ctx, i.ID)
	if err != nil {
		if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
			return nil, errNoEndpoint
		}
		return nil, err
	}
	header := http.Header(in.Header).Get
	if err := verify(i.Provider, header, in.Body, secrets, r.now()); err != nil {
		return nil, r.reject(ctx, i, http.StatusUnauthorized, err)
	}
	ev, err := parseEvent(i.Provider, header, in.Body)
	if err != nil {
		return nil, r.reject(ctx, i, http.StatusBadRequest, err)
	}

	d, claimed, err := r.inbox.ClaimWebhook(ctx, switchyard.InboundClaim{
		IntegrationID: i.ID, ProviderEventID: ev.ID, EventType: ev.Type, Payload: in.Body,
	})
	if err != nil {
		if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
			return nil, errNoEndpoint // deleted meanwhile
		}
		return nil, err
	}
	receipt := &switchyard.WebhookReceipt{DeliveryID: d.ID, EventID: ev.ID, EventType: ev.Type}
	if !claimed {
		if d.Status == switchyard.DeliveryPending {
			receipt.Outcome, receipt.Message = switchyard.WebhookInProgress, "this event is being applied now; retry to learn the outcome"
		} else {
			receipt.Outcome, receipt.Message = switchyard.WebhookDuplicate, fmt.Sprintf("event already received (%s); nothing changed", d.Status)
		}
		return receipt, nil
	}

	result := switchyard.InboundResult{}
	var applyErr error
	switch {
	case ev.Target == "":
		receipt.Outcome, receipt.Message = switchyard.WebhookIgnored, fmt.Sprintf("stored; Switchyard does not act on %s events", ev.Type)
		result.Status, result.ResponseStatus = switchyard.DeliveryIgnored, http.StatusAccepted
	case ev.Ignore != "":
		receipt.Outcome, receipt.Message = switchyard.WebhookIgnored, "stored; "+ev.Ignore
		result.Status, result.ResponseStatus = switchyard.DeliveryIgnored, http.StatusAccepted
	default:
		receipt.Outcome, receipt.Message, applyErr = r.apply(ctx, i, ev)
		switch {
		case applyErr != nil:
			result.Status, result.ResponseStatus = switchyard.DeliveryFailed, http.StatusInternalServerError
			msg := "internal error; the provider's retry will apply it"
			result.Error = &msg
		case receipt.Outcome == switchyard.WebhookNotApplied:
			result.Status, result.ResponseStatus = switchyard.DeliveryFailed, http.StatusOK
			result.Error = &receipt.Message
		default:
			result.Status, result.ResponseStatus = switchyard.DeliverySucceeded, http.StatusOK
		}
	}
	result.LatencyMs = int(time.Since(started).Milliseconds())
	// The outcome is recorded even when the request's context ended: the
	// change, if any, is committed already.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.inbox.FinishWebhook(fctx, d.ID, result); err != nil && switchyard.ErrorCode(err) != switchyard.ENOTFOUND {
		// The claim stays PENDING; a retry takes it over after
		// InboundClaimTimeout.
		r.logger.Error("webhooks: recording an inbound delivery failed", "delivery", d.ID, "err", err)
		if applyErr == nil {
			applyErr = err
		}
	}
	if applyErr != nil {
		return nil, applyErr
	}
	return receipt, nil
}

// reject stores a refused request and returns why it was refused.
func (r *Receiver) reject(ctx context.Context, i *switchyard.Integration, status int, why error) error {
	if _, err := r.inbox.RejectWebhook(ctx, i.ID, switchyard.ErrorMessage(why), status); err != nil && switchyard.ErrorCode(err) != switchyard.ENOTFOUND {
		// Losing the record of a refused request must not turn the refusal
		// into a 500 the provider would retry.
		r.logger.Warn("webhooks: recording a refused delivery failed", "integration", i.ID, "err", err)
	}
	r.logger.Info("webhooks: refused", "integration", i.ID, "status", status, "reason", switchyard.ErrorMessage(why))
	return why
}

var uuidShape = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// partner is the caller a webhook acts as: the integration's partner, with
// ORDERS_WRITE on its project only.
func partner(i *switchyard.Integration) *switchyard.Caller {
	return &switchyard.Caller{Partner: &switchyard.PartnerCaller{
		IntegrationID: i.ID,
		ProjectID:     i.ProjectID,
		Scopes:        []switchyard.APIKeyScope{switchyard.ScopeOrdersWrite},
	}}
}

// apply moves the order. What the lifecycle or the project refuses is
// NOT_APPLIED with the reason; err is for failures a retry may fix.
func (r *Receiver) apply(ctx context.Context, i *switchyard.Integration, ev *inboundEvent) (switchyard.WebhookOutcome, string, error) {
	ctx = switchyard.NewContextWithCaller(ctx, partner(i))
	var (
		o   *switchyard.Order
		err error
	)
	if uuidShape.MatchString(ev.OrderRef) {
		o, err = r.orders.FindOrderByID(ctx, ev.OrderRef)
	} else {
		o, err = r.orders.FindOrderByNumber(ctx, ev.OrderRef)
	}
	if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
		return switchyard.WebhookNotApplied, fmt.Sprintf("no order %q in the integration's project", ev.OrderRef), nil
	}
	if err != nil {
		return "", "", err
	}
	if o.Status == ev.Target {
		if ev.Shipment != nil && !sameShipment(o.Shipment, ev.Shipment) {
			if _, err := r.orders.SetOrderShipment(ctx, o.ID, *ev.Shipment); err != nil {
				return refused(err, "")
			}
			return switchyard.WebhookApplied, fmt.Sprintf("order %s was already %s; its shipment was updated", o.Number, o.Status), nil
		}
		return switchyard.WebhookApplied, fmt.Sprintf("order %s was already %s; nothing changed", o.Number, o.Status), nil
	}
	if err := switchyard.ValidateTransition("status", o.Status, ev.Target); err != nil {
		return switchyard.WebhookNotApplied, fmt.Sprintf("order %s: %s", o.Number, switchyard.ErrorMessage(err)), nil
	}
	// The shipment first, so the SHIPPED status change carries it to
	// subscribers and outbound webhooks.
	if ev.Shipment != nil {
		if _, err := r.orders.SetOrderShipment(ctx, o.ID, *ev.Shipment); err != nil {
			return refused(err, o.Number)
		}
	}
	note := fmt.Sprintf("%s webhook %s (%s)", i.Name, ev.Type, ev.ID)
	if _, err := r.orders.UpdateOrderStatus(ctx, o.ID, ev.Target, &note); err != nil {
		return refused(err, o.Number)
	}
	return switchyard.WebhookApplied, fmt.Sprintf("order %s is now %s", o.Number, ev.Target), nil
}

// refused sorts a service error: the caller's kind (the lifecycle, a gone
// order, missing rights) is final; anything else may pass on retry.
func refused(err error, number string) (switchyard.WebhookOutcome, string, error) {
	switch switchyard.ErrorCode(err) {
	case switchyard.EINVALID, switchyard.ENOTFOUND, switchyard.EFORBIDDEN:
		msg := switchyard.ErrorMessage(err)
		if number != "" {
			msg = "order " + number + ": " + msg
		}
		return switchyard.WebhookNotApplied, msg, nil
	}
	return "", "", err
}

func sameShipment(a, b *switchyard.Shipment) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Carrier != b.Carrier || a.TrackingNumber != b.TrackingNumber {
		return false
	}
	if a.EstimatedDelivery == nil || b.EstimatedDelivery == nil {
		return a.EstimatedDelivery == b.EstimatedDelivery
	}
	return a.EstimatedDelivery.Equal(*b.EstimatedDelivery)
}
