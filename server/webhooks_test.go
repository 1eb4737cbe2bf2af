package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/integrations"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

// lateReceiver lets a test build the receiver over the env's database after
// the env (which builds the server) exists.
type lateReceiver struct{ r switchyard.WebhookReceiver }

func (l *lateReceiver) ReceiveWebhook(ctx context.Context, in switchyard.InboundWebhook) (*switchyard.WebhookReceipt, error) {
	return l.r.ReceiveWebhook(ctx, in)
}

// hookEnv is a server with /webhooks over the env's database.
type hookEnv struct {
	*env
	ints *postgres.IntegrationService
}

func withWebhooks(late *lateReceiver) envOption {
	return withDeps(func(d *server.Deps) { d.Webhooks = late })
}

func newHookEnv(t *testing.T, e *env, late *lateReceiver) *hookEnv {
	t.Helper()
	ints, err := postgres.NewIntegrationService(e.db, postgres.IntegrationOptions{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	late.r = integrations.NewReceiver(ints, postgres.NewWebhookStore(e.db), e.orders, integrations.ReceiverOptions{})
	return &hookEnv{env: e, ints: ints}
}

func userCtx(u *switchyard.User) context.Context {
	return switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: u.ID, Email: u.Email, Role: u.Role})
}

// integration creates one in p as its owner and returns it with its secret.
func (h *hookEnv) integration(owner *switchyard.User, p *switchyard.Project, provider switchyard.IntegrationProvider, dir switchyard.IntegrationDirection) (*switchyard.Integration, string) {
	h.t.Helper()
	in := switchyard.IntegrationCreate{ProjectID: p.ID, Name: string(provider) + " " + string(dir), Provider: provider, Direction: dir}
	if dir.Sends() {
		u := "https://hooks.example.com/switchyard"
		in.EndpointURL, in.EventTypes = &u, []string{switchyard.EventOrderStatusChanged}
	}
	created, err := h.ints.CreateIntegration(userCtx(owner), in)
	if err != nil {
		h.t.Fatalf("integration: %v", err)
	}
	return created.Integration, created.Secret
}

type hookResponse struct {
	Status     int
	Header     http.Header
	Outcome    string `json:"outcome"`
	DeliveryID string `json:"deliveryId"`
	Message    string `json:"message"`
	Errors     []gqlError
	Raw        string
}

func (h *hookEnv) deliver(integrationID string, body []byte, header http.Header) hookResponse {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/"+integrationID, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("POST /webhooks: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := hookResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out)
	return out
}

// signed returns the headers that sign body for provider with secret now.
func signed(provider switchyard.IntegrationProvider, secret string, body []byte) http.Header {
	h := http.Header{}
	switch provider {
	case switchyard.ProviderStripe:
		h.Set(integrations.HeaderStripeSignature, integrations.Sign(time.Now(), body, secret))
	case switchyard.ProviderShopify:
		h.Set(integrations.HeaderShopifyHmac, integrations.SignShopify(secret, body))
	default:
		h.Set(integrations.HeaderSignature, integrations.Sign(time.Now(), body, secret))
	}
	return h
}

func generic(id, typ string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "data": data})
	return b
}

// stripeEvent is an event as Stripe sends it, naming the order in the
// object's metadata.
func stripeEvent(id, typ, orderRef string) []byte {
	object := map[string]any{"id": "pi_123", "object": "payment_intent", "amount": 2510, "currency": "usd", "metadata": map[string]any{}}
	if orderRef != "" {
		object["metadata"] = map[string]any{"order_id": orderRef}
	}
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2024-06-20", "created": time.Now().Unix(), "type": typ,
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": object},
	})
	return b
}

func (h *hookEnv) order(id string) *switchyard.Order {
	h.t.Helper()
	o, err := h.orders.FindOrderByID(adminCtx(), id)
	if err != nil {
		h.t.Fatalf("order: %v", err)
	}
	return o
}

// history is an order's status history as "FROM>TO" steps.
func (h *hookEnv) history(id string) []string {
	h.t.Helper()
	m, err := h.orders.FindOrderHistory(adminCtx(), []string{id})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, c := range m[id] {
		from := ""
		if c.From != nil {
			from = string(*c.From)
		}
		out = append(out, from+">"+string(c.To))
	}
	return out
}

// inbound is a stored inbound delivery.
type inbound struct {
	Status, EventType string
	EventID           *string
	ResponseStatus    *int
	Error             *string
}

func (h *hookEnv) inbound(integrationID string) []inbound {
	h.t.Helper()
	rows, err := h.db.Pool().Query(context.Background(), `SELECT status, event_type, provider_event_id, response_status, error
		FROM webhook_deliveries WHERE integration_id = $1 AND direction = 'INBOUND' ORDER BY created_at, id`, integrationID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []inbound
	for rows.Next() {
		var d inbound
		if err := rows.Scan(&d.Status, &d.EventType, &d.EventID, &d.ResponseStatus, &d.Error); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestWebhooksInbound(t *testing.T) {
	t.Parallel()
	late := &lateReceiver{}
	h := newHookEnv(t, newEnv(t, withWebhooks(late)), late)
	w := h.world()
	gen, genSecret := h.integration(w.alice, w.p1, switchyard.ProviderGeneric, switchyard.DirectionInbound)
	stripe, stripeSecret := h.integration(w.alice, w.p1, switchyard.ProviderStripe, switchyard.DirectionInbound)
	shop, shopSecret := h.integration(w.alice, w.p1, switchyard.ProviderShopify, switchyard.DirectionInbound)
	n8n, n8nSecret := h.integration(w.alice, w.p1, switchyard.ProviderN8N, switchyard.DirectionBidirectional)

	t.Run("signatures", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		body := generic("evt-sig", "payment.completed", map[string]any{"orderId": o.ID})
		stale := http.Header{integrations.HeaderSignature: {integrations.Sign(time.Now().Add(-6*time.Minute), body, genSecret)}}
		future := http.Header{integrations.HeaderSignature: {integrations.Sign(time.Now().Add(6*time.Minute), body, genSecret)}}
		for name, c := range map[string]struct {
			body   []byte
			header http.Header
		}{
			"wrong secret":      {body, signed(switchyard.ProviderGeneric, "whsec_not_the_secret_000000", body)},
			"tampered body":     {bytes.Replace(body, []byte("evt-sig"), []byte("evt-sih"), 1), signed(switchyard.ProviderGeneric, genSecret, body)},
			"stale timestamp":   {body, stale},
			"future timestamp":  {body, future},
			"missing header":    {body, nil},
			"malformed header":  {body, http.Header{integrations.HeaderSignature: {"sha256=" + genSecret}}},
			"another's scheme":  {body, signed(switchyard.ProviderShopify, genSecret, body)},
			"another's secret":  {body, signed(switchyard.ProviderGeneric, n8nSecret, body)},
			"empty body signed": {[]byte{}, signed(switchyard.ProviderGeneric, genSecret, body)},
		} {
			r := h.deliver(gen.ID, c.body, c.header)
			if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || code(r.Errors[0]) != switchyard.EUNAUTHENTICATED {
				t.Fatalf("%s: want 401 UNAUTHENTICATED, got %d %s", name, r.Status, r.Raw)
			}
			if strings.Contains(r.Raw, genSecret) {
				t.Fatalf("%s: the answer holds the secret", name)
			}
		}
		if got := h.order(o.ID).Status; got != switchyard.OrderPending {
			t.Fatalf("a refused webhook changed the order: %s", got)
		}
		for _, d := range h.inbound(gen.ID) {
			if d.Status != "REJECTED" || d.ResponseStatus == nil || *d.ResponseStatus != 401 || d.Error == nil || d.EventID != nil {
				t.Fatalf("refused delivery stored as %+v", d)
			}
		}
		if n := len(h.inbound(gen.ID)); n != 9 {
			t.Fatalf("want 9 refused deliveries stored, got %d", n)
		}
		// A forged request cannot reserve the event id: the real one still
		// applies.
		if r := h.deliver(gen.ID, body, signed(switchyard.ProviderGeneric, genSecret, body)); r.Status != http.StatusOK || r.Outcome != "APPLIED" {
			t.Fatalf("valid: %d %s", r.Status, r.Raw)
		}
		if got := h.order(o.ID).Status; got != switchyard.OrderPaid {
			t.Fatalf("order is %s", got)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		rotated, err := h.ints.RotateIntegrationSecret(userCtx(w.alice), n8n.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, b := h.mustOrder(w.p1, w.dave), h.mustOrder(w.p1, w.dave)
		for _, c := range []struct {
			secret string
			o      *switchyard.Order
		}{{n8nSecret, a}, {rotated.Secret, b}} {
			body := generic("rot-"+c.o.ID, "payment.completed", map[string]any{"orderId": c.o.ID})
			if r := h.deliver(n8n.ID, body, signed(switchyard.ProviderN8N, c.secret, body)); r.Status != http.StatusOK || r.Outcome != "APPLIED" {
				t.Fatalf("during the grace period: %d %s", r.Status, r.Raw)
			}
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		body := generic("evt-once", "payment.completed", map[string]any{"orderId": o.ID})
		first := h.deliver(gen.ID, body, signed(switchyard.ProviderGeneric, genSecret, body))
		if first.Status != http.StatusOK || first.Outcome != "APPLIED" {
			t.Fatalf("first: %d %s", first.Status, first.Raw)
		}
		// The provider's retry: the same event, signed anew, even with a
		// different body, changes nothing.
		for _, again := range [][]byte{body, generic("evt-once", "order.refunded", map[string]any{"orderId": o.ID})} {
			r := h.deliver(gen.ID, again, signed(switchyard.ProviderGeneric, genSecret, again))
			if r.Status != http.StatusOK || r.Outcome != "DUPLICATE" || r.DeliveryID != first.DeliveryID {
				t.Fatalf("retry: %d %s", r.Status, r.Raw)
			}
		}
		if got := h.history(o.ID); strings.Join(got, ",") != ">PENDING,PENDING>PAID" {
			t.Fatalf("history: %v", got)
		}
	})

	t.Run("mappings", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		step := func(integ *switchyard.Integration, secret string, provider switchyard.IntegrationProvider, body []byte, extra http.Header, want switchyard.OrderStatus) {
			t.Helper()
			hdr := signed(provider, secret, body)
			for k, v := range extra {
				hdr[k] = v
			}
			r := h.deliver(integ.ID, body, hdr)
			if r.Status != http.StatusOK || r.Outcome != "APPLIED" {
				t.Fatalf("%s: %d %s", body, r.Status, r.Raw)
			}
			if got := h.order(o.ID).Status; got != want {
				t.Fatalf("%s: order is %s, want %s", body, got, want)
			}
		}
		step(gen, genSecret, switchyard.ProviderGeneric, generic("m1", "payment.completed", map[string]any{"orderId": o.ID}), nil, switchyard.OrderPaid)
		step(gen, genSecret, switchyard.ProviderGeneric, generic("m2", "order.shipped", map[string]any{
			"orderNumber": o.Number, "carrier": "DHL", "trackingNumber": "JD0123", "estimatedDelivery": "2030-05-01",
		}), nil, switchyard.OrderShipped)
		got := h.order(o.ID)
		if got.Shipment == nil || got.Shipment.Carrier != "DHL" || got.Shipment.TrackingNumber != "JD0123" ||
			got.Shipment.EstimatedDelivery == nil || got.Shipment.EstimatedDelivery.Format(time.DateOnly) != "2030-05-01" {
			t.Fatalf("shipment: %+v", got.Shipment)
		}
		// The SHIPPED event carries the shipment to subscribers and
		// outbound webhooks.
		var shipped json.RawMessage
		if err := h.db.Pool().QueryRow(context.Background(), `SELECT data FROM events WHERE type = 'order.status_changed' AND subject_id = $1
			AND data->>'status' = 'SHIPPED'`, o.ID).Scan(&shipped); err != nil || !strings.Contains(string(shipped), "JD0123") {
			t.Fatalf("SHIPPED event: %s %v", shipped, err)
		}
		step(shop, shopSecret, switchyard.ProviderShopify, generic("", "", map[string]any{"orderNumber": o.Number}),
			http.Header{integrations.HeaderShopifyTopic: {"order.delivered"}, integrations.HeaderShopifyWebhookID: {"shop-1"}}, switchyard.OrderDelivered)
		step(n8n, n8nSecret, switchyard.ProviderN8N, generic("m4", "order.refunded", map[string]any{"orderId": o.ID}), nil, switchyard.OrderRefunded)
		if got := h.history(o.ID); strings.Join(got, ",") != ">PENDING,PENDING>PAID,PAID>SHIPPED,SHIPPED>DELIVERED,DELIVERED>REFUNDED" {
			t.Fatalf("history: %v", got)
		}
		shopDeliveries := h.inbound(shop.ID)
		if len(shopDeliveries) != 1 || shopDeliveries[0].EventType != "order.delivered" || *shopDeliveries[0].EventID != "shop-1" || shopDeliveries[0].Status != "SUCCEEDED" {
			t.Fatalf("Shopify delivery: %+v", shopDeliveries)
		}
		// The change is the partner's, as the history and notifications
		// record it: no user acted, and the note names the webhook.
		m, _ := h.orders.FindOrderHistory(adminCtx(), []string{o.ID})
		last := m[o.ID][len(m[o.ID])-1]
		if last.ActorID != nil || last.Note == nil || !strings.Contains(*last.Note, "m4") {
			t.Fatalf("history entry: actor %v note %v", last.ActorID, last.Note)
		}

		// Shopify's own topics and webhook id, with Switchyard's data.
		o2 := h.mustOrder(w.p1, w.dave)
		step2 := generic("", "", map[string]any{"orderId": o2.ID})
		hdr := signed(switchyard.ProviderShopify, shopSecret, step2)
		hdr.Set(integrations.HeaderShopifyTopic, "orders/paid")
		hdr.Set(integrations.HeaderShopifyWebhookID, "shop-2")
		if r := h.deliver(shop.ID, step2, hdr); r.Status != http.StatusOK || h.order(o2.ID).Status != switchyard.OrderPaid {
			t.Fatalf("orders/paid: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("stripe", func(t *testing.T) {
		byID, byNumber := h.mustOrder(w.p1, w.dave), h.mustOrder(w.p1, w.dave)
		for _, c := range []struct {
			id, typ string
			o       *switchyard.Order
			ref     string
			want    switchyard.OrderStatus
		}{
			{"evt_1", "payment_intent.succeeded", byID, byID.ID, switchyard.OrderPaid},
			{"evt_2", "payment_intent.succeeded", byNumber, byNumber.Number, switchyard.OrderPaid},
			{"evt_3", "charge.refunded", byID, byID.Number, switchyard.OrderRefunded},
			{"evt_4", "charge.refunded", byNumber, byNumber.ID, switchyard.OrderRefunded},
		} {
			body := stripeEvent(c.id, c.typ, c.ref)
			r := h.deliver(stripe.ID, body, signed(switchyard.ProviderStripe, stripeSecret, body))
			if r.Status != http.StatusOK || r.Outcome != "APPLIED" {
				t.Fatalf("%s %s: %d %s", c.typ, c.ref, r.Status, r.Raw)
			}
			if got := h.order(c.o.ID).Status; got != c.want {
				t.Fatalf("%s %s: order is %s", c.typ, c.ref, got)
			}
		}
	})

	t.Run("unknown types", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		for _, c := range []struct {
			integ    *switchyard.Integration
			secret   string
			provider switchyard.IntegrationProvider
			body     []byte
		}{
			{gen, genSecret, switchyard.ProviderGeneric, generic("u1", "order.gift_wrapped", map[string]any{"orderId": o.ID})},
			{stripe, stripeSecret, switchyard.ProviderStripe, stripeEvent("evt_u2", "customer.created", o.ID)},
			// A payment that names no Switchyard order: Stripe accounts
			// serve more than Switchyard.
			{stripe, stripeSecret, switchyard.ProviderStripe, stripeEvent("evt_u3", "payment_intent.succeeded", "")},
		} {
			r := h.deliver(c.integ.ID, c.body, signed(c.provider, c.secret, c.body))
			if r.Status != http.StatusAccepted || r.Outcome != "IGNORED" || r.DeliveryID == "" {
				t.Fatalf("%s: %d %s", c.body, r.Status, r.Raw)
			}
		}
		if got := h.order(o.ID).Status; got != switchyard.OrderPending {
			t.Fatalf("an ignored event changed the order: %s", got)
		}
		var ignored int
		_ = h.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status = 'IGNORED' AND response_status = 202`).Scan(&ignored)
		if ignored != 3 {
			t.Fatalf("want 3 IGNORED deliveries, got %d", ignored)
		}
	})

	t.Run("refused by the lifecycle", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		for _, s := range []switchyard.OrderStatus{switchyard.OrderPaid, switchyard.OrderShipped, switchyard.OrderDelivered} {
			if _, err := h.orders.UpdateOrderStatus(adminCtx(), o.ID, s, nil); err != nil {
				t.Fatal(err)
			}
		}
		before := h.history(o.ID)
		for _, c := range []struct{ id, ref string }{{"late-pay", o.ID}, {"no-such-order", "SO-999999"}, {"other-project", w.o2.ID}} {
			body := generic(c.id, "payment.completed", map[string]any{"orderId": c.ref})
			r := h.deliver(gen.ID, body, signed(switchyard.ProviderGeneric, genSecret, body))
			// 200: the provider's retries would be refused the same way.
			if r.Status != http.StatusOK || r.Outcome != "NOT_APPLIED" || r.Message == "" {
				t.Fatalf("%s: %d %s", c.id, r.Status, r.Raw)
			}
		}
		if got := h.history(o.ID); strings.Join(got, ",") != strings.Join(before, ",") {
			t.Fatalf("history changed: %v", got)
		}
		if got := h.order(w.o2.ID).Status; got != switchyard.OrderPending {
			t.Fatalf("another project's order changed: %s", got)
		}
		var failed int
		_ = h.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries
			WHERE integration_id = $1 AND status = 'FAILED' AND response_status = 200 AND error IS NOT NULL
			  AND provider_event_id IN ('late-pay', 'no-such-order', 'other-project')`, gen.ID).Scan(&failed)
		if failed != 3 {
			t.Fatalf("want 3 FAILED deliveries with their reason, got %d", failed)
		}
		// The retry of a refused event is a duplicate, not a second refusal.
		body := generic("late-pay", "payment.completed", map[string]any{"orderId": o.ID})
		if r := h.deliver(gen.ID, body, signed(switchyard.ProviderGeneric, genSecret, body)); r.Status != http.StatusOK || r.Outcome != "DUPLICATE" {
			t.Fatalf("retry: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		o := h.mustOrder(w.p1, w.dave)
		huge := append(generic("big", "payment.completed", map[string]any{"orderId": o.ID}), bytes.Repeat([]byte(" "), switchyard.MaxWebhookBodyBytes)...)
		r := h.deliver(gen.ID, huge, signed(switchyard.ProviderGeneric, genSecret, huge))
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversize: %d %s", r.Status, r.Raw)
		}
		exact := append(generic("fits", "payment.completed", map[string]any{"orderId": o.ID}), ' ')
		exact = append(exact, bytes.Repeat([]byte(" "), switchyard.MaxWebhookBodyBytes-len(exact))...)
		if r := h.deliver(gen.ID, exact, signed(switchyard.ProviderGeneric, genSecret, exact)); r.Status != http.StatusOK {
			t.Fatalf("a body of exactly 1 MiB: %d %s", r.Status, r.Raw)
		}
		for name, body := range map[string][]byte{
			"malformed JSON":      []byte(`{"id": "x", "type": `),
			"not an object":       []byte(`["payment.completed"]`),
			"no id":               generic("", "payment.completed", map[string]any{"orderId": o.ID}),
			"no type":             generic("x1", "", nil),
			"no order":            generic("x2", "payment.completed", map[string]any{}),
			"wrong field type":    []byte(`{"id": 7, "type": "payment.completed"}`),
			"half a shipment":     generic("x3", "order.shipped", map[string]any{"orderId": o.ID, "carrier": "UPS"}),
			"bad delivery date":   generic("x4", "order.shipped", map[string]any{"orderId": o.ID, "carrier": "UPS", "trackingNumber": "1Z", "estimatedDelivery": "soon"}),
			"stripe not an event": []byte(`{"id": "evt_x", "type": "charge.refunded", "data": []}`),
		} {
			integ, secret, provider := gen, genSecret, switchyard.ProviderGeneric
			if strings.HasPrefix(name, "stripe") {
				integ, secret, provider = stripe, stripeSecret, switchyard.ProviderStripe
			}
			r := h.deliver(integ.ID, body, signed(provider, secret, body))
			if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || code(r.Errors[0]) != switchyard.EINVALID {
				t.Fatalf("%s: want 400, got %d %s", name, r.Status, r.Raw)
			}
		}
		if got := h.order(o.ID).Status; got != switchyard.OrderPaid {
			t.Fatalf("order is %s; only the 1 MiB body should have applied", got)
		}
		var rejected400, rejected413 int
		_ = h.db.Pool().QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE response_status = 400), count(*) FILTER (WHERE response_status = 413)
			FROM webhook_deliveries WHERE status = 'REJECTED'`).Scan(&rejected400, &rejected413)
		if rejected400 != 9 || rejected413 != 1 {
			t.Fatalf("stored refusals: %d 400s and %d 413s", rejected400, rejected413)
		}
	})

	t.Run("no endpoint", func(t *testing.T) {
		out, outSecret := h.integration(w.alice, w.p1, switchyard.ProviderGeneric, switchyard.DirectionOutbound)
		gone, goneSecret := h.integration(w.alice, w.p1, switchyard.ProviderGeneric, switchyard.DirectionInbound)
		if _, err := h.ints.DeleteIntegration(userCtx(w.alice), gone.ID); err != nil {
			t.Fatal(err)
		}
		body := generic("ne", "payment.completed", map[string]any{"orderId": w.o1.ID})
		var bodies []string
		for name, c := range map[string]struct{ id, secret string }{
			"unknown":           {"7a0c8a43-8c5f-4b7e-9a51-3f1f1f0d1b2c", genSecret},
			"not an id":         {"stripe", genSecret},
			"outbound only":     {out.ID, outSecret},
			"deleted":           {gone.ID, goneSecret},
			"unknown, unsigned": {"7a0c8a43-8c5f-4b7e-9a51-3f1f1f0d1b2c", ""},
		} {
			hdr := signed(switchyard.ProviderGeneric, c.secret, body)
			r := h.deliver(c.id, body, hdr)
			if r.Status != http.StatusNotFound {
				t.Fatalf("%s: want 404, got %d %s", name, r.Status, r.Raw)
			}
			bodies = append(bodies, r.Raw)
		}
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Fatalf("404s differ, which tells one case from another: %q vs %q", b, bodies[0])
			}
		}
		if got := h.order(w.o1.ID).Status; got != switchyard.OrderPending {
			t.Fatalf("order changed: %s", got)
		}
		if n := len(h.inbound(out.ID)); n != 0 {
			t.Fatalf("an OUTBOUND integration stored %d inbound deliveries", n)
		}
		resp, err := http.Get(h.url + "/webhooks/" + gen.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("paused", func(t *testing.T) {
		p, secret := h.integration(w.alice, w.p1, switchyard.ProviderGeneric, switchyard.DirectionInbound)
		if _, err := h.ints.PauseIntegration(userCtx(w.alice), p.ID); err != nil {
			t.Fatal(err)
		}
		o := h.mustOrder(w.p1, w.dave)
		body := generic("while-paused", "payment.completed", map[string]any{"orderId": o.ID})
		r := h.deliver(p.ID, body, signed(switchyard.ProviderGeneric, secret, body))
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.Outcome != "PAUSED" {
			t.Fatalf("paused: %d %s", r.Status, r.Raw)
		}
		if _, err := h.ints.ResumeIntegration(userCtx(w.alice), p.ID); err != nil {
			t.Fatal(err)
		}
		// The provider's retry after the resume applies it.
		if r := h.deliver(p.ID, body, signed(switchyard.ProviderGeneric, secret, body)); r.Status != http.StatusOK || h.order(o.ID).Status != switchyard.OrderPaid {
			t.Fatalf("after resume: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("health", func(t *testing.T) {
		hl, err := h.ints.IntegrationHealth(userCtx(w.alice), []string{gen.ID})
		if err != nil {
			t.Fatal(err)
		}
		g := hl[gen.ID]
		if g == nil || g.LastDeliveryAt == nil || g.SuccessRate24h == nil || *g.SuccessRate24h <= 0 || *g.SuccessRate24h >= 1 {
			t.Fatalf("health: %+v", g)
		}
	})
}

// A status change an inbound webhook makes reaches subscribers live, like
// any other.
func TestWebhookLive(t *testing.T) {
	t.Parallel()
	late := &lateReceiver{}
	e := newRealtimeEnv(t, "memory", withWebhooks(late))
	h := newHookEnv(t, e.env, late)
	w := h.world()
	stripe, secret := h.integration(w.alice, w.p1, switchyard.ProviderStripe, switchyard.DirectionInbound)
	after := e.settle()
	sub := subscribeOn(t, e.env, "graphql-transport-ws", e.token(w.alice), orderEventsQuery, map[string]any{"p": w.p1.ID, "after": after}, nil)
	defer sub.close()

	body := stripeEvent("evt_live", "payment_intent.succeeded", w.o1.Number)
	if r := h.deliver(stripe.ID, body, signed(switchyard.ProviderStripe, secret, body)); r.Status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.Status, r.Raw)
	}
	raw, _ := sub.next()
	ev := decodePayload[orderEventPayload](t, raw).event()
	if ev == nil || ev.Type != "STATUS_CHANGED" || ev.Order.ID != w.o1.ID || ev.Order.Status != "PAID" || ev.PreviousStatus == nil || *ev.PreviousStatus != "PENDING" {
		t.Fatalf("live event: %s", raw)
	}
	if n := len(ev.Order.History); n != 2 {
		t.Fatalf("history in the event: %s", fmt.Sprint(ev.Order.History))
	}
}

// The owner's INTEGRATION_FAILING notification reads through GraphQL, its
// subject the integration.
func TestIntegrationFailingNotification(t *testing.T) {
	t.Parallel()
	dsn := postgrestest.NewDatabaseURL(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	ints, err := postgres.NewIntegrationService(db, postgres.IntegrationOptions{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withDSN(dsn), withResolver(func(r *resolvers.Resolver) {
		r.Integrations = ints
		r.Notifications = postgres.NewNotificationService(db)
	}))
	w := e.world()
	h := &hookEnv{env: e, ints: ints}
	i, _ := h.integration(w.alice, w.p1, switchyard.ProviderGeneric, switchyard.DirectionOutbound)
	var delivery string
	if err := db.Pool().QueryRow(context.Background(), `INSERT INTO webhook_deliveries (integration_id, direction, event_type, status, payload, next_attempt_at)
		VALUES ($1, 'OUTBOUND', 'order.status_changed', 'PENDING', '{}', now()) RETURNING id::text`, i.ID).Scan(&delivery); err != nil {
		t.Fatal(err)
	}
	why := "HTTP 503 Service Unavailable"
	res, err := postgres.NewWebhookStore(db).RecordWebhookAttempt(context.Background(), switchyard.OutboundAttempt{
		DeliveryID: delivery, Error: &why, Breaker: switchyard.BreakerPolicy{FailureThreshold: 1, ProbeInterval: time.Minute},
	})
	if err != nil || !res.Tripped {
		t.Fatalf("attempt: %+v %v", res, err)
	}
	r := e.gql(e.token(w.alice), `{ notifications(first: 5) { edges { node { kind title body subject { __typename ... on Integration { id status health { consecutiveFailures } } } } } } }`, nil)
	var got struct {
		Notifications struct {
			Edges []struct {
				Node struct {
					Kind, Title, Body string
					Subject           struct {
						Typename string `json:"__typename"`
						ID       string
						Status   string
						Health   struct{ ConsecutiveFailures int }
					}
				}
			}
		}
	}
	r.decode(t, &got)
	for _, edge := range got.Notifications.Edges {
		n := edge.Node
		if n.Kind != switchyard.NotificationIntegrationFailing {
			continue
		}
		if n.Subject.Typename != "Integration" || n.Subject.ID != i.ID || n.Subject.Status != "FAILING" || n.Subject.Health.ConsecutiveFailures != 1 || !strings.Contains(n.Body, why) {
			t.Fatalf("notification: %+v", n)
		}
		return
	}
	t.Fatalf("no INTEGRATION_FAILING notification: %s", r.Raw)
}
