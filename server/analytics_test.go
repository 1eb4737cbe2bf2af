package server_test

import (
	"context"
	"testing"

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
