package integrations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard"
)

// Connector mapping: what an inbound webhook asks of Switchyard.
//
// Stripe events arrive as Stripe sends them; the order is named by
// data.object.metadata.order_id (an order's id or its number):
//
//	payment_intent.succeeded → PAID
//	charge.refunded          → REFUNDED
//
// Every other provider sends Switchyard's own format,
//
//	{"id": "<provider event id>", "type": "<type>",
//	 "data": {"orderId" | "orderNumber", "carrier", "trackingNumber", "estimatedDelivery"}}
//
// with these types:
//
//	payment.completed → PAID
//	order.shipped     → SHIPPED, and the shipment when carrier and trackingNumber are given
//	order.delivered   → DELIVERED
//	order.refunded    → REFUNDED
//
// Shopify's X-Shopify-Webhook-Id and X-Shopify-Topic headers, where present,
// give the id and the type instead of the body, and Shopify's own topics
// orders/paid, orders/fulfilled (or fulfillments/create) and refunds/create
// stand for payment.completed, order.shipped and order.refunded.
//
// A type not listed is stored and ignored (202). A provider's own event type
// (Stripe's, a Shopify topic) that names no order is ignored too: the
// provider's account may serve more than Switchyard. Switchyard's own types
// must name the order; one that does not is malformed (400).

// Switchyard's inbound event types.
const (
	InboundPaymentCompleted = "payment.completed"
	InboundOrderShipped     = "order.shipped"
	InboundOrderDelivered   = "order.delivered"
	InboundOrderRefunded    = "order.refunded"
)

var inboundTargets = map[string]switchyard.OrderStatus{
	InboundPaymentCompleted: switchyard.OrderPaid,
	InboundOrderShipped:     switchyard.OrderShipped,
	InboundOrderDelivered:   switchyard.OrderDelivered,
	InboundOrderRefunded:    switchyard.OrderRefunded,
}

var stripeTargets = map[string]switchyard.OrderStatus{
	"payment_intent.succeeded": switchyard.OrderPaid,
	"charge.refunded":          switchyard.OrderRefunded,
}

var shopifyTopics = map[string]string{
	"orders/paid":         InboundPaymentCompleted,
	"orders/fulfilled":    InboundOrderShipped,
	"fulfillments/create": InboundOrderShipped,
	"refunds/create":      InboundOrderRefunded,
}

// maxEventField bounds a provider's event id and type.
const maxEventField = 255

// inboundEvent is a verified webhook, read.
type inboundEvent struct {
	ID   string
	Type string
	// Target is the status it moves the order to; "" for a type not mapped.
	Target switchyard.OrderStatus
	// OrderRef is the order's id or number; "" when the event names none.
	OrderRef string
	// Shipment comes with order.shipped when carrier and tracking are given.
	Shipment *switchyard.Shipment
	// Ignore says why a mapped type is not acted on.
	Ignore string
}

func malformed(format string, args ...any) error {
	return switchyard.InvalidField("body", format, args...)
}

// parseEvent reads body by the provider's format. header gives the
// request's headers.
func parseEvent(p switchyard.IntegrationProvider, header func(string) string, body []byte) (*inboundEvent, error) {
	if !json.Valid(body) {
		return nil, malformed("the body is not valid JSON")
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, malformed("the body must be a JSON object")
	}
	var ev *inboundEvent
	var err error
	if p == switchyard.ProviderStripe {
		ev, err = parseStripe(body)
	} else {
		ev, err = parseSwitchyard(p, header, body)
	}
	if err != nil {
		return nil, err
	}
	if ev.ID == "" {
		return nil, malformed("the event has no id; it is what makes a provider's retry harmless")
	}
	if len(ev.ID) > maxEventField || !utf8.ValidString(ev.ID) {
		return nil, malformed("the event id must be at most %d characters", maxEventField)
	}
	if ev.Type == "" {
		return nil, malformed("the event has no type")
	}
	if len(ev.Type) > maxEventField || !utf8.ValidString(ev.Type) {
		return nil, malformed("the event type must be at most %d characters", maxEventField)
	}
	return ev, nil
}

func parseStripe(body []byte) (*inboundEvent, error) {
	var raw struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object struct {
				Metadata map[string]any `json:"metadata"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, malformed("not a Stripe event: %s", jsonProblem(err))
	}
	ev := &inboundEvent{ID: raw.ID, Type: raw.Type, Target: stripeTargets[raw.Type]}
	if ev.Target == "" {
		return ev, nil
	}
	// Stripe metadata values are strings.
	if ref, ok := raw.Data.Object.Metadata["order_id"].(string); ok {
		ev.OrderRef = strings.TrimSpace(ref)
	}
	if ev.OrderRef == "" {
		ev.Ignore = "the event names no Switchyard order (data.object.metadata.order_id)"
	}
	return ev, nil
}

func parseSwitchyard(p switchyard.IntegrationProvider, header func(string) string, body []byte) (*inboundEvent, error) {
	var raw struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data *struct {
			OrderID           string  `json:"orderId"`
			OrderNumber       string  `json:"orderNumber"`
			Carrier           string  `json:"carrier"`
			TrackingNumber    string  `json:"trackingNumber"`
			EstimatedDelivery *string `json:"estimatedDelivery"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, malformed("not a webhook event: %s", jsonProblem(err))
	}
	ev := &inboundEvent{ID: strings.TrimSpace(raw.ID), Type: strings.TrimSpace(raw.Type)}
	native := false
	if p == switchyard.ProviderShopify {
		if id := strings.TrimSpace(header(HeaderShopifyWebhookID)); id != "" {
			ev.ID = id
		}
		if topic := strings.TrimSpace(header(HeaderShopifyTopic)); topic != "" {
			ev.Type = topic
		}
	}
	typ := ev.Type
	if alias, ok := shopifyTopics[typ]; ok && p == switchyard.ProviderShopify {
		typ, native = alias, true
	}
	ev.Target = inboundTargets[typ]
	if ev.Target == "" {
		return ev, nil
	}
	if raw.Data != nil {
		ev.OrderRef = strings.TrimSpace(raw.Data.OrderID)
		if ev.OrderRef == "" {
			ev.OrderRef = strings.TrimSpace(raw.Data.OrderNumber)
		}
	}
	if ev.OrderRef == "" {
		if native {
			ev.Ignore = "the event names no Switchyard order (data.orderId or data.orderNumber)"
			return ev, nil
		}
		return nil, malformed("a %s event names its order in data.orderId or data.orderNumber", ev.Type)
	}
	if typ != InboundOrderShipped || raw.Data == nil {
		return ev, nil
	}
	d := raw.Data
	carrier, tracking := strings.TrimSpace(d.Carrier), strings.TrimSpace(d.TrackingNumber)
	if carrier == "" && tracking == "" {
		return ev, nil
	}
	if carrier == "" || tracking == "" {
		return nil, malformed("an %s event gives both data.carrier and data.trackingNumber, or neither", ev.Type)
	}
	s := &switchyard.Shipment{Carrier: carrier, TrackingNumber: tracking}
	if d.EstimatedDelivery != nil && strings.TrimSpace(*d.EstimatedDelivery) != "" {
		t, err := parseDate(strings.TrimSpace(*d.EstimatedDelivery))
		if err != nil {
			return nil, malformed("data.estimatedDelivery: want a date like 2025-01-31 or a time like 2025-01-31T17:00:00Z")
		}
		s.EstimatedDelivery = &t
	}
	if err := s.Validate(); err != nil {
		return nil, malformed("data: %s", switchyard.ErrorMessage(err))
	}
	ev.Shipment = s
	return ev, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// jsonProblem names a JSON decoding problem without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s must be a %s", te.Field, expectedKind(te.Type.Kind().String()))
	}
	return "unexpected shape"
}

func expectedKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "map", "struct", "ptr":
		return "JSON object"
	}
	return k
}
