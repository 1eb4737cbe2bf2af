package postgres

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// listedOrder is the ground truth about an order, read straight from the
// table, to compare the service's lists against.
type listedOrder struct {
	ID, Number, ProjectID, CustomerID string
	Status                            switchyard.OrderStatus
	Total                             *big.Rat
	CreatedAt                         time.Time
}

// seedOrder inserts an order with a chosen total, status and creation time,
// bypassing the service so lists can be built with ties and spread in time.
func (f *orderFixture) seedOrder(t *testing.T, projectID, customerID string, status switchyard.OrderStatus, total string, created time.Time) listedOrder {
	t.Helper()
	var o listedOrder
	err := f.DB.Pool().QueryRow(context.Background(), `INSERT INTO orders (project_id, customer_id, status, currency, total, created_at, updated_at)
		VALUES ($1, $2, $3, 'USD', $4::numeric, $5, $5) RETURNING id::text, number, created_at`,
		projectID, customerID, string(status), total, created).Scan(&o.ID, &o.Number, &o.CreatedAt)
	if err != nil {
		t.Fatalf("seed order: %v", err)
	}
	o.ProjectID, o.CustomerID, o.Status = projectID, customerID, status
	o.Total, _ = new(big.Rat).SetString(total)
	return o
}

// compareOrders orders two orders as the service should for key.
func compareOrders(field switchyard.OrderOrderField, dir switchyard.SortDirection) func(a, b listedOrder) int {
	return func(a, b listedOrder) int {
		var c int
		switch field {
		case switchyard.OrderOrderCreatedAt:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case switchyard.OrderOrderTotal:
			c = a.Total.Cmp(b.Total)
		case switchyard.OrderOrderNumber:
			c = strings.Compare(a.Number, b.Number)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if dir == switchyard.SortDesc {
			c = -c
		}
		return c
	}
}

func listedFromOrder(o *switchyard.Order) listedOrder {
	r, ok := new(big.Rat).SetString(string(o.Total))
	if !ok {
		panic("bad total " + o.Total)
	}
	return listedOrder{ID: o.ID, Number: o.Number, ProjectID: o.ProjectID, CustomerID: o.CustomerID, Status: o.Status, Total: r, CreatedAt: o.CreatedAt}
}

func ids(os []listedOrder) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID
	}
	return out
}

func edgeIDs(c *switchyard.OrderConnection) []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.ID
	}
	return out
}

var orderSorts = []switchyard.OrderOrder{
	{Field: switchyard.OrderOrderCreatedAt, Direction: switchyard.SortAsc},
	{Field: switchyard.OrderOrderCreatedAt, Direction: switchyard.SortDesc},
	{Field: switchyard.OrderOrderTotal, Direction: switchyard.SortAsc},
	{Field: switchyard.OrderOrderTotal, Direction: switchyard.SortDesc},
	{Field: switchyard.OrderOrderNumber, Direction: switchyard.SortAsc},
	{Field: switchyard.OrderOrderNumber, Direction: switchyard.SortDesc},
}

// seedPagingOrders spreads orders over few creation times and few totals so
// every sort has ties that only the id breaks; some are in another tenant's
// project, which Member must never page through.
func (f *orderFixture) seedPagingOrders(t *testing.T, n int) (visible []listedOrder) {
	t.Helper()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	totals := []string{"9.99", "10.00", "100.00", "0.50", "10.00", "1000.00", "9.99"}
	for i := range n {
		project, customer := f.Project.ID, f.Customer.ID
		if i%5 == 4 {
			project, customer = f.OtherProject.ID, f.OtherMate.ID
		}
		o := f.seedOrder(t, project, customer, switchyard.OrderPending, totals[i%len(totals)], base.Add(time.Duration(i%4)*time.Second+time.Duration(i%3)*time.Microsecond))
		if project == f.Project.ID {
			visible = append(visible, o)
		}
	}
	return visible
}

func TestFindOrdersPagesEverySortBothWays(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	visible := f.seedPagingOrders(t, 40)
	ctx := userCtx(context.Background(), f.Member)
	for _, order := range orderSorts {
		for _, size := range []int{1, 3, 7, 100} {
			t.Run(fmt.Sprintf("%s %s by %d", order.Field, order.Direction, size), func(t *testing.T) {
				t.Parallel()
				want := slices.Clone(visible)
				slices.SortFunc(want, compareOrders(order.Field, order.Direction))

				var forward []string
				page := switchyard.PageArgs{First: ptr(size)}
				for i := 0; ; i++ {
					conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, page, order)
					if err != nil {
						t.Fatal(err)
					}
					if conn.PageInfo.HasPreviousPage != (i > 0) {
						t.Fatalf("page %d: hasPreviousPage = %v", i, conn.PageInfo.HasPreviousPage)
					}
					forward = append(forward, edgeIDs(conn)...)
					if !conn.PageInfo.HasNextPage {
						break
					}
					if len(conn.Edges) != size || *conn.PageInfo.EndCursor != conn.Edges[size-1].Cursor || i > len(visible) {
						t.Fatalf("page %d: %d edges, endCursor %v", i, len(conn.Edges), conn.PageInfo.EndCursor)
					}
					page.After = conn.PageInfo.EndCursor
				}
				if !slices.Equal(forward, ids(want)) {
					t.Fatalf("forward pages:\n got %v\nwant %v", forward, ids(want))
				}

				var backward []string
				page = switchyard.PageArgs{Last: ptr(size)}
				for i := 0; ; i++ {
					conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, page, order)
					if err != nil {
						t.Fatal(err)
					}
					if conn.PageInfo.HasNextPage != (i > 0) {
						t.Fatalf("backward page %d: hasNextPage = %v", i, conn.PageInfo.HasNextPage)
					}
					backward = append(edgeIDs(conn), backward...)
					if !conn.PageInfo.HasPreviousPage {
						break
					}
					if len(conn.Edges) != size || i > len(visible) {
						t.Fatalf("backward page %d: %d edges", i, len(conn.Edges))
					}
					page.Before = conn.PageInfo.StartCursor
				}
				if !slices.Equal(backward, ids(want)) {
					t.Fatalf("backward pages:\n got %v\nwant %v", backward, ids(want))
				}

				// Every total comes back with the scale it was stored with.
				conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(size)}, order)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range conn.Edges {
					if switchyard.Decimal(e.Node.Total).Scale() != 2 {
						t.Fatalf("total %q lost its scale", e.Node.Total)
					}
				}
			})
		}
	}

	t.Run("default is newest first", func(t *testing.T) {
		t.Parallel()
		want := slices.Clone(visible)
		slices.SortFunc(want, compareOrders(switchyard.OrderOrderCreatedAt, switchyard.SortDesc))
		conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{})
		if err != nil {
			t.Fatal(err)
		}
		if got := edgeIDs(conn); !slices.Equal(got, ids(want)[:switchyard.DefaultPageSize]) || !conn.PageInfo.HasNextPage {
			t.Fatalf("default page %v", got)
		}
	})
	t.Run("first zero", func(t *testing.T) {
		t.Parallel()
		conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(0)}, switchyard.OrderOrder{})
		if err != nil || len(conn.Edges) != 0 || !conn.PageInfo.HasNextPage || conn.PageInfo.EndCursor != nil {
			t.Fatalf("first 0: %+v, %v", conn, err)
		}
	})
}

// TestFindOrdersPagesUnderConcurrentInserts pages while orders are created,
// both between pages and from another goroutine during the walk: no order is
// returned twice, the walk stays sorted, and every order that existed before
// the walk began is returned.
func TestFindOrdersPagesUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	for _, order := range orderSorts {
		t.Run(fmt.Sprintf("%s %s", order.Field, order.Direction), func(t *testing.T) {
			t.Parallel()
			// A database each: the walks must not page through each other's
			// inserts.
			f := newOrderFixture(t)
			existing := f.seedPagingOrders(t, 30)
			ctx := userCtx(context.Background(), f.Member)
			prices := []string{"0.01", "9.99", "10.00", "55.55", "100.00", "5000.00"}
			create := func(i int) error {
				_, err := f.Orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Customer.ID, Currency: "USD", Items: items(prices[i%len(prices)])})
				return err
			}

			done := make(chan struct{})
			bgErr := make(chan error, 1)
			go func() {
				// Bounded: stops when the walk ends or after 100 orders.
				for i := 0; i < 100; i++ {
					select {
					case <-done:
						bgErr <- nil
						return
					default:
					}
					if err := create(i); err != nil {
						bgErr <- err
						return
					}
				}
				bgErr <- nil
			}()

			var seen []listedOrder
			page := switchyard.PageArgs{First: ptr(4)}
			for i := 0; ; i++ {
				conn, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, page, order)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range conn.Edges {
					seen = append(seen, listedFromOrder(e.Node))
				}
				if !conn.PageInfo.HasNextPage {
					break
				}
				if i > 1000 {
					t.Fatal("the walk does not end")
				}
				page.After = conn.PageInfo.EndCursor
				for j := range 2 {
					if err := create(i*2 + j); err != nil {
						t.Fatal(err)
					}
				}
			}
			close(done)
			if err := <-bgErr; err != nil {
				t.Fatal(err)
			}

			cmpFn := compareOrders(order.Field, order.Direction)
			got := map[string]bool{}
			for i, o := range seen {
				if got[o.ID] {
					t.Fatalf("order %s returned twice", o.ID)
				}
				got[o.ID] = true
				if i > 0 && cmpFn(seen[i-1], o) >= 0 {
					t.Fatalf("walk out of order at %d", i)
				}
			}
			for _, o := range existing {
				if !got[o.ID] {
					t.Fatalf("order %s existed before the walk and was skipped", o.ID)
				}
			}
		})
	}
}

func TestFindOrdersFiltersAndCounts(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return base.AddDate(0, 0, n) }
	type seed struct {
		project  *switchyard.Project
		customer *switchyard.User
		status   switchyard.OrderStatus
		total    string
		day      int
	}
	seeds := []seed{
		{f.Project, f.Customer, switchyard.OrderPending, "9.99", 0},
		{f.Project, f.Customer, switchyard.OrderPaid, "10.00", 1},
		{f.Project, f.Member, switchyard.OrderShipped, "100.00", 2},
		{f.Project, f.Owner, switchyard.OrderPaid, "10.01", 3},
		{f.Project, f.Customer, switchyard.OrderCancelled, "0.00", 4},
		{f.OtherProject, f.OtherMate, switchyard.OrderPaid, "10.00", 2},
		{f.OtherProject, f.Customer, switchyard.OrderDelivered, "250.00", 5},
	}
	var all []listedOrder
	for _, s := range seeds {
		all = append(all, f.seedOrder(t, s.project.ID, s.customer.ID, s.status, s.total, day(s.day)))
	}
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	dec := func(s string) *switchyard.Decimal { d := switchyard.Decimal(s); return &d }
	readable := map[string]func(listedOrder) bool{
		"member":   func(o listedOrder) bool { return o.ProjectID == f.Project.ID || o.CustomerID == f.Member.ID },
		"customer": func(o listedOrder) bool { return o.CustomerID == f.Customer.ID },
		"admin":    func(listedOrder) bool { return true },
	}
	callers := map[string]context.Context{
		"member":   userCtx(context.Background(), f.Member),
		"customer": userCtx(context.Background(), f.Customer),
		"admin":    userCtx(context.Background(), f.Admin),
	}
	tests := []struct {
		name   string
		filter switchyard.OrderFilter
		keep   func(listedOrder) bool
	}{
		{"none", switchyard.OrderFilter{}, func(listedOrder) bool { return true }},
		{"one status", switchyard.OrderFilter{Status: []switchyard.OrderStatus{switchyard.OrderPaid}}, func(o listedOrder) bool { return o.Status == switchyard.OrderPaid }},
		{"any of statuses", switchyard.OrderFilter{Status: []switchyard.OrderStatus{switchyard.OrderShipped, switchyard.OrderDelivered}},
			func(o listedOrder) bool {
				return o.Status == switchyard.OrderShipped || o.Status == switchyard.OrderDelivered
			}},
		{"project", switchyard.OrderFilter{ProjectID: &f.Project.ID}, func(o listedOrder) bool { return o.ProjectID == f.Project.ID }},
		{"other project", switchyard.OrderFilter{ProjectID: &f.OtherProject.ID}, func(o listedOrder) bool { return o.ProjectID == f.OtherProject.ID }},
		{"malformed project id", switchyard.OrderFilter{ProjectID: ptr("p1")}, func(listedOrder) bool { return false }},
		{"customer", switchyard.OrderFilter{CustomerID: &f.Customer.ID}, func(o listedOrder) bool { return o.CustomerID == f.Customer.ID }},
		{"created after, exclusive", switchyard.OrderFilter{CreatedAfter: ptr(day(2))}, func(o listedOrder) bool { return o.CreatedAt.After(day(2)) }},
		{"created before, exclusive", switchyard.OrderFilter{CreatedBefore: ptr(day(2))}, func(o listedOrder) bool { return o.CreatedAt.Before(day(2)) }},
		{"created window", switchyard.OrderFilter{CreatedAfter: ptr(day(1)), CreatedBefore: ptr(day(4))},
			func(o listedOrder) bool { return o.CreatedAt.After(day(1)) && o.CreatedAt.Before(day(4)) }},
		// As text "100.00" < "9.99"; as numbers it is not.
		{"min total is numeric", switchyard.OrderFilter{MinTotal: dec("10.00")}, func(o listedOrder) bool { return o.Total.Cmp(rat("10")) >= 0 }},
		{"max total is numeric", switchyard.OrderFilter{MaxTotal: dec("10")}, func(o listedOrder) bool { return o.Total.Cmp(rat("10")) <= 0 }},
		{"total window", switchyard.OrderFilter{MinTotal: dec("9.995"), MaxTotal: dec("100")},
			func(o listedOrder) bool { return o.Total.Cmp(rat("9.995")) >= 0 && o.Total.Cmp(rat("100")) <= 0 }},
		{"combined", switchyard.OrderFilter{ProjectID: &f.Project.ID, Status: []switchyard.OrderStatus{switchyard.OrderPaid}, MinTotal: dec("10.01")},
			func(o listedOrder) bool {
				return o.ProjectID == f.Project.ID && o.Status == switchyard.OrderPaid && o.Total.Cmp(rat("10.01")) >= 0
			}},
	}
	for _, tt := range tests {
		for who, ctx := range callers {
			t.Run(tt.name+"/"+who, func(t *testing.T) {
				t.Parallel()
				var want []listedOrder
				for _, o := range all {
					if readable[who](o) && tt.keep(o) {
						want = append(want, o)
					}
				}
				slices.SortFunc(want, compareOrders(switchyard.OrderOrderCreatedAt, switchyard.SortDesc))
				conn, err := f.Orders.FindOrders(ctx, tt.filter, switchyard.PageArgs{First: ptr(100)}, switchyard.OrderOrder{})
				if err != nil {
					t.Fatal(err)
				}
				if got := edgeIDs(conn); !slices.Equal(got, ids(want)) {
					t.Fatalf("got %v, want %v", got, ids(want))
				}
				n, err := f.Orders.CountOrders(ctx, conn.Filter)
				if err != nil || n != len(want) {
					t.Fatalf("count = %d, %v; want %d", n, err, len(want))
				}
			})
		}
	}
}

func TestFindOrdersRefusesBadArguments(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	f.seedPagingOrders(t, 5)
	ctx := userCtx(context.Background(), f.Member)
	first, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(2)}, switchyard.OrderOrder{Field: switchyard.OrderOrderTotal, Direction: switchyard.SortAsc})
	if err != nil {
		t.Fatal(err)
	}
	totalCursor := first.PageInfo.EndCursor
	forge := func(c cursor) *string {
		return ptr(encodeCursor(c.Sort, c.Value, c.ID))
	}
	dec := func(s string) *switchyard.Decimal { d := switchyard.Decimal(s); return &d }
	later, earlier := time.Now(), time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		filter switchyard.OrderFilter
		page   switchyard.PageArgs
		order  switchyard.OrderOrder
		field  string
	}{
		{"unknown status", switchyard.OrderFilter{Status: []switchyard.OrderStatus{"PAID", "LOST"}}, switchyard.PageArgs{}, switchyard.OrderOrder{}, "filter.status[1]"},
		{"min above max", switchyard.OrderFilter{MinTotal: dec("10.00"), MaxTotal: dec("9.99")}, switchyard.PageArgs{}, switchyard.OrderOrder{}, "filter.minTotal"},
		{"min not a decimal", switchyard.OrderFilter{MinTotal: dec("ten")}, switchyard.PageArgs{}, switchyard.OrderOrder{}, "filter.minTotal"},
		{"max not a decimal", switchyard.OrderFilter{MaxTotal: dec("1e9")}, switchyard.PageArgs{}, switchyard.OrderOrder{}, "filter.maxTotal"},
		{"after after before", switchyard.OrderFilter{CreatedAfter: &later, CreatedBefore: &earlier}, switchyard.PageArgs{}, switchyard.OrderOrder{}, "filter.createdAfter"},
		{"unknown sort field", switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{Field: "PRICE"}, "orderBy.field"},
		{"unknown direction", switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{Direction: "UP"}, "orderBy.direction"},
		{"first above cap", switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(101)}, switchyard.OrderOrder{}, "first"},
		{"last above cap", switchyard.OrderFilter{}, switchyard.PageArgs{Last: ptr(1000)}, switchyard.OrderOrder{}, "last"},
		{"negative first", switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(-1)}, switchyard.OrderOrder{}, "first"},
		{"first and last", switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(1), Last: ptr(1)}, switchyard.OrderOrder{}, "last"},
		{"malformed cursor", switchyard.OrderFilter{}, switchyard.PageArgs{After: ptr("not a cursor")}, switchyard.OrderOrder{}, "after"},
		{"cursor of another sort", switchyard.OrderFilter{}, switchyard.PageArgs{After: totalCursor}, switchyard.OrderOrder{Field: switchyard.OrderOrderNumber}, "after"},
		{"tampered timestamp", switchyard.OrderFilter{}, switchyard.PageArgs{After: forge(cursor{Sort: "order.createdAt", Value: "yesterday-ish", ID: f.Project.ID})}, switchyard.OrderOrder{}, "after"},
		{"tampered total", switchyard.OrderFilter{}, switchyard.PageArgs{Before: forge(cursor{Sort: "order.total", Value: "NaNish", ID: f.Project.ID})},
			switchyard.OrderOrder{Field: switchyard.OrderOrderTotal}, "before"},
		{"cursor that is not json", switchyard.OrderFilter{}, switchyard.PageArgs{After: ptr(base64.RawURLEncoding.EncodeToString([]byte("{")))}, switchyard.OrderOrder{}, "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.Orders.FindOrders(ctx, tt.filter, tt.page, tt.order)
			wantError(t, err, switchyard.EINVALID, tt.field)
			_, err = f.Orders.FindOrdersByProjects(ctx, []string{f.Project.ID}, tt.filter, tt.page, tt.order)
			wantError(t, err, switchyard.EINVALID, tt.field)
			_, err = f.Orders.FindOrdersByCustomers(ctx, []string{f.Customer.ID}, tt.filter, tt.page, tt.order)
			wantError(t, err, switchyard.EINVALID, tt.field)
			if tt.page == (switchyard.PageArgs{}) && tt.order == (switchyard.OrderOrder{}) {
				_, err = f.Orders.CountOrders(ctx, tt.filter)
				wantError(t, err, switchyard.EINVALID, tt.field)
			}
		})
	}
	for name, run := range map[string]func(context.Context) error{
		"FindOrders": func(ctx context.Context) error {
			_, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{})
			return err
		},
		"CountOrders": func(ctx context.Context) error {
			_, err := f.Orders.CountOrders(ctx, switchyard.OrderFilter{})
			return err
		},
		"FindOrdersByProjects": func(ctx context.Context) error {
			_, err := f.Orders.FindOrdersByProjects(ctx, []string{f.Project.ID}, switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{})
			return err
		},
		"FindOrdersByCustomers": func(ctx context.Context) error {
			_, err := f.Orders.FindOrdersByCustomers(ctx, []string{f.Customer.ID}, switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{})
			return err
		},
	} {
		t.Run("anonymous "+name, func(t *testing.T) {
			t.Parallel()
			wantError(t, run(anonCtx(context.Background())), switchyard.EUNAUTHENTICATED, "")
		})
	}
}

// sameConnection fails t unless two connections hold the same edges, cursors
// and page info.
func sameConnection(t *testing.T, label string, got, want *switchyard.OrderConnection) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no connection", label)
	}
	if len(got.Edges) != len(want.Edges) {
		t.Fatalf("%s: %d edges, want %d (%v vs %v)", label, len(got.Edges), len(want.Edges), edgeIDs(got), edgeIDs(want))
	}
	for i := range got.Edges {
		g, w := got.Edges[i], want.Edges[i]
		if g.Cursor != w.Cursor || g.Node.ID != w.Node.ID || g.Node.Total != w.Node.Total || g.Node.Status != w.Node.Status || !g.Node.CreatedAt.Equal(w.Node.CreatedAt) {
			t.Fatalf("%s: edge %d = %s %+v, want %s %+v", label, i, g.Cursor, g.Node, w.Cursor, w.Node)
		}
	}
	gi, wi := got.PageInfo, want.PageInfo
	if gi.HasNextPage != wi.HasNextPage || gi.HasPreviousPage != wi.HasPreviousPage ||
		(gi.StartCursor == nil) != (wi.StartCursor == nil) || (gi.StartCursor != nil && *gi.StartCursor != *wi.StartCursor) ||
		(gi.EndCursor == nil) != (wi.EndCursor == nil) || (gi.EndCursor != nil && *gi.EndCursor != *wi.EndCursor) {
		t.Fatalf("%s: page info %+v, want %+v", label, gi, wi)
	}
}

func TestFindOrdersByProjectsMatchesPerProjectPages(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	busy := mustCreateProject(t, f.Projects, "Busy", f.Member)
	empty := mustCreateProject(t, f.Projects, "Empty", f.Member)
	totals := []string{"5.00", "5.00", "12.50", "99.99", "0.10", "12.50"}
	for i := range 9 {
		f.seedOrder(t, f.Project.ID, f.Customer.ID, switchyard.OrderPending, totals[i%len(totals)], base.Add(time.Duration(i%3)*time.Hour))
	}
	for i := range 4 {
		f.seedOrder(t, busy.ID, f.Owner.ID, switchyard.OrderPaid, totals[i%len(totals)], base.Add(time.Duration(i)*time.Minute))
	}
	// Member reads only their own order in another tenant's project.
	for i := range 3 {
		customer := f.OtherMate.ID
		if i == 1 {
			customer = f.Member.ID
		}
		f.seedOrder(t, f.OtherProject.ID, customer, switchyard.OrderPending, "7.00", base)
	}
	ctx := userCtx(context.Background(), f.Member)
	unknown := "7b0c8a52-5a44-4b8e-9d3c-111111111111"
	parents := []string{f.Project.ID, busy.ID, empty.ID, f.OtherProject.ID, unknown, "not-an-id", f.Project.ID}
	wantCount := map[string]int{f.Project.ID: 9, busy.ID: 4, empty.ID: 0, f.OtherProject.ID: 1, unknown: 0, "not-an-id": 0}

	check := func(t *testing.T, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder) {
		t.Helper()
		before := f.Stmts.Count()
		got, err := f.Orders.FindOrdersByProjects(ctx, parents, filter, page, order)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.Stmts.Count() - before; n != 1 {
			t.Fatalf("%d statements for %d projects, want 1", n, len(parents))
		}
		if len(got) != len(wantCount) {
			t.Fatalf("%d connections, want one per distinct id (%d)", len(got), len(wantCount))
		}
		for _, id := range parents {
			conn := got[id]
			if conn == nil || conn.Filter.ProjectID == nil || *conn.Filter.ProjectID != id {
				t.Fatalf("project %s: connection %+v", id, conn)
			}
			one := filter
			one.ProjectID = &id
			want, err := f.Orders.FindOrders(ctx, one, page, order)
			if err != nil {
				t.Fatal(err)
			}
			sameConnection(t, "project "+id, conn, want)
			n, err := f.Orders.CountOrders(ctx, conn.Filter)
			if err != nil {
				t.Fatal(err)
			}
			if filter.Status == nil && n != wantCount[id] {
				t.Fatalf("project %s: count %d, want %d", id, n, wantCount[id])
			}
		}
	}
	// Sequential: check counts the statements of the shared service.
	for _, order := range orderSorts {
		t.Run(fmt.Sprintf("%s %s", order.Field, order.Direction), func(t *testing.T) {
			check(t, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(2)}, order)
			check(t, switchyard.OrderFilter{}, switchyard.PageArgs{Last: ptr(3)}, order)
			check(t, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(100)}, order)
			// One cursor applies to every parent's list.
			first, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{ProjectID: &f.Project.ID}, switchyard.PageArgs{First: ptr(3)}, order)
			if err != nil {
				t.Fatal(err)
			}
			check(t, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(2), After: first.PageInfo.EndCursor}, order)
			check(t, switchyard.OrderFilter{}, switchyard.PageArgs{Last: ptr(2), Before: first.PageInfo.EndCursor}, order)
			// The parent wins over a project in the filter.
			check(t, switchyard.OrderFilter{ProjectID: &busy.ID, Status: []switchyard.OrderStatus{switchyard.OrderPending}}, switchyard.PageArgs{First: ptr(5)}, order)
		})
	}
	t.Run("no ids", func(t *testing.T) {
		before := f.Stmts.Count()
		got, err := f.Orders.FindOrdersByProjects(ctx, nil, switchyard.OrderFilter{}, switchyard.PageArgs{}, switchyard.OrderOrder{})
		if err != nil || len(got) != 0 || f.Stmts.Count() != before {
			t.Fatalf("%v %v, %d statements", got, err, f.Stmts.Count()-before)
		}
	})
}

func TestFindOrdersByCustomersMatchesPerCustomerPages(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	base := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		f.seedOrder(t, f.Project.ID, f.Customer.ID, switchyard.OrderPending, fmt.Sprintf("%d.00", i%2), base.Add(time.Duration(i%2)*time.Second))
	}
	for i := range 3 {
		f.seedOrder(t, f.OtherProject.ID, f.Customer.ID, switchyard.OrderPaid, "3.00", base.Add(time.Duration(i)*time.Second))
		f.seedOrder(t, f.OtherProject.ID, f.Member.ID, switchyard.OrderPaid, "4.00", base)
	}
	f.seedOrder(t, f.Project.ID, f.Owner.ID, switchyard.OrderPaid, "8.00", base)
	ctx := userCtx(context.Background(), f.Member)
	parents := []string{f.Customer.ID, f.Member.ID, f.Owner.ID, f.Other.ID}
	// Member reads Project's orders and their own: not Customer's orders in
	// OtherProject.
	wantCount := map[string]int{f.Customer.ID: 6, f.Member.ID: 3, f.Owner.ID: 1, f.Other.ID: 0}
	for _, order := range orderSorts {
		for _, page := range []switchyard.PageArgs{{First: ptr(4)}, {Last: ptr(2)}, {}} {
			before := f.Stmts.Count()
			got, err := f.Orders.FindOrdersByCustomers(ctx, parents, switchyard.OrderFilter{}, page, order)
			if err != nil {
				t.Fatal(err)
			}
			if n := f.Stmts.Count() - before; n != 1 {
				t.Fatalf("%d statements, want 1", n)
			}
			for _, id := range parents {
				conn := got[id]
				if conn == nil || conn.Filter.CustomerID == nil || *conn.Filter.CustomerID != id {
					t.Fatalf("customer %s: %+v", id, conn)
				}
				want, err := f.Orders.FindOrders(ctx, switchyard.OrderFilter{CustomerID: &id}, page, order)
				if err != nil {
					t.Fatal(err)
				}
				sameConnection(t, "customer "+id, conn, want)
				if n, err := f.Orders.CountOrders(ctx, conn.Filter); err != nil || n != wantCount[id] {
					t.Fatalf("customer %s: count %d, %v; want %d", id, n, err, wantCount[id])
				}
			}
		}
	}
	// A project in the filter narrows each customer's list.
	got, err := f.Orders.FindOrdersByCustomers(ctx, parents, switchyard.OrderFilter{ProjectID: &f.OtherProject.ID}, switchyard.PageArgs{}, switchyard.OrderOrder{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[f.Member.ID].Edges) != 3 || len(got[f.Customer.ID].Edges) != 0 || *got[f.Member.ID].Filter.ProjectID != f.OtherProject.ID {
		t.Fatalf("narrowed by project: member %d, customer %d", len(got[f.Member.ID].Edges), len(got[f.Customer.ID].Edges))
	}
}

// TestFindOrdersByProjectsUnderConcurrentWrites keeps the batch read honest
// while orders are created and changed in the same projects.
func TestFindOrdersByProjectsUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			o, err := f.Orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "EUR", Items: items(fmt.Sprintf("%d.00", i))})
			if err == nil {
				_, err = f.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPaid, nil)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			m, err := f.Orders.FindOrdersByProjects(ctx, []string{f.Project.ID}, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(100)}, switchyard.OrderOrder{})
			if err == nil {
				seen := map[string]bool{}
				for _, e := range m[f.Project.ID].Edges {
					if seen[e.Node.ID] {
						err = fmt.Errorf("order %s twice", e.Node.ID)
					}
					seen[e.Node.ID] = true
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.Orders.CountOrders(ctx, switchyard.OrderFilter{ProjectID: &f.Project.ID, Status: []switchyard.OrderStatus{switchyard.OrderPaid}})
	if err != nil || n != 20 {
		t.Fatalf("count %d, %v; want 20", n, err)
	}
}
