package server_test

import (
	"encoding/json"
	"reflect"
	"testing"
)

// jsonEqual compares a response's data with want, written as JSON.
func jsonEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("data:\n got %s\nwant %s", got, want)
	}
}

type queryCase struct {
	name  string
	as    string // token
	query string
	vars  map[string]any
	// want is the expected data as JSON; with code set, the expected
	// extensions.code of the first error (and field, extensions.field).
	want  string
	code  string
	field string
}

func runQueryCases(t *testing.T, e *env, cases []queryCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			r := e.gql(c.as, c.query, c.vars)
			if c.code != "" {
				if r.code() != c.code || r.field() != c.field {
					t.Fatalf("want code %s field %q, got %s", c.code, c.field, r.Raw)
				}
				if c.want != "" {
					jsonEqual(t, r.Data, c.want)
				}
				return
			}
			if len(r.Errors) > 0 {
				t.Fatalf("unexpected errors: %s", r.Raw)
			}
			jsonEqual(t, r.Data, c.want)
		})
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()
	alice, dave, anon := e.token(w.alice), e.token(w.dave), ""

	runQueryCases(t, e, []queryCase{
		{name: "me", as: alice, query: `{ me { id name role } }`,
			want: `{"me":{"id":"` + w.alice.ID + `","name":"Alice","role":"MEMBER"}}`},
		{name: "me anonymous is null", as: anon, query: `{ me { id } }`, want: `{"me":null}`},

		{name: "user", as: alice, query: `query($id: ID!) { user(id: $id) { name email } }`, vars: map[string]any{"id": w.bob.ID},
			want: `{"user":{"name":"Bob","email":"` + w.bob.Email + `"}}`},
		{name: "user of another tenant is null", as: alice, query: `query($id: ID!) { user(id: $id) { name } }`, vars: map[string]any{"id": w.carol.ID},
			want: `{"user":null}`},
		{name: "user unknown id is null", as: alice, query: `{ user(id: "00000000-0000-4000-8000-000000000000") { name } }`, want: `{"user":null}`},
		{name: "user malformed id is null", as: alice, query: `{ user(id: "nope") { name } }`, want: `{"user":null}`},
		{name: "user with nested orders and projects", as: alice,
			query: `query($id: ID!) { user(id: $id) { orders { totalCount edges { node { number } } } projects { totalCount } } }`,
			vars:  map[string]any{"id": w.dave.ID},
			want:  `{"user":{"orders":{"totalCount":1,"edges":[{"node":{"number":"` + w.o1.Number + `"}}]},"projects":{"totalCount":0}}}`},

		{name: "users", as: alice, query: `{ users(orderBy: {field: NAME, direction: ASC}) { totalCount edges { node { name } } } }`,
			want: `{"users":{"totalCount":3,"edges":[{"node":{"name":"Alice"}},{"node":{"name":"Bob"}},{"node":{"name":"Dave"}}]}}`},
		{name: "users search", as: alice, query: `{ users(filter: {search: "BO"}) { edges { node { name } } } }`,
			want: `{"users":{"edges":[{"node":{"name":"Bob"}}]}}`},
		{name: "users anonymous", as: anon, query: `{ users { totalCount } }`, code: "UNAUTHENTICATED"},
		{name: "users first above cap", as: alice, query: `{ users(first: 101) { totalCount } }`, code: "BAD_USER_INPUT", field: "first"},
		{name: "users last above cap", as: alice, query: `{ users(last: 101) { totalCount } }`, code: "BAD_USER_INPUT", field: "last"},

		{name: "project", as: alice,
			query: `query($id: ID!) { project(id: $id) { name status owner { name } members { totalCount edges { node { name } } } orders { totalCount } } }`,
			vars:  map[string]any{"id": w.p1.ID},
			want:  `{"project":{"name":"Apollo","status":"ACTIVE","owner":{"name":"Alice"},"members":{"totalCount":1,"edges":[{"node":{"name":"Bob"}}]},"orders":{"totalCount":1}}}`},
		{name: "project of another tenant is null", as: alice, query: `query($id: ID!) { project(id: $id) { name } }`, vars: map[string]any{"id": w.p2.ID},
			want: `{"project":null}`},
		{name: "projects", as: alice, query: `{ projects { totalCount edges { node { name } } } }`,
			want: `{"projects":{"totalCount":1,"edges":[{"node":{"name":"Apollo"}}]}}`},
		{name: "projects filter", as: alice, query: `{ projects(filter: {search: "bor"}) { totalCount } }`, want: `{"projects":{"totalCount":0}}`},
		{name: "projects anonymous", as: anon, query: `{ projects { totalCount } }`, code: "UNAUTHENTICATED"},
		{name: "projects first above cap", as: alice, query: `{ projects(first: 101) { totalCount } }`, code: "BAD_USER_INPUT", field: "first"},
		{name: "project orders first above cap", as: alice,
			query: `query($id: ID!) { project(id: $id) { orders(first: 101) { totalCount } } }`, vars: map[string]any{"id": w.p1.ID},
			code: "BAD_USER_INPUT", field: "first", want: `{"project":null}`},

		{name: "order", as: alice,
			query: `query($id: ID!) { order(id: $id) { number status currency total { amount currency }
				items { sku quantity unitPrice { amount currency } lineTotal { amount } }
				history { from to } customer { name } project { name } shipment { carrier } } }`,
			vars: map[string]any{"id": w.o1.ID},
			want: `{"order":{"number":"` + w.o1.Number + `","status":"PENDING","currency":"USD","total":{"amount":"25.10","currency":"USD"},
				"items":[{"sku":"SKU-1","quantity":2,"unitPrice":{"amount":"12.50","currency":"USD"},"lineTotal":{"amount":"25.00"}},
				         {"sku":"SKU-2","quantity":1,"unitPrice":{"amount":"0.10","currency":"USD"},"lineTotal":{"amount":"0.10"}}],
				"history":[{"from":null,"to":"PENDING"}],"customer":{"name":"Dave"},"project":{"name":"Apollo"},"shipment":null}}`},
		{name: "customer reads their order but not its project", as: dave,
			query: `query($id: ID!) { order(id: $id) { number customer { name } project { name } } }`,
			vars:  map[string]any{"id": w.o1.ID},
			want:  `{"order":{"number":"` + w.o1.Number + `","customer":{"name":"Dave"},"project":null}}`},
		{name: "order of another tenant is null", as: alice, query: `query($id: ID!) { order(id: $id) { number } }`, vars: map[string]any{"id": w.o2.ID},
			want: `{"order":null}`},
		{name: "orderByNumber", as: alice, query: `query($n: String!) { orderByNumber(number: $n) { id } }`, vars: map[string]any{"n": w.o1.Number},
			want: `{"orderByNumber":{"id":"` + w.o1.ID + `"}}`},
		{name: "orderByNumber unknown is null", as: alice, query: `{ orderByNumber(number: "SO-999999") { id } }`, want: `{"orderByNumber":null}`},
		{name: "orders", as: alice, query: `{ orders { totalCount edges { node { number } } } }`,
			want: `{"orders":{"totalCount":1,"edges":[{"node":{"number":"` + w.o1.Number + `"}}]}}`},
		{name: "orders filter status", as: alice, query: `{ orders(filter: {status: [PAID, SHIPPED]}) { totalCount } }`, want: `{"orders":{"totalCount":0}}`},
		{name: "orders filter minTotal", as: alice, query: `{ orders(filter: {minTotal: "25.10"}) { totalCount } }`, want: `{"orders":{"totalCount":1}}`},
		{name: "orders filter bad decimal", as: alice, query: `{ orders(filter: {minTotal: "abc"}) { totalCount } }`, code: "BAD_USER_INPUT"},
		{name: "orders filter bad decimal variable", as: alice, query: `query($f: OrderFilter) { orders(filter: $f) { totalCount } }`,
			vars: map[string]any{"f": map[string]any{"maxTotal": "1e3"}}, code: "BAD_USER_INPUT"},
		{name: "orders filter min above max", as: alice, query: `{ orders(filter: {minTotal: "10", maxTotal: "5"}) { totalCount } }`,
			code: "BAD_USER_INPUT", field: "filter.minTotal"},
		{name: "orders first above cap", as: alice, query: `{ orders(first: 101) { totalCount } }`, code: "BAD_USER_INPUT", field: "first"},
		{name: "orders anonymous", as: anon, query: `{ orders { totalCount } }`, code: "UNAUTHENTICATED"},
		{name: "nested lists with different arguments", as: alice,
			query: `query($id: ID!) { project(id: $id) { a: orders(first: 1) { edges { node { number } } } b: orders(filter: {status: [PAID]}) { totalCount } } }`,
			vars:  map[string]any{"id": w.p1.ID},
			want:  `{"project":{"a":{"edges":[{"node":{"number":"` + w.o1.Number + `"}}]},"b":{"totalCount":0}}}`},
		{name: "_entities unknown type", as: alice,
			query: `{ _entities(representations: [{__typename: "Nope", id: "x"}]) { ... on Order { id } } }`, code: "BAD_USER_INPUT"},
		{name: "_entities without key", as: alice,
			query: `{ _entities(representations: [{__typename: "Order"}]) { ... on Order { id } } }`, code: "BAD_USER_INPUT"},
		{name: "unknown field", as: alice, query: `{ orders { nope } }`, code: "GRAPHQL_VALIDATION_FAILED"},
	})
}
