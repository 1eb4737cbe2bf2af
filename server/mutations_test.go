package server_test

import (
	"os"
	"testing"

	"github.com/switchyard/switchyard"
)

type mutationCase struct {
	name string
	as   func(w *world) *switchyard.User // nil: anonymous
	// setup makes the case's own targets, so cases never depend on each
	// other; its variables are also substituted for ${name} in want.
	setup func(e *env, w *world) map[string]any
	query string
	want  string
	code  string
	field string
}

func TestMutations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()
	admin := func(w *world) *switchyard.User { return w.admin }
	alice := func(w *world) *switchyard.User { return w.alice }
	bob := func(w *world) *switchyard.User { return w.bob }
	carol := func(w *world) *switchyard.User { return w.carol }
	vars := func(kv ...string) func(*env, *world) map[string]any {
		return func(*env, *world) map[string]any {
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
	}
	freshProject := func(e *env, w *world) map[string]any {
		p := e.mustProject("Fresh", w.alice, w.bob)
		return map[string]any{"id": p.ID}
	}
	freshOrder := func(e *env, w *world) map[string]any {
		return map[string]any{"id": e.mustOrder(w.p1, w.dave).ID}
	}

	cases := []mutationCase{
		{name: "createUser", as: admin, query: `mutation { createUser(input: {email: " New.Person@Example.com ", name: "New Person"}) { email name role } }`,
			want: `{"createUser":{"email":"new.person@example.com","name":"New Person","role":"MEMBER"}}`},
		{name: "createUser bad email", as: admin, query: `mutation { createUser(input: {email: "nope", name: "X"}) { id } }`,
			code: "BAD_USER_INPUT", field: "input.email"},
		{name: "createUser empty name", as: admin, query: `mutation { createUser(input: {email: "empty.name@example.com", name: "  "}) { id } }`,
			code: "BAD_USER_INPUT", field: "input.name"},
		{name: "createUser email taken", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"email": w.bob.Email} },
			query: `mutation($email: String!) { createUser(input: {email: $email, name: "Twin"}) { id } }`, code: "CONFLICT"},
		{name: "createUser by member", as: alice, query: `mutation { createUser(input: {email: "x.member@example.com", name: "X"}) { id } }`, code: "FORBIDDEN"},
		{name: "createUser anonymous", query: `mutation { createUser(input: {email: "x.anon@example.com", name: "X"}) { id } }`, code: "UNAUTHENTICATED"},

		{name: "updateUser own name", as: alice, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.alice.ID} },
			query: `mutation($id: ID!) { updateUser(id: $id, input: {name: " Alice "}) { name } }`, want: `{"updateUser":{"name":"Alice"}}`},
		{name: "updateUser own role", as: bob, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.bob.ID} },
			query: `mutation($id: ID!) { updateUser(id: $id, input: {role: ADMIN}) { role } }`, code: "FORBIDDEN"},
		{name: "updateUser empty name", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.bob.ID} },
			query: `mutation($id: ID!) { updateUser(id: $id, input: {name: ""}) { name } }`, code: "BAD_USER_INPUT", field: "input.name"},
		{name: "updateUser unknown", as: admin, query: `mutation { updateUser(id: "00000000-0000-4000-8000-000000000000", input: {name: "X"}) { name } }`, code: "NOT_FOUND"},
		{name: "updateUser role by admin", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": e.mustUser("Promoted", "").ID} },
			query: `mutation($id: ID!) { updateUser(id: $id, input: {role: ADMIN}) { role } }`, want: `{"updateUser":{"role":"ADMIN"}}`},

		{name: "deleteUser", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": e.mustUser("Leaving", "").ID} },
			query: `mutation($id: ID!) { deleteUser(id: $id) }`, want: `{"deleteUser":"${id}"}`},
		{name: "deleteUser who owns projects", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.carol.ID} },
			query: `mutation($id: ID!) { deleteUser(id: $id) }`, code: "CONFLICT"},
		{name: "deleteUser self", as: admin, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.admin.ID} },
			query: `mutation($id: ID!) { deleteUser(id: $id) }`, code: "FORBIDDEN"},
		{name: "deleteUser by member", as: alice, setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.bob.ID} },
			query: `mutation($id: ID!) { deleteUser(id: $id) }`, code: "FORBIDDEN"},

		{name: "createProject", as: alice, query: `mutation { createProject(input: {name: " Comet ", description: "d"}) { name description status owner { name } members { totalCount } } }`,
			want: `{"createProject":{"name":"Comet","description":"d","status":"ACTIVE","owner":{"name":"Alice"},"members":{"totalCount":0}}}`},
		{name: "createProject empty name", as: alice, query: `mutation { createProject(input: {name: ""}) { id } }`, code: "BAD_USER_INPUT", field: "input.name"},
		{name: "createProject other owner by member", as: alice, setup: func(e *env, w *world) map[string]any { return map[string]any{"owner": w.carol.ID} },
			query: `mutation($owner: ID!) { createProject(input: {name: "X", ownerId: $owner}) { id } }`, code: "FORBIDDEN", field: "input.ownerId"},
		{name: "createProject anonymous", query: `mutation { createProject(input: {name: "X"}) { id } }`, code: "UNAUTHENTICATED"},

		{name: "updateProject", as: alice, setup: freshProject,
			query: `mutation($id: ID!) { updateProject(id: $id, input: {name: "Renamed", status: ARCHIVED}) { name status } }`,
			want:  `{"updateProject":{"name":"Renamed","status":"ARCHIVED"}}`},
		{name: "updateProject to DELETED", as: alice, setup: freshProject,
			query: `mutation($id: ID!) { updateProject(id: $id, input: {status: DELETED}) { id } }`, code: "BAD_USER_INPUT", field: "input.status"},
		{name: "updateProject by member", as: bob, setup: freshProject,
			query: `mutation($id: ID!) { updateProject(id: $id, input: {name: "Mine"}) { id } }`, code: "FORBIDDEN"},
		{name: "updateProject by outsider", as: carol, setup: freshProject,
			query: `mutation($id: ID!) { updateProject(id: $id, input: {name: "Mine"}) { id } }`, code: "NOT_FOUND"},
		{name: "archiveProject", as: alice, setup: freshProject,
			query: `mutation($id: ID!) { archiveProject(id: $id) { status } }`, want: `{"archiveProject":{"status":"ARCHIVED"}}`},
		{name: "deleteProject", as: alice, setup: freshProject,
			query: `mutation($id: ID!) { deleteProject(id: $id) { status } }`, want: `{"deleteProject":{"status":"DELETED"}}`},
		{name: "deleteProject unknown", as: admin,
			query: `mutation { deleteProject(id: "00000000-0000-4000-8000-000000000000") { status } }`, code: "NOT_FOUND"},
		{name: "addProjectMember", as: alice,
			setup: func(e *env, w *world) map[string]any {
				return map[string]any{"id": e.mustProject("Team", w.alice).ID, "user": w.dave.ID}
			},
			query: `mutation($id: ID!, $user: ID!) { addProjectMember(projectId: $id, userId: $user) { members { edges { node { name } } } } }`,
			want:  `{"addProjectMember":{"members":{"edges":[{"node":{"name":"Dave"}}]}}}`},
		{name: "addProjectMember owner", as: alice,
			setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.p1.ID, "user": w.alice.ID} },
			query: `mutation($id: ID!, $user: ID!) { addProjectMember(projectId: $id, userId: $user) { id } }`, code: "BAD_USER_INPUT", field: "userId"},
		{name: "addProjectMember unknown user", as: alice,
			setup: func(e *env, w *world) map[string]any {
				return map[string]any{"id": w.p1.ID, "user": "00000000-0000-4000-8000-000000000000"}
			},
			query: `mutation($id: ID!, $user: ID!) { addProjectMember(projectId: $id, userId: $user) { id } }`, code: "NOT_FOUND"},
		{name: "addProjectMember by member", as: bob,
			setup: func(e *env, w *world) map[string]any { return map[string]any{"id": w.p1.ID, "user": w.dave.ID} },
			query: `mutation($id: ID!, $user: ID!) { addProjectMember(projectId: $id, userId: $user) { id } }`, code: "FORBIDDEN"},
		{name: "removeProjectMember", as: alice,
			setup: func(e *env, w *world) map[string]any {
				return map[string]any{"id": e.mustProject("Shrinking", w.alice, w.bob).ID, "user": w.bob.ID}
			},
			query: `mutation($id: ID!, $user: ID!) { removeProjectMember(projectId: $id, userId: $user) { members { totalCount } } }`,
			want:  `{"removeProjectMember":{"members":{"totalCount":0}}}`},

		{name: "createOrder", as: bob, setup: func(e *env, w *world) map[string]any { return map[string]any{"p": w.p1.ID, "c": w.dave.ID} },
			query: `mutation($p: ID!, $c: ID!) { createOrder(input: {projectId: $p, customerId: $c, currency: "usd",
				items: [{sku: "A", name: "A", quantity: 3, unitPrice: "12.50"}, {sku: "B", name: "B", quantity: 1, unitPrice: 7}]}) {
				status total { amount currency } customer { name } items { lineTotal { amount } } history { to actor { name } } } }`,
			want: `{"createOrder":{"status":"PENDING","total":{"amount":"44.50","currency":"USD"},"customer":{"name":"Dave"},
				"items":[{"lineTotal":{"amount":"37.50"}},{"lineTotal":{"amount":"7.00"}}],"history":[{"to":"PENDING","actor":{"name":"Bob"}}]}}`},
		{name: "createOrder JPY", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "JPY", items: [{sku: "A", name: "A", quantity: 2, unitPrice: "1500"}]}) { total { amount currency } } }`,
			want:  `{"createOrder":{"total":{"amount":"3000","currency":"JPY"}}}`},
		{name: "createOrder quantity zero", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 0, unitPrice: "1"}]}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.items[0].quantity"},
		{name: "createOrder unknown currency", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "XXX", items: [{sku: "A", name: "A", quantity: 1, unitPrice: "1"}]}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.currency"},
		{name: "createOrder negative price", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 1, unitPrice: "-1.00"}]}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.items[0].unitPrice"},
		{name: "createOrder too many decimals", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 1, unitPrice: "1.005"}]}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.items[0].unitPrice"},
		{name: "createOrder float price", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 1, unitPrice: 1.5}]}) { id } }`,
			code:  "BAD_USER_INPUT"},
		{name: "createOrder no items", as: alice, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: []}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.items"},
		{name: "createOrder in unreadable project", as: carol, setup: vars("p", w.p1.ID),
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 1, unitPrice: "1"}]}) { id } }`,
			code:  "NOT_FOUND", field: "input.projectId"},
		{name: "createOrder in archived project", as: alice,
			setup: func(e *env, w *world) map[string]any {
				p := e.mustProject("Old", w.alice)
				if _, err := e.projects.ArchiveProject(adminCtx(), p.ID); err != nil {
					t.Fatal(err)
				}
				return map[string]any{"p": p.ID}
			},
			query: `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "A", name: "A", quantity: 1, unitPrice: "1"}]}) { id } }`,
			code:  "BAD_USER_INPUT", field: "input.projectId"},

		{name: "updateOrderStatus", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID, note: "card") { status history { from to note actor { name } } } }`,
			want:  `{"updateOrderStatus":{"status":"PAID","history":[{"from":null,"to":"PENDING","note":null,"actor":null},{"from":"PENDING","to":"PAID","note":"card","actor":{"name":"Alice"}}]}}`},
		{name: "updateOrderStatus forbidden step", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { updateOrderStatus(id: $id, status: DELIVERED) { status } }`, code: "BAD_USER_INPUT", field: "status"},
		{name: "updateOrderStatus unknown", as: admin,
			query: `mutation { updateOrderStatus(id: "00000000-0000-4000-8000-000000000000", status: PAID) { status } }`, code: "NOT_FOUND", field: "id"},
		{name: "setOrderShipment", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { setOrderShipment(id: $id, input: {carrier: "UPS", trackingNumber: "1Z999", estimatedDelivery: "2026-12-01T10:00:00Z"}) { shipment { carrier trackingNumber estimatedDelivery } } }`,
			want:  `{"setOrderShipment":{"shipment":{"carrier":"UPS","trackingNumber":"1Z999","estimatedDelivery":"2026-12-01T10:00:00Z"}}}`},
		{name: "setOrderShipment empty carrier", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { setOrderShipment(id: $id, input: {carrier: " ", trackingNumber: "1Z"}) { id } }`, code: "BAD_USER_INPUT", field: "input.carrier"},
		{name: "setOrderShipment bad date", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { setOrderShipment(id: $id, input: {carrier: "UPS", trackingNumber: "1Z", estimatedDelivery: "tomorrow"}) { id } }`, code: "BAD_USER_INPUT"},
		{name: "cancelOrder", as: alice, setup: freshOrder,
			query: `mutation($id: ID!) { cancelOrder(id: $id, reason: "changed mind") { status history { to note } } }`,
			want:  `{"cancelOrder":{"status":"CANCELLED","history":[{"to":"PENDING","note":null},{"to":"CANCELLED","note":"changed mind"}]}}`},
		{name: "cancelOrder twice", as: alice,
			setup: func(e *env, w *world) map[string]any {
				o := e.mustOrder(w.p1, w.dave)
				if _, err := e.orders.CancelOrder(adminCtx(), o.ID, nil); err != nil {
					t.Fatal(err)
				}
				return map[string]any{"id": o.ID}
			},
			query: `mutation($id: ID!) { cancelOrder(id: $id) { status } }`, code: "BAD_USER_INPUT", field: "id"},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			var v map[string]any
			if c.setup != nil {
				v = c.setup(e, w)
			}
			token := ""
			if c.as != nil {
				token = e.token(c.as(w))
			}
			r := e.gql(token, c.query, v)
			if c.code != "" {
				if r.code() != c.code || r.field() != c.field {
					t.Fatalf("want code %s field %q, got %s", c.code, c.field, r.Raw)
				}
				return
			}
			if len(r.Errors) > 0 {
				t.Fatalf("unexpected errors: %s", r.Raw)
			}
			jsonEqual(t, r.Data, os.Expand(c.want, func(k string) string { s, _ := v[k].(string); return s }))
		})
	}
}
