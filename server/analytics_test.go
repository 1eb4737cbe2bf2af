package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/resolvers"
)

// newAnalyticsEnv is an env whose resolver answers Query.analytics.
func newAnalyticsEnv(t *testing.T) *env {
	t.Helper()
	dsn := postgrestest.NewDatabaseURL(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return newEnv(t, withDSN(dsn), withResolver(func(r *resolvers.Resolver) {
		r.Analytics = postgres.NewAnalyticsService(db)
	}))
}

const analyticsQuery = `query($p: ID, $from: DateTime!, $to: DateTime!, $g: Granularity, $tz: String) {
	analytics(projectId: $p, range: {from: $from, to: $to}, granularity: $g, timeZone: $tz) {
		from to granularity timeZone orderCount revenueOrderCount
		revenue { amount currency } averageOrderValue { amount currency }
		ordersByStatus { status count }
		series { start end orderCount revenue { amount currency } }
		topCustomers { customerId customer { name } orderCount revenue { amount currency } }
	}
}`

func TestAnalyticsQuery(t *testing.T) {
	t.Parallel()
	e := newAnalyticsEnv(t)
	w := e.world()
	ctx := adminCtx()
	// Three more orders in P1: Dave's second (EUR, paid), Bob's (USD,
	// cancelled); o1 becomes PAID. Then the orders are moved to fixed
	// instants, which the rollups follow like any other change.
	o3, err := e.orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: w.p1.ID, CustomerID: &w.dave.ID, Currency: "EUR",
		Items: []switchyard.OrderItemInput{{SKU: "E", Name: "Euro thing", Quantity: 3, UnitPrice: "3.33"}}})
	if err != nil {
		t.Fatal(err)
	}
	o4 := e.mustOrder(w.p1, w.bob)
	for _, step := range []struct {
		id string
		to switchyard.OrderStatus
	}{{w.o1.ID, switchyard.OrderPaid}, {o3.ID, switchyard.OrderPaid}, {o4.ID, switchyard.OrderCancelled}} {
		if _, err := e.orders.UpdateOrderStatus(ctx, step.id, step.to, nil); err != nil {
			t.Fatal(err)
		}
	}
	for id, at := range map[string]string{
		w.o1.ID: "2026-03-28T23:30:00Z", // 00:30 on the 29th in Berlin
		o3.ID:   "2026-03-29T12:00:00Z",
		o4.ID:   "2026-03-27T08:00:00Z",
		w.o2.ID: "2026-03-29T12:00:00Z", // P2
	} {
		if _, err := e.db.Pool().Exec(context.Background(), `UPDATE orders SET created_at = $2 WHERE id = $1`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob, carol, dave, admin := e.token(w.alice), e.token(w.bob), e.token(w.carol), e.token(w.dave), e.token(w.admin)
	vars := func(project any, tz string) map[string]any {
		return map[string]any{"p": project, "from": "2026-03-27T00:00:00+01:00", "to": "2026-03-30T00:00:00+02:00", "g": "DAY", "tz": tz}
	}

	p1Berlin := `{"analytics":{"from":"2026-03-27T00:00:00+01:00","to":"2026-03-30T00:00:00+02:00","granularity":"DAY","timeZone":"Europe/Berlin",
		"orderCount":3,"revenueOrderCount":2,
		"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}],
		"averageOrderValue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}],
		"ordersByStatus":[{"status":"PENDING","count":0},{"status":"PAID","count":2},{"status":"FULFILLED","count":0},{"status":"SHIPPED","count":0},
			{"status":"DELIVERED","count":0},{"status":"CANCELLED","count":1},{"status":"REFUNDED","count":0}],
		"series":[
			{"start":"2026-03-27T00:00:00+01:00","end":"2026-03-28T00:00:00+01:00","orderCount":1,"revenue":[{"amount":"0.00","currency":"EUR"},{"amount":"0.00","currency":"USD"}]},
			{"start":"2026-03-28T00:00:00+01:00","end":"2026-03-29T00:00:00+01:00","orderCount":0,"revenue":[{"amount":"0.00","currency":"EUR"},{"amount":"0.00","currency":"USD"}]},
			{"start":"2026-03-29T00:00:00+01:00","end":"2026-03-30T00:00:00+02:00","orderCount":2,"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}]}],
		"topCustomers":[
			{"customerId":"` + w.dave.ID + `","customer":{"name":"Dave"},"orderCount":2,"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}]},
			{"customerId":"` + w.bob.ID + `","customer":{"name":"Bob"},"orderCount":1,"revenue":[{"amount":"0.00","currency":"USD"}]}]}}`
	// In UTC the same range is 23:00 the 26th to 22:00 the 29th: the 28th
	// holds o1 and the last day is cut short.
	p1UTC := `{"analytics":{"from":"2026-03-27T00:00:00+01:00","to":"2026-03-30T00:00:00+02:00","granularity":"DAY","timeZone":"UTC",
		"orderCount":3,"revenueOrderCount":2,
		"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}],
		"averageOrderValue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}],
		"ordersByStatus":[{"status":"PENDING","count":0},{"status":"PAID","count":2},{"status":"FULFILLED","count":0},{"status":"SHIPPED","count":0},
			{"status":"DELIVERED","count":0},{"status":"CANCELLED","count":1},{"status":"REFUNDED","count":0}],
		"series":[
			{"start":"2026-03-26T00:00:00Z","end":"2026-03-27T00:00:00Z","orderCount":0,"revenue":[{"amount":"0.00","currency":"EUR"},{"amount":"0.00","currency":"USD"}]},
			{"start":"2026-03-27T00:00:00Z","end":"2026-03-28T00:00:00Z","orderCount":1,"revenue":[{"amount":"0.00","currency":"EUR"},{"amount":"0.00","currency":"USD"}]},
			{"start":"2026-03-28T00:00:00Z","end":"2026-03-29T00:00:00Z","orderCount":1,"revenue":[{"amount":"0.00","currency":"EUR"},{"amount":"25.10","currency":"USD"}]},
			{"start":"2026-03-29T00:00:00Z","end":"2026-03-30T00:00:00Z","orderCount":1,"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"0.00","currency":"USD"}]}],
		"topCustomers":[
			{"customerId":"` + w.dave.ID + `","customer":{"name":"Dave"},"orderCount":2,"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}]},
			{"customerId":"` + w.bob.ID + `","customer":{"name":"Bob"},"orderCount":1,"revenue":[{"amount":"0.00","currency":"USD"}]}]}}`

	short := `query($p: ID, $from: DateTime!, $to: DateTime!, $g: Granularity, $tz: String) {
		analytics(projectId: $p, range: {from: $from, to: $to}, granularity: $g, timeZone: $tz) { orderCount revenue { amount currency } } }`
	runQueryCases(t, e, []queryCase{
		{name: "owner, project, Berlin", as: alice, query: analyticsQuery, vars: vars(w.p1.ID, "Europe/Berlin"), want: p1Berlin},
		{name: "member, project, UTC", as: bob, query: analyticsQuery, vars: vars(w.p1.ID, "UTC"), want: p1UTC},
		{name: "defaults: DAY in UTC", as: bob, query: `query($p: ID) { analytics(projectId: $p, range: {from: "2026-03-28T00:00:00Z", to: "2026-03-29T00:00:00Z"}) {
				granularity timeZone series { start orderCount } } }`, vars: map[string]any{"p": w.p1.ID},
			want: `{"analytics":{"granularity":"DAY","timeZone":"UTC","series":[{"start":"2026-03-28T00:00:00Z","orderCount":1}]}}`},
		{name: "top customers through a fragment", as: alice, query: `query($p: ID) { analytics(projectId: $p, range: {from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"}) {
				...Top } } fragment Top on Analytics { topCustomers { customer { name } orderCount } }`, vars: map[string]any{"p": w.p1.ID},
			want: `{"analytics":{"topCustomers":[{"customer":{"name":"Dave"},"orderCount":2},{"customer":{"name":"Bob"},"orderCount":1}]}}`},
		{name: "admin, all projects", as: admin, query: short, vars: vars(nil, "UTC"),
			want: `{"analytics":{"orderCount":4,"revenue":[{"amount":"9.99","currency":"EUR"},{"amount":"25.10","currency":"USD"}]}}`},
		{name: "member, all readable projects", as: carol, query: short, vars: vars(nil, "UTC"),
			want: `{"analytics":{"orderCount":1,"revenue":[{"amount":"0.00","currency":"USD"}]}}`},
		{name: "customer, all: none of their own", as: dave, query: short, vars: vars(nil, "UTC"),
			want: `{"analytics":{"orderCount":0,"revenue":[]}}`},
		{name: "customer, the project they order in", as: dave, query: short, vars: vars(w.p1.ID, "UTC"), code: "NOT_FOUND", field: "projectId", want: `null`},
		{name: "other tenant's project", as: carol, query: short, vars: vars(w.p1.ID, "UTC"), code: "NOT_FOUND", field: "projectId", want: `null`},
		{name: "anonymous", as: "", query: short, vars: vars(nil, "UTC"), code: "UNAUTHENTICATED", want: `null`},

		{name: "from after to", as: alice, query: short, vars: map[string]any{"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
			code: "BAD_USER_INPUT", field: "range.from", want: `null`},
		{name: "unknown time zone", as: alice, query: short, vars: map[string]any{"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z", "tz": "Europe/Atlantis"},
			code: "BAD_USER_INPUT", field: "timeZone", want: `null`},
		{name: "more than 10,000 buckets", as: alice, query: short, vars: map[string]any{"from": "2026-01-01T00:00:00Z", "to": "2028-01-01T00:00:00Z", "g": "HOUR"},
			code: "BAD_USER_INPUT", field: "range", want: `null`},
	})
}

// newAnalyticsIntegrationEnv is an env whose resolver answers analytics and
// integrations and whose server accepts API keys; both services share one
// pool, counted by istmts.
func newAnalyticsIntegrationEnv(t *testing.T, opts ...envOption) *integrationEnv {
	t.Helper()
	return newIntegrationEnvWiring(t, func(r *resolvers.Resolver, db *postgres.DB) {
		r.Analytics = postgres.NewAnalyticsService(db)
	}, opts...)
}

// mustNamedIntegration creates an OUTBOUND integration called name in p as
// owner.
func (e *integrationEnv) mustNamedIntegration(p *switchyard.Project, owner *switchyard.User, name string, c switchyard.IntegrationCriticality) *switchyard.Integration {
	e.t.Helper()
	url := "https://hooks.example.com/" + strings.ToLower(name)
	got, err := e.integrations.CreateIntegration(asUser(owner), switchyard.IntegrationCreate{ProjectID: p.ID, Name: name, Criticality: c,
		Provider: switchyard.ProviderGeneric, Direction: switchyard.DirectionBidirectional, EventTypes: []string{switchyard.EventOrderCreated}, EndpointURL: &url})
	if err != nil {
		e.t.Fatalf("create integration: %v", err)
	}
	return got.Integration
}

// mustAttempt writes one delivery attempt as the webhook machinery would.
func (e *integrationEnv) mustAttempt(i *switchyard.Integration, direction, status string, latency *int, at string) {
	e.t.Helper()
	if _, err := e.idb.Pool().Exec(context.Background(), `INSERT INTO webhook_deliveries
			(integration_id, direction, event_type, status, latency_ms, created_at, finished_at)
		VALUES ($1, $2, 'order.created', $3, $4, $5::timestamptz, CASE WHEN $3 <> 'PENDING' THEN $5::timestamptz END)`,
		i.ID, direction, status, latency, at); err != nil {
		e.t.Fatalf("insert delivery: %v", err)
	}
}

const integrationHealthQuery = `query($p: ID) {
	analytics(projectId: $p, range: {from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"}) {
		integrationHealth { integrationId integration { name criticality health { consecutiveFailures } } status
			attempted succeeded failed pending successRate latencyP50Ms latencyP95Ms lastDeliveryAt consecutiveFailures }
	}
}`

// TestAnalyticsIntegrationHealthQuery: the delivery health of a project's
// integrations in the range, each with its Integration, the most critical
// first; an integration without deliveries is listed with zeros and nulls.
func TestAnalyticsIntegrationHealthQuery(t *testing.T) {
	t.Parallel()
	e := newAnalyticsIntegrationEnv(t)
	w := e.world()
	stripe := e.mustNamedIntegration(w.p1, w.alice, "Stripe", switchyard.CriticalityCritical)
	quiet := e.mustNamedIntegration(w.p1, w.alice, "Fulfilment", switchyard.CriticalityMedium)
	ms := func(v int) *int { return &v }
	for _, a := range []struct {
		dir, status string
		latency     *int
		at          string
	}{
		{"OUTBOUND", "SUCCEEDED", ms(100), "2026-03-01T00:00:00Z"}, // on from: in
		{"OUTBOUND", "FAILED", ms(900), "2026-03-10T12:00:00Z"},
		{"OUTBOUND", "SUCCEEDED", ms(300), "2026-03-11T12:00:00Z"},
		{"INBOUND", "IGNORED", ms(20), "2026-03-12T12:00:00Z"},
		{"INBOUND", "REJECTED", nil, "2026-03-20T08:30:00Z"}, // the latest finished
		{"OUTBOUND", "PENDING", nil, "2026-03-31T23:00:00Z"},
		{"OUTBOUND", "SUCCEEDED", ms(5), "2026-04-01T00:00:00Z"}, // on to: out
		{"OUTBOUND", "FAILED", ms(5000), "2026-02-28T23:59:59Z"}, // before: out
	} {
		e.mustAttempt(stripe, a.dir, a.status, a.latency, a.at)
	}
	if _, err := e.idb.Pool().Exec(context.Background(), `UPDATE integrations SET status = 'FAILING', consecutive_failures = 4 WHERE id = $1`, stripe.ID); err != nil {
		t.Fatal(err)
	}
	// Latencies 20, 100, 300, 900: the median by nearest rank is the second,
	// the 95th percentile the fourth, told as their histogram bounds, 100
	// and 1000.
	want := `{"analytics":{"integrationHealth":[
		{"integrationId":"` + stripe.ID + `","integration":{"name":"Stripe","criticality":"CRITICAL","health":{"consecutiveFailures":4}},"status":"FAILING",
			"attempted":5,"succeeded":3,"failed":2,"pending":1,"successRate":0.6,"latencyP50Ms":100,"latencyP95Ms":1000,
			"lastDeliveryAt":"2026-03-20T08:30:00Z","consecutiveFailures":4},
		{"integrationId":"` + quiet.ID + `","integration":{"name":"Fulfilment","criticality":"MEDIUM","health":{"consecutiveFailures":0}},"status":"ACTIVE",
			"attempted":0,"succeeded":0,"failed":0,"pending":0,"successRate":null,"latencyP50Ms":null,"latencyP95Ms":null,
			"lastDeliveryAt":null,"consecutiveFailures":0}]}}`
	runQueryCases(t, e.env, []queryCase{
		{name: "owner, project", as: e.token(w.alice), query: integrationHealthQuery, vars: map[string]any{"p": w.p1.ID}, want: want},
		{name: "owner, all", as: e.token(w.alice), query: integrationHealthQuery, want: want},
		{name: "next to the other fields", as: e.token(w.bob), query: `query($p: ID) { analytics(projectId: $p, range: {from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"}) {
				orderCount topCustomers { orderCount } integrationHealth { integration { name } attempted } } }`, vars: map[string]any{"p": w.p1.ID},
			want: `{"analytics":{"orderCount":0,"topCustomers":[],"integrationHealth":[{"integration":{"name":"Stripe"},"attempted":5},{"integration":{"name":"Fulfilment"},"attempted":0}]}}`},
	})
}

// TestAnalyticsIntegrationHealthAuthorization is the matrix of the analytics
// query and its integration health for every kind of caller, partners by
// scope: the numbers need ANALYTICS_READ, and the integrations listed are
// those the caller reads through Query.integration, so a partner sees its own
// integration with INTEGRATIONS_READ and none without.
func TestAnalyticsIntegrationHealthAuthorization(t *testing.T) {
	t.Parallel()
	e := newAnalyticsIntegrationEnv(t)
	w := e.world()
	stripe := e.mustNamedIntegration(w.p1, w.alice, "Stripe", switchyard.CriticalityCritical)
	e.mustNamedIntegration(w.p1, w.alice, "Fulfilment", switchyard.CriticalityMedium)
	warehouse := e.mustNamedIntegration(w.p2, w.carol, "Warehouse", switchyard.CriticalityMedium)
	e.mustAttempt(stripe, "OUTBOUND", "SUCCEEDED", nil, "2026-03-05T00:00:00Z")
	e.mustAttempt(warehouse, "INBOUND", "REJECTED", nil, "2026-03-05T00:00:00Z")
	key := func(i *switchyard.Integration, owner *switchyard.User, scopes ...switchyard.APIKeyScope) string {
		return e.mustKey(i, owner, scopes...).Key
	}
	callers := []struct {
		name  string
		token string
	}{
		{"anon", ""},
		{"owner", e.token(w.alice)}, {"member", e.token(w.bob)}, {"other", e.token(w.carol)}, {"customer", e.token(w.dave)}, {"admin", e.token(w.admin)},
		{"partner ANALYTICS_READ", key(stripe, w.alice, switchyard.ScopeAnalyticsRead)},
		{"partner ANALYTICS_READ INTEGRATIONS_READ", key(stripe, w.alice, switchyard.ScopeAnalyticsRead, switchyard.ScopeIntegrationsRead)},
		{"partner INTEGRATIONS_READ", key(stripe, w.alice, switchyard.ScopeIntegrationsRead)},
		{"partner PROJECTS_READ ORDERS_READ", key(stripe, w.alice, switchyard.ScopeProjectsRead, switchyard.ScopeOrdersRead)},
		{"partner all", key(stripe, w.alice, switchyard.APIKeyScopes...)},
		{"partner other project", key(warehouse, w.carol, switchyard.APIKeyScopes...)},
	}
	const query = `query($p: ID) { analytics(projectId: $p, range: {from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"}) {
		orderCount integrationHealth { integration { name } attempted } } }`
	// The integrations listed, by name, or the error code.
	//                  anon               owner                  member                 other          customer     admin
	project := [12]string{"UNAUTHENTICATED", "Stripe,Fulfilment", "Stripe,Fulfilment", "NOT_FOUND", "NOT_FOUND", "Stripe,Fulfilment",
		// AR  AR+IR     IR           PR+OR        all       other project
		"", "Stripe", "NOT_FOUND", "NOT_FOUND", "Stripe", "NOT_FOUND"}
	all := [12]string{"UNAUTHENTICATED", "Stripe,Fulfilment", "Stripe,Fulfilment", "Warehouse", "", "Stripe,Fulfilment,Warehouse",
		"", "Stripe", "", "", "Stripe", "Warehouse"}
	for _, op := range []struct {
		name string
		vars map[string]any
		want [12]string
	}{{"project", map[string]any{"p": w.p1.ID}, project}, {"all", nil, all}} {
		for ci, c := range callers {
			t.Run(op.name+"/"+c.name, func(t *testing.T) {
				e.t = t
				r := e.gql(c.token, query, op.vars)
				want := op.want[ci]
				if want == "UNAUTHENTICATED" || want == "NOT_FOUND" {
					if r.code() != want {
						t.Fatalf("want %s, got %s", want, r.Raw)
					}
					return
				}
				var data struct {
					Analytics struct {
						IntegrationHealth []struct {
							Integration *struct{ Name string }
							Attempted   int
						}
					}
				}
				r.decode(t, &data)
				var names []string
				for _, h := range data.Analytics.IntegrationHealth {
					if h.Integration == nil {
						t.Fatalf("an integration listed but not readable: %s", r.Raw)
					}
					names = append(names, h.Integration.Name)
				}
				if got := strings.Join(names, ","); got != want {
					t.Fatalf("integrations %q, want %q: %s", got, want, r.Raw)
				}
			})
		}
	}
}

// TestAnalyticsIntegrationHealthIsBatched: the statements of a dashboard with
// its integrations and their nested fields do not grow with the number of
// integrations.
func TestAnalyticsIntegrationHealthIsBatched(t *testing.T) {
	t.Parallel()
	e := newAnalyticsIntegrationEnv(t, withLoaderWait(50*time.Millisecond))
	w := e.world()
	token := e.token(w.alice)
	const query = `query($p: ID!) { analytics(projectId: $p, range: {from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"}) {
		integrationHealth { attempted integration { name project { name } owner { name } health { successRate24h } apiKeys { prefix } } } } }`
	counts := map[int]int64{}
	for n := 1; n <= 8; n++ {
		i := e.mustNamedIntegration(w.p1, w.alice, fmt.Sprintf("Hook %d", n), switchyard.CriticalityMedium)
		e.mustAttempt(i, "OUTBOUND", "SUCCEEDED", nil, "2026-03-05T00:00:00Z")
		if n != 2 && n != 8 {
			continue
		}
		before := e.stmts.n.Load() + e.istmts.n.Load()
		r := e.gql(token, query, map[string]any{"p": w.p1.ID})
		counts[n] = e.stmts.n.Load() + e.istmts.n.Load() - before
		if len(r.Errors) > 0 || strings.Count(string(r.Data), `"Apollo"`) != n {
			t.Fatalf("%d integrations: %s", n, r.Raw)
		}
	}
	t.Logf("statements by integrations: %v", counts)
	if counts[2] != counts[8] {
		t.Fatalf("statement count grows with the integrations: %v", counts)
	}
}
