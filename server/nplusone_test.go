package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// TestNoNPlusOne counts the SQL statements of nested lists: the count must
// not grow with the page size, because every level is one batched read.
func TestNoNPlusOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLoaderWait(50*time.Millisecond))
	admin := e.mustUser("Admin", switchyard.RoleAdmin)
	token := e.token(admin)
	customers := make([]*switchyard.User, 6)
	for i := range customers {
		customers[i] = e.mustUser(fmt.Sprintf("Customer %d", i), switchyard.RoleMember)
	}
	for p := range 3 {
		project := e.mustProject(fmt.Sprintf("Project %d", p), customers[p])
		for o := range 20 {
			order := e.mustOrder(project, customers[(p+o)%len(customers)])
			if o%3 == 0 {
				if _, err := e.orders.UpdateOrderStatus(adminCtx(), order.ID, switchyard.OrderPaid, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	queries := []struct {
		name  string
		query string // %d is the page size
		// rows checks the page was really that big, so a smaller count is
		// not the result of fewer rows.
		rows func(n int) int
	}{
		{"projects.orders.customer+items",
			`{ projects(first: 3) { edges { node { name orders(first: %d) { edges { node { customer { name } items { sku } } } } } } } }`,
			func(n int) int { return 3 * n }},
		{"orders.project+customer+items+history",
			`{ orders(first: %d) { edges { node { project { name } customer { name } items { sku } history { to actor { name } } } } } }`,
			func(n int) int { return n }},
		{"users.orders+projects",
			`{ users(first: %d) { edges { node { orders(first: 5) { edges { node { number } } } projects { edges { node { name owner { name } } } } } } } }`,
			func(n int) int { return n }},
		{"projects.members",
			`{ projects(first: 3) { edges { node { owner { name } members(first: %d) { edges { node { name } } } } } } }`,
			func(int) int { return 3 }},
	}
	t.Run("_entities", func(t *testing.T) {
		e.t = t
		r := e.gql(token, `{ orders(first: 20) { edges { node { id } } } }`, nil)
		var page struct {
			Orders struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		r.decode(t, &page)
		counts := map[int]int64{}
		for _, n := range []int{5, 20} {
			reps := []any{map[string]any{"__typename": "Order", "id": "not-an-id"}}
			for _, edge := range page.Orders.Edges[:n] {
				reps = append(reps, map[string]any{"__typename": "Order", "id": edge.Node.ID})
			}
			before := e.stmts.n.Load()
			r := e.gql(token, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { number customer { name } items { sku } } } }`, map[string]any{"r": reps})
			counts[n] = e.stmts.n.Load() - before
			if len(r.Errors) > 0 || strings.Count(string(r.Data), `"number"`) != n || !strings.HasPrefix(string(r.Data), `{"_entities":[null,`) {
				t.Fatalf("%d representations: %s", n, r.Raw)
			}
		}
		t.Logf("statements by representations: %v", counts)
		if counts[5] != counts[20] {
			t.Fatalf("statement count grows with the representations: %v", counts)
		}
	})
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			e.t = t
			counts := map[int]int64{}
			for _, n := range []int{5, 10, 20} {
				query := fmt.Sprintf(q.query, n)
				before := e.stmts.n.Load()
				r := e.gql(token, query, nil)
				counts[n] = e.stmts.n.Load() - before
				if len(r.Errors) > 0 {
					t.Fatalf("first %d: %s", n, r.Raw)
				}
				if nodes := strings.Count(string(r.Data), `"node":`); nodes < q.rows(n) {
					t.Fatalf("first %d: only %d nodes; the fixture is too small to prove anything", n, nodes)
				}
			}
			t.Logf("statements by page size: %v", counts)
			if counts[5] != counts[10] || counts[10] != counts[20] {
				t.Fatalf("statement count grows with the page size: %v", counts)
			}
			if counts[20] > 8 {
				t.Fatalf("%d statements for one request; expected one per level plus authentication", counts[20])
			}
		})
	}
}
