package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard/switchyard"
)

// TestAuthorizationMatrix runs every query and mutation, and _entities, as
// each kind of caller. Outcomes:
//
//	ok    no error, a non-null answer (for _entities: every entity resolved)
//	null  no error, a null answer (for _entities: every entity null)
//	some  no error, totalCount > 0;  none: no error, totalCount == 0
//	CODE  the first error's extensions.code
//
// Callers: anon (no token); owner (alice, owns the project); member (bob,
// belongs to it); other (carol, another tenant); customer (dave, ordered in
// the project but belongs to none); admin.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()
	callers := []struct {
		name string
		user *switchyard.User
	}{{"anon", nil}, {"owner", w.alice}, {"member", w.bob}, {"other", w.carol}, {"customer", w.dave}, {"admin", w.admin}}

	// Fresh targets per run, so a mutation that succeeds for one caller does
	// not change what the next caller finds.
	teamProject := func(e *env, w *world) map[string]any {
		p := e.mustProject("Team", w.alice, w.bob)
		return map[string]any{"id": p.ID, "user": w.dave.ID, "member": w.bob.ID}
	}
	pendingOrder := func(e *env, w *world) map[string]any {
		return map[string]any{"id": e.mustOrder(w.p1, w.dave).ID}
	}
	fixed := func(kv ...string) func(*env, *world) map[string]any {
		return func(*env, *world) map[string]any {
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
	}
	entities := func(typename, id string) func(*env, *world) map[string]any {
		return func(*env, *world) map[string]any {
			return map[string]any{"r": []any{map[string]any{"__typename": typename, "id": id}}}
		}
	}
	const entitiesQuery = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id } ... on Project { id } ... on User { id } } }`

	ops := []struct {
		name  string
		setup func(e *env, w *world) map[string]any
		query string
		// anon, owner, member, other, customer, admin
		want [6]string
	}{
		// Queries.
		{"me", nil, `{ me { id } }`, [6]string{"null", "ok", "ok", "ok", "ok", "ok"}},
		{"user", fixed("id", w.alice.ID), `query($id: ID!) { user(id: $id) { id } }`, [6]string{"null", "ok", "ok", "null", "null", "ok"}},
		{"users", fixed("s", w.alice.Email), `query($s: String) { users(filter: {search: $s}) { totalCount } }`,
			[6]string{"UNAUTHENTICATED", "some", "some", "none", "none", "some"}},
		{"project", fixed("id", w.p1.ID), `query($id: ID!) { project(id: $id) { id } }`, [6]string{"null", "ok", "ok", "null", "null", "ok"}},
		{"projects", fixed("s", "Apollo"), `query($s: String) { projects(filter: {search: $s}) { totalCount } }`,
			[6]string{"UNAUTHENTICATED", "some", "some", "none", "none", "some"}},
		{"order", fixed("id", w.o1.ID), `query($id: ID!) { order(id: $id) { id } }`, [6]string{"null", "ok", "ok", "null", "ok", "ok"}},
		{"orderByNumber", fixed("n", w.o1.Number), `query($n: String!) { orderByNumber(number: $n) { id } }`,
			[6]string{"null", "ok", "ok", "null", "ok", "ok"}},
		{"orders", fixed("p", w.p1.ID), `query($p: ID) { orders(filter: {projectId: $p}) { totalCount } }`,
			[6]string{"UNAUTHENTICATED", "some", "some", "none", "some", "some"}},
		{"user.orders", fixed("id", w.dave.ID), `query($id: ID!) { user(id: $id) { orders { totalCount } } }`,
			[6]string{"null", "ok", "ok", "null", "ok", "ok"}},
		{"project.orders", fixed("id", w.p1.ID), `query($id: ID!) { project(id: $id) { orders { totalCount } members { totalCount } } }`,
			[6]string{"null", "ok", "ok", "null", "null", "ok"}},

		// Federation: the same rules as direct lookups.
		{"_entities Order", entities("Order", w.o1.ID), entitiesQuery, [6]string{"null", "ok", "ok", "null", "ok", "ok"}},
		{"_entities Project", entities("Project", w.p1.ID), entitiesQuery, [6]string{"null", "ok", "ok", "null", "null", "ok"}},
		{"_entities User", entities("User", w.alice.ID), entitiesQuery, [6]string{"null", "ok", "ok", "null", "null", "ok"}},

		// Mutations.
		{"createUser", nil, `mutation { createUser(input: {email: "matrix.` + "${caller}" + `@example.com", name: "M"}) { id } }`,
			[6]string{"UNAUTHENTICATED", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "ok"}},
		{"updateUser", fixed("id", w.alice.ID), `mutation($id: ID!) { updateUser(id: $id, input: {name: "Alice"}) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"deleteUser", func(e *env, w *world) map[string]any {
			u := e.mustUser("Doomed", switchyard.RoleMember)
			e.mustProject("Doomed's team", w.alice, u)
			return map[string]any{"id": u.ID}
		}, `mutation($id: ID!) { deleteUser(id: $id) }`, [6]string{"UNAUTHENTICATED", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "ok"}},
		{"createProject", nil, `mutation { createProject(input: {name: "Mine"}) { id } }`, [6]string{"UNAUTHENTICATED", "ok", "ok", "ok", "ok", "ok"}},
		{"updateProject", teamProject, `mutation($id: ID!) { updateProject(id: $id, input: {name: "Renamed"}) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"archiveProject", teamProject, `mutation($id: ID!) { archiveProject(id: $id) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"deleteProject", teamProject, `mutation($id: ID!) { deleteProject(id: $id) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"addProjectMember", teamProject, `mutation($id: ID!, $user: ID!) { addProjectMember(projectId: $id, userId: $user) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"removeProjectMember", teamProject, `mutation($id: ID!, $member: ID!) { removeProjectMember(projectId: $id, userId: $member) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok"}},
		{"createOrder", fixed("p", w.p1.ID), `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "EUR", items: [{sku: "S", name: "N", quantity: 1, unitPrice: "9.99"}]}) { id } }`,
			// The customer knows the project from their own order, so it is
			// FORBIDDEN rather than NOT_FOUND to them.
			[6]string{"UNAUTHENTICATED", "ok", "ok", "NOT_FOUND", "FORBIDDEN", "ok"}},
		{"updateOrderStatus", pendingOrder, `mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "ok", "NOT_FOUND", "FORBIDDEN", "ok"}},
		{"setOrderShipment", pendingOrder, `mutation($id: ID!) { setOrderShipment(id: $id, input: {carrier: "DHL", trackingNumber: "T1"}) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "ok", "NOT_FOUND", "FORBIDDEN", "ok"}},
		{"cancelOrder", pendingOrder, `mutation($id: ID!) { cancelOrder(id: $id) { id } }`,
			[6]string{"UNAUTHENTICATED", "ok", "ok", "NOT_FOUND", "ok", "ok"}},
	}

	for _, op := range ops {
		for i, c := range callers {
			t.Run(op.name+"/"+c.name, func(t *testing.T) {
				e.t = t
				var vars map[string]any
				if op.setup != nil {
					vars = op.setup(e, w)
				}
				token := ""
				if c.user != nil {
					token = e.token(c.user)
				}
				query := op.query
				query = strings.ReplaceAll(query, "${caller}", c.name)
				checkOutcome(t, e.gql(token, query, vars), op.want[i])
			})
		}
	}
}

func checkOutcome(t *testing.T, r gqlResponse, want string) {
	t.Helper()
	switch want {
	case "ok", "null", "some", "none":
	default:
		if r.code() != want {
			t.Fatalf("want %s, got %s", want, r.Raw)
		}
		return
	}
	if len(r.Errors) > 0 {
		t.Fatalf("want %s, got errors: %s", want, r.Raw)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil || len(data) != 1 {
		t.Fatalf("want one root field, got %s", r.Raw)
	}
	var root json.RawMessage
	for _, v := range data {
		root = v
	}
	if _, ok := data["_entities"]; ok {
		var list []json.RawMessage
		_ = json.Unmarshal(root, &list)
		for _, item := range list {
			if isNull := string(item) == "null"; isNull != (want == "null") {
				t.Fatalf("want %s, got %s", want, r.Raw)
			}
		}
		return
	}
	switch want {
	case "ok", "null":
		if isNull := string(root) == "null"; isNull != (want == "null") {
			t.Fatalf("want %s, got %s", want, r.Raw)
		}
	case "some", "none":
		var conn struct{ TotalCount int }
		_ = json.Unmarshal(root, &conn)
		if (conn.TotalCount > 0) != (want == "some") {
			t.Fatalf("want %s, got %s", want, r.Raw)
		}
	}
}
