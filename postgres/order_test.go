package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// orderFixture is a world with an order service on the same database, whose
// statements are counted, and a customer: Loner belongs to no project and
// orders in Project.
type orderFixture struct {
	*world
	Orders   *OrderService
	Stmts    *statementCounter
	Customer *switchyard.User
}

func newOrderFixture(t *testing.T) *orderFixture {
	t.Helper()
	w := newWorld(t)
	counter := &statementCounter{}
	db, err := Open(context.Background(), w.DB.Pool().Config().ConnString(), WithQueryTracer(counter))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	return &orderFixture{world: w, Orders: NewOrderService(db), Stmts: counter, Customer: w.Loner}
}

func items(prices ...string) []switchyard.OrderItemInput {
	out := make([]switchyard.OrderItemInput, len(prices))
	for i, p := range prices {
		out[i] = switchyard.OrderItemInput{SKU: fmt.Sprintf("SKU-%d", i+1), Name: fmt.Sprintf("Item %d", i+1), Quantity: 1, UnitPrice: switchyard.Decimal(p)}
	}
	return out
}

// newOrder creates a USD order in Project for the customer, as the owner.
func (f *orderFixture) newOrder(t *testing.T) *switchyard.Order {
	t.Helper()
	return f.mustCreate(t, userCtx(context.Background(), f.Owner), switchyard.OrderCreate{
		ProjectID: f.Project.ID, CustomerID: &f.Customer.ID, Currency: "USD", Items: items("10.00"),
	})
}

func (f *orderFixture) mustCreate(t *testing.T, ctx context.Context, in switchyard.OrderCreate) *switchyard.Order {
	t.Helper()
	o, err := f.Orders.CreateOrder(ctx, in)
	if err != nil {
		t.Fatalf("create order: %v", err)
	}
	return o
}

// forceStatus puts an order in a status directly, to start a test from any
// point of the lifecycle.
func (f *orderFixture) forceStatus(t *testing.T, id string, s switchyard.OrderStatus) {
	t.Helper()
	if _, err := f.DB.Pool().Exec(context.Background(), `UPDATE orders SET status = $2 WHERE id = $1`, id, string(s)); err != nil {
		t.Fatalf("force status: %v", err)
	}
}

func (f *orderFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.DB.Pool().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("count %q: %v", q, err)
	}
	return n
}

// rowCounts counts everything an order mutation may write.
type rowCounts struct{ Orders, Items, History, Events int }

func (f *orderFixture) rowCounts(t *testing.T) rowCounts {
	t.Helper()
	return rowCounts{
		Orders:  f.count(t, `SELECT count(*) FROM orders`),
		Items:   f.count(t, `SELECT count(*) FROM order_items`),
		History: f.count(t, `SELECT count(*) FROM order_status_changes`),
		Events:  f.count(t, `SELECT count(*) FROM events`),
	}
}

// orderSubjectCounts counts one order's history and events, so subtests that
// share a database can check what their own call wrote.
func (f *orderFixture) orderSubjectCounts(t *testing.T, id string) (history, events int) {
	t.Helper()
	return f.count(t, `SELECT count(*) FROM order_status_changes WHERE order_id = $1`, id),
		f.count(t, `SELECT count(*) FROM events WHERE subject_id = $1`, id)
}

// wantError fails t unless err carries code and, when field is not empty,
// names field.
func wantError(t testing.TB, err error, code, field string) {
	t.Helper()
	wantCode(t, err, code)
	if field != "" && switchyard.ErrorField(err) != field {
		t.Fatalf("error field = %q, want %q (err: %v)", switchyard.ErrorField(err), field, err)
	}
}

var orderNumberPattern = regexp.MustCompile(`^SO-[0-9]{6,}$`)

func TestCreateOrderTotalsAreExact(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	type line struct {
		qty   int
		price string
	}
	tests := []struct {
		name      string
		currency  string
		lines     []line
		wantCur   string
		wantPrice []string
		wantLines []string
		wantTotal string
	}{
		{"three times 19.99", "USD", []line{{3, "19.99"}}, "USD", []string{"19.99"}, []string{"59.97"}, "59.97"},
		{"cents that floats get wrong", "USD", []line{{1, "0.10"}, {1, "0.20"}, {3, "0.10"}}, "USD", []string{"0.10", "0.20", "0.10"}, []string{"0.10", "0.20", "0.30"}, "0.60"},
		{"whole price gets the currency's scale", "EUR", []line{{2, "5"}, {1, "0.5"}}, "EUR", []string{"5.00", "0.50"}, []string{"10.00", "0.50"}, "10.50"},
		{"JPY has no decimals", "JPY", []line{{2, "1500"}, {1, "99"}}, "JPY", []string{"1500", "99"}, []string{"3000", "99"}, "3099"},
		{"BHD has three decimals", "BHD", []line{{3, "1.234"}, {1, "0.001"}}, "BHD", []string{"1.234", "0.001"}, []string{"3.702", "0.001"}, "3.703"},
		{"free item", "GBP", []line{{1, "0"}}, "GBP", []string{"0.00"}, []string{"0.00"}, "0.00"},
		{"beyond float precision", "USD", []line{{1_000_000, "123456789012345.67"}, {1, "0.01"}}, "USD",
			[]string{"123456789012345.67", "0.01"}, []string{"123456789012345670000.00", "0.01"}, "123456789012345670000.01"},
		{"currency is normalized", " usd ", []line{{1, "1.99"}}, "USD", []string{"1.99"}, []string{"1.99"}, "1.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: tt.currency}
			for i, l := range tt.lines {
				// SKUs out of alphabetical order prove items come back in entry order.
				in.Items = append(in.Items, switchyard.OrderItemInput{SKU: fmt.Sprintf("%c-sku", 'z'-i), Name: "Thing", Quantity: l.qty, UnitPrice: switchyard.Decimal(l.price)})
			}
			o := f.mustCreate(t, ctx, in)
			if o.Total != switchyard.Decimal(tt.wantTotal) || o.Currency != tt.wantCur {
				t.Fatalf("total = %s %s, want %s %s", o.Total, o.Currency, tt.wantTotal, tt.wantCur)
			}
			if o.Status != switchyard.OrderPending || o.CustomerID != f.Member.ID || o.ProjectID != f.Project.ID || !orderNumberPattern.MatchString(o.Number) {
				t.Fatalf("created %+v", o)
			}
			again, err := f.Orders.FindOrderByID(ctx, o.ID)
			if err != nil || again.Total != o.Total || again.Number != o.Number {
				t.Fatalf("read back %+v, %v; want total %s", again, err, o.Total)
			}
			got, err := f.Orders.FindOrderItems(ctx, []string{o.ID})
			if err != nil {
				t.Fatal(err)
			}
			its := got[o.ID]
			if len(its) != len(tt.lines) {
				t.Fatalf("%d items, want %d", len(its), len(tt.lines))
			}
			for i, it := range its {
				if it.SKU != fmt.Sprintf("%c-sku", 'z'-i) || it.Quantity != tt.lines[i].qty || it.Currency != tt.wantCur ||
					it.UnitPrice != switchyard.Decimal(tt.wantPrice[i]) || it.LineTotal != switchyard.Decimal(tt.wantLines[i]) || it.OrderID != o.ID {
					t.Errorf("item %d = %+v, want price %s line %s", i, *it, tt.wantPrice[i], tt.wantLines[i])
				}
			}
		})
	}
}

func TestCreateOrderBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	tooMany := make([]switchyard.OrderItemInput, switchyard.MaxOrderItems+1)
	for i := range tooMany {
		tooMany[i] = switchyard.OrderItemInput{SKU: "S", Name: "N", Quantity: 1, UnitPrice: "1.00"}
	}
	item := func(sku, name string, qty int, price string) []switchyard.OrderItemInput {
		return []switchyard.OrderItemInput{{SKU: sku, Name: name, Quantity: qty, UnitPrice: switchyard.Decimal(price)}}
	}
	archived := mustCreateProject(t, f.Projects, "Archived", f.Owner)
	if _, err := f.Projects.ArchiveProject(adminCtx(context.Background()), archived.ID); err != nil {
		t.Fatal(err)
	}
	deleted := mustCreateProject(t, f.Projects, "Deleted", f.Owner)
	if _, err := f.Projects.DeleteProject(adminCtx(context.Background()), deleted.ID); err != nil {
		t.Fatal(err)
	}
	gone := mustCreateUser(t, f.Users, "Gone Customer", switchyard.RoleMember)
	if err := f.Users.DeleteUser(adminCtx(context.Background()), gone.ID); err != nil {
		t.Fatal(err)
	}
	unknownID := "7b0c8a52-5a44-4b8e-9d3c-111111111111"

	tests := []struct {
		name  string
		ctx   context.Context
		in    switchyard.OrderCreate
		code  string
		field string
	}{
		{"quantity zero", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 0, "1.00")}, switchyard.EINVALID, "input.items[0].quantity"},
		{"quantity negative", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", -1, "1.00")}, switchyard.EINVALID, "input.items[0].quantity"},
		{"quantity too large", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1_000_001, "1.00")}, switchyard.EINVALID, "input.items[0].quantity"},
		{"unknown currency", ctx, switchyard.OrderCreate{Currency: "XXX", Items: item("A", "N", 1, "1.00")}, switchyard.EINVALID, "input.currency"},
		{"empty currency", ctx, switchyard.OrderCreate{Currency: "", Items: item("A", "N", 1, "1.00")}, switchyard.EINVALID, "input.currency"},
		{"negative price", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1, "-1.00")}, switchyard.EINVALID, "input.items[0].unitPrice"},
		{"too many decimals for USD", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1, "1.001")}, switchyard.EINVALID, "input.items[0].unitPrice"},
		{"any decimals for JPY", ctx, switchyard.OrderCreate{Currency: "JPY", Items: item("A", "N", 1, "100.5")}, switchyard.EINVALID, "input.items[0].unitPrice"},
		{"too many decimals for BHD", ctx, switchyard.OrderCreate{Currency: "BHD", Items: item("A", "N", 1, "1.0001")}, switchyard.EINVALID, "input.items[0].unitPrice"},
		{"price not a decimal", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1, "1e3")}, switchyard.EINVALID, "input.items[0].unitPrice"},
		{"empty items", ctx, switchyard.OrderCreate{Currency: "USD"}, switchyard.EINVALID, "input.items"},
		{"too many items", ctx, switchyard.OrderCreate{Currency: "USD", Items: tooMany}, switchyard.EINVALID, "input.items"},
		{"empty sku", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("  ", "N", 1, "1.00")}, switchyard.EINVALID, "input.items[0].sku"},
		{"empty name", ctx, switchyard.OrderCreate{Currency: "USD", Items: item("A", "", 1, "1.00")}, switchyard.EINVALID, "input.items[0].name"},
		{"second item bad", ctx, switchyard.OrderCreate{Currency: "USD", Items: append(item("A", "N", 1, "1.00"), item("B", "N", 0, "1.00")...)}, switchyard.EINVALID, "input.items[1].quantity"},
		{"archived project", ctx, switchyard.OrderCreate{ProjectID: archived.ID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.EINVALID, "input.projectId"},
		{"deleted project, admin", userCtx(context.Background(), f.Admin), switchyard.OrderCreate{ProjectID: deleted.ID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.EINVALID, "input.projectId"},
		{"deleted project, owner", ctx, switchyard.OrderCreate{ProjectID: deleted.ID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.projectId"},
		{"unknown project", ctx, switchyard.OrderCreate{ProjectID: unknownID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.projectId"},
		{"malformed project id", ctx, switchyard.OrderCreate{ProjectID: "project-1", Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.projectId"},
		{"unknown customer", ctx, switchyard.OrderCreate{CustomerID: &unknownID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.customerId"},
		{"malformed customer id", ctx, switchyard.OrderCreate{CustomerID: ptr("bob"), Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.customerId"},
		{"deleted customer", ctx, switchyard.OrderCreate{CustomerID: &gone.ID, Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.customerId"},
		{"anonymous", anonCtx(context.Background()), switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.EUNAUTHENTICATED, ""},
		{"another tenant", userCtx(context.Background(), f.Other), switchyard.OrderCreate{Currency: "USD", Items: item("A", "N", 1, "1.00")}, switchyard.ENOTFOUND, "input.projectId"},
	}
	// Sequential: each case compares whole-table counts.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.ProjectID == "" {
				tt.in.ProjectID = f.Project.ID
			}
			before := f.rowCounts(t)
			o, err := f.Orders.CreateOrder(tt.ctx, tt.in)
			wantError(t, err, tt.code, tt.field)
			if o != nil {
				t.Fatalf("got an order with an error: %+v", o)
			}
			if after := f.rowCounts(t); after != before {
				t.Fatalf("rows changed: %+v → %+v", before, after)
			}
		})
	}
}

func TestCreateOrderRecordsHistoryAndEvent(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	last := lastEventID(t, f.DB)
	before := f.rowCounts(t)
	o := f.mustCreate(t, ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Customer.ID, Currency: "USD", Items: items("19.99", "0.01")})
	after := f.rowCounts(t)
	if want := (rowCounts{before.Orders + 1, before.Items + 2, before.History + 1, before.Events + 1}); after != want {
		t.Fatalf("rows %+v, want %+v", after, want)
	}
	if o.CustomerID != f.Customer.ID || o.Total != "20.00" {
		t.Fatalf("order %+v", o)
	}

	hist, err := f.Orders.FindOrderHistory(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	h := hist[o.ID]
	if len(h) != 1 || h[0].From != nil || h[0].To != switchyard.OrderPending || h[0].ActorID == nil || *h[0].ActorID != f.Member.ID || h[0].Note != nil {
		t.Fatalf("history %+v", h)
	}

	evs := eventsAfter(t, f.DB, last)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	if e.Type != switchyard.EventOrderCreated || e.SubjectType != "order" || e.SubjectID != o.ID ||
		e.ProjectID == nil || *e.ProjectID != f.Project.ID || e.ActorID == nil || *e.ActorID != f.Member.ID ||
		len(e.UserIDs) != 1 || e.UserIDs[0] != f.Customer.ID {
		t.Fatalf("event %+v", e)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatal(err)
	}
	// Money in the log is a string, never a JSON number.
	if data["total"] != "20.00" || data["number"] != o.Number || data["status"] != "PENDING" || data["currency"] != "USD" {
		t.Fatalf("event data %s", e.Data)
	}
}

func TestCreateOrderCustomerDefaultsToCaller(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	o := f.mustCreate(t, userCtx(context.Background(), f.Owner), switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "USD", Items: items("1.00")})
	if o.CustomerID != f.Owner.ID {
		t.Fatalf("customer = %s, want the caller %s", o.CustomerID, f.Owner.ID)
	}
	// A system admin that is no users row has no customer to default to, and
	// its history entries are the system's.
	_, err := f.Orders.CreateOrder(adminCtx(context.Background()), switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "USD", Items: items("1.00")})
	wantError(t, err, switchyard.ENOTFOUND, "input.customerId")
	o = f.mustCreate(t, adminCtx(context.Background()), switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Customer.ID, Currency: "USD", Items: items("1.00")})
	hist, err := f.Orders.FindOrderHistory(context.Background(), []string{o.ID})
	if err != nil || len(hist[o.ID]) != 1 || hist[o.ID][0].ActorID != nil {
		t.Fatalf("history %+v, %v; want one entry by the system", hist[o.ID], err)
	}
}

func TestCreateOrderNumbersUniqueUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		numbers = map[string]bool{}
		errs    []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			caller := f.Owner
			if i%2 == 1 {
				caller = f.Member
			}
			o, err := f.Orders.CreateOrder(userCtx(context.Background(), caller), switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "USD", Items: items("1.00")})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if numbers[o.Number] || !orderNumberPattern.MatchString(o.Number) {
				errs = append(errs, fmt.Errorf("number %q repeated or malformed", o.Number))
			}
			numbers[o.Number] = true
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(numbers) != n {
		t.Fatalf("%d distinct numbers, want %d", len(numbers), n)
	}
	if got := f.count(t, `SELECT count(DISTINCT number) FROM orders`); got != n {
		t.Fatalf("%d distinct numbers stored, want %d", got, n)
	}
}

var allOrderStatuses = []switchyard.OrderStatus{
	switchyard.OrderPending, switchyard.OrderPaid, switchyard.OrderFulfilled, switchyard.OrderShipped,
	switchyard.OrderDelivered, switchyard.OrderCancelled, switchyard.OrderRefunded,
}

// TestUpdateOrderStatusTransitionTable tries every from × to pair and checks
// that the service agrees with the lifecycle, records exactly the allowed
// steps, and leaves a refused order untouched.
func TestUpdateOrderStatusTransitionTable(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	for _, from := range allOrderStatuses {
		for _, to := range allOrderStatuses {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				t.Parallel()
				o := f.newOrder(t)
				f.forceStatus(t, o.ID, from)
				hist0, ev0 := f.orderSubjectCounts(t, o.ID)
				got, err := f.Orders.UpdateOrderStatus(ctx, o.ID, to, ptr("step"))
				hist1, ev1 := f.orderSubjectCounts(t, o.ID)
				if !from.CanTransitionTo(to) {
					wantError(t, err, switchyard.EINVALID, "status")
					if hist1 != hist0 || ev1 != ev0 {
						t.Fatalf("refused step wrote history %d→%d events %d→%d", hist0, hist1, ev0, ev1)
					}
					now, err := f.Orders.FindOrderByID(ctx, o.ID)
					if err != nil || now.Status != from {
						t.Fatalf("status after refused step = %v (%v), want %s", now, err, from)
					}
					return
				}
				if err != nil {
					t.Fatalf("allowed step refused: %v", err)
				}
				if got.Status != to || !got.UpdatedAt.After(o.UpdatedAt) && !got.UpdatedAt.Equal(o.UpdatedAt) {
					t.Fatalf("order after step %+v", got)
				}
				if hist1 != hist0+1 || ev1 != ev0+1 {
					t.Fatalf("allowed step wrote history %d→%d events %d→%d, want one each", hist0, hist1, ev0, ev1)
				}
				h, err := f.Orders.FindOrderHistory(ctx, []string{o.ID})
				if err != nil {
					t.Fatal(err)
				}
				lastStep := h[o.ID][len(h[o.ID])-1]
				if lastStep.From == nil || *lastStep.From != from || lastStep.To != to || lastStep.Note == nil || *lastStep.Note != "step" ||
					lastStep.ActorID == nil || *lastStep.ActorID != f.Member.ID {
					t.Fatalf("history entry %+v", lastStep)
				}
			})
		}
	}
}

func TestUpdateOrderStatusLifecycle(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	o := f.newOrder(t)
	last := lastEventID(t, f.DB)
	path := []switchyard.OrderStatus{switchyard.OrderPaid, switchyard.OrderFulfilled, switchyard.OrderShipped, switchyard.OrderDelivered}
	for _, s := range path {
		got, err := f.Orders.UpdateOrderStatus(ctx, o.ID, s, nil)
		if err != nil || got.Status != s {
			t.Fatalf("to %s: %+v, %v", s, got, err)
		}
	}
	// Nothing returns to PENDING, least of all a delivered order.
	_, err := f.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPending, nil)
	wantError(t, err, switchyard.EINVALID, "status")
	_, err = f.Orders.UpdateOrderStatus(ctx, o.ID, "LOST", nil)
	wantError(t, err, switchyard.EINVALID, "status")
	_, err = f.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderRefunded, ptr(strings.Repeat("x", maxOrderNoteLen+1)))
	wantError(t, err, switchyard.EINVALID, "note")
	if _, err := f.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderRefunded, ptr("  damaged in transit  ")); err != nil {
		t.Fatal(err)
	}

	h, err := f.Orders.FindOrderHistory(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]switchyard.OrderStatus{switchyard.OrderPending}, append(path, switchyard.OrderRefunded)...)
	if len(h[o.ID]) != len(want) {
		t.Fatalf("%d history entries, want %d", len(h[o.ID]), len(want))
	}
	for i, ch := range h[o.ID] {
		if ch.To != want[i] || (i == 0) != (ch.From == nil) || (i > 0 && *ch.From != want[i-1]) {
			t.Fatalf("entry %d = %+v, want → %s", i, ch, want[i])
		}
		if i > 0 && ch.At.Before(h[o.ID][i-1].At) {
			t.Fatalf("history not oldest first at %d", i)
		}
	}
	if n := h[o.ID][len(want)-1].Note; n == nil || *n != "damaged in transit" {
		t.Fatalf("note = %v, want it trimmed", n)
	}

	evs := eventsAfter(t, f.DB, last)
	if len(evs) != len(path)+1 {
		t.Fatalf("%d events, want one per successful step (%d)", len(evs), len(path)+1)
	}
	prev := switchyard.OrderPending
	for i, e := range evs {
		var d struct {
			Status         switchyard.OrderStatus
			PreviousStatus switchyard.OrderStatus
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.Type != switchyard.EventOrderStatusChanged || d.PreviousStatus != prev || d.Status != want[i+1] {
			t.Fatalf("event %d: %s %s", i, e.Type, e.Data)
		}
		prev = d.Status
	}
}

// TestUpdateOrderStatusConcurrentSteps races two payments of one order: the
// row lock makes the second see PAID and be refused, so exactly one step is
// recorded.
func TestUpdateOrderStatusConcurrentSteps(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	o := f.newOrder(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPaid, nil)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantError(t, err, switchyard.EINVALID, "status")
		}
	}
	if hist, ev := f.orderSubjectCounts(t, o.ID); ok != 1 || hist != 2 || ev != 2 {
		t.Fatalf("%d successes, %d history entries, %d events; want 1, 2, 2", ok, hist, ev)
	}
}

func TestSetOrderShipment(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	eta := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

	t.Run("set then replace", func(t *testing.T) {
		t.Parallel()
		o := f.newOrder(t)
		got, err := f.Orders.SetOrderShipment(ctx, o.ID, switchyard.Shipment{Carrier: " DHL ", TrackingNumber: "JD0001", EstimatedDelivery: &eta})
		if err != nil {
			t.Fatal(err)
		}
		if s := got.Shipment; s == nil || s.Carrier != "DHL" || s.TrackingNumber != "JD0001" || s.EstimatedDelivery == nil || !s.EstimatedDelivery.Equal(eta) {
			t.Fatalf("shipment %+v", got.Shipment)
		}
		got, err = f.Orders.SetOrderShipment(ctx, o.ID, switchyard.Shipment{Carrier: "UPS", TrackingNumber: "1Z999"})
		if err != nil {
			t.Fatal(err)
		}
		read, err := f.Orders.FindOrderByID(ctx, o.ID)
		if err != nil || read.Shipment == nil || read.Shipment.Carrier != "UPS" || read.Shipment.EstimatedDelivery != nil || got.Shipment.Carrier != "UPS" {
			t.Fatalf("replaced shipment %+v, %v", read, err)
		}
		if _, ev := f.orderSubjectCounts(t, o.ID); ev != 3 {
			t.Fatalf("%d events, want created + 2 shipment_set", ev)
		}
		if n := f.count(t, `SELECT count(*) FROM events WHERE subject_id = $1 AND type = $2`, o.ID, switchyard.EventOrderShipmentSet); n != 2 {
			t.Fatalf("%d shipment events, want 2", n)
		}
	})

	tests := []struct {
		name     string
		status   switchyard.OrderStatus
		shipment switchyard.Shipment
		field    string
	}{
		{"empty carrier", switchyard.OrderPaid, switchyard.Shipment{Carrier: "  ", TrackingNumber: "1"}, "input.carrier"},
		{"long carrier", switchyard.OrderPaid, switchyard.Shipment{Carrier: strings.Repeat("c", 101), TrackingNumber: "1"}, "input.carrier"},
		{"empty tracking number", switchyard.OrderPaid, switchyard.Shipment{Carrier: "DHL"}, "input.trackingNumber"},
		{"long tracking number", switchyard.OrderPaid, switchyard.Shipment{Carrier: "DHL", TrackingNumber: strings.Repeat("1", 101)}, "input.trackingNumber"},
		{"cancelled order", switchyard.OrderCancelled, switchyard.Shipment{Carrier: "DHL", TrackingNumber: "1"}, "id"},
		{"refunded order", switchyard.OrderRefunded, switchyard.Shipment{Carrier: "DHL", TrackingNumber: "1"}, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := f.newOrder(t)
			f.forceStatus(t, o.ID, tt.status)
			_, err := f.Orders.SetOrderShipment(ctx, o.ID, tt.shipment)
			wantError(t, err, switchyard.EINVALID, tt.field)
			if _, ev := f.orderSubjectCounts(t, o.ID); ev != 1 {
				t.Fatalf("%d events, want only order.created", ev)
			}
			if read, _ := f.Orders.FindOrderByID(ctx, o.ID); read.Shipment != nil {
				t.Fatalf("shipment written: %+v", read.Shipment)
			}
		})
	}
	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		_, err := f.Orders.SetOrderShipment(ctx, "7b0c8a52-5a44-4b8e-9d3c-111111111111", switchyard.Shipment{Carrier: "DHL", TrackingNumber: "1"})
		wantError(t, err, switchyard.ENOTFOUND, "")
	})
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	tests := []struct {
		name   string
		caller *switchyard.User
		status switchyard.OrderStatus
		code   string
		field  string
	}{
		{"member cancels pending", f.Member, switchyard.OrderPending, "", ""},
		{"member cancels paid", f.Member, switchyard.OrderPaid, "", ""},
		{"owner cancels paid", f.Owner, switchyard.OrderPaid, "", ""},
		{"admin cancels paid", f.Admin, switchyard.OrderPaid, "", ""},
		{"customer cancels own pending", f.Loner, switchyard.OrderPending, "", ""},
		{"customer cannot cancel own paid", f.Loner, switchyard.OrderPaid, switchyard.EFORBIDDEN, ""},
		{"customer cannot cancel own shipped", f.Loner, switchyard.OrderShipped, switchyard.EFORBIDDEN, ""},
		{"fulfilled", f.Member, switchyard.OrderFulfilled, switchyard.EINVALID, "id"},
		{"shipped", f.Member, switchyard.OrderShipped, switchyard.EINVALID, "id"},
		{"delivered", f.Member, switchyard.OrderDelivered, switchyard.EINVALID, "id"},
		{"already cancelled", f.Member, switchyard.OrderCancelled, switchyard.EINVALID, "id"},
		{"refunded", f.Admin, switchyard.OrderRefunded, switchyard.EINVALID, "id"},
		{"another tenant", f.Other, switchyard.OrderPending, switchyard.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := f.newOrder(t)
			f.forceStatus(t, o.ID, tt.status)
			ctx := userCtx(context.Background(), tt.caller)
			hist0, ev0 := f.orderSubjectCounts(t, o.ID)
			got, err := f.Orders.CancelOrder(ctx, o.ID, ptr("changed my mind"))
			wantError(t, err, tt.code, tt.field)
			hist1, ev1 := f.orderSubjectCounts(t, o.ID)
			if tt.code != "" {
				if hist1 != hist0 || ev1 != ev0 {
					t.Fatalf("refused cancel wrote history %d→%d events %d→%d", hist0, hist1, ev0, ev1)
				}
				return
			}
			if got.Status != switchyard.OrderCancelled || hist1 != hist0+1 || ev1 != ev0+1 {
				t.Fatalf("cancelled %+v; history %d→%d events %d→%d", got, hist0, hist1, ev0, ev1)
			}
			h, _ := f.Orders.FindOrderHistory(ctx, []string{o.ID})
			step := h[o.ID][len(h[o.ID])-1]
			if *step.From != tt.status || step.To != switchyard.OrderCancelled || step.Note == nil || *step.Note != "changed my mind" || *step.ActorID != tt.caller.ID {
				t.Fatalf("history entry %+v", step)
			}
			var d struct{ PreviousStatus, Status, Note string }
			var raw []byte
			if err := f.DB.Pool().QueryRow(context.Background(), `SELECT data FROM events WHERE subject_id = $1 AND type = $2`, o.ID, switchyard.EventOrderStatusChanged).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &d); err != nil || d.PreviousStatus != string(tt.status) || d.Status != "CANCELLED" || d.Note != "changed my mind" {
				t.Fatalf("event data %s (%v)", raw, err)
			}
		})
	}
}

// TestOrderAuthorizationMatrix checks every method for every kind of caller:
// nobody, the project's owner and member, another tenant, the customer who
// belongs to no project, and an admin. Reads answer "" when the order is
// visible and NOT_FOUND when it is not.
func TestOrderAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	svc := f.Orders
	visible := func(ok bool) error {
		if ok {
			return nil
		}
		return switchyard.Errorf(switchyard.ENOTFOUND, "not visible")
	}
	type op struct {
		name string
		// status is where the order starts.
		status   switchyard.OrderStatus
		mutation bool
		run      func(ctx context.Context, o *switchyard.Order) error
	}
	ops := []op{
		{"FindOrderByID", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.FindOrderByID(ctx, o.ID)
			return err
		}},
		{"FindOrderByNumber", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.FindOrderByNumber(ctx, o.Number)
			return err
		}},
		{"FindOrdersByIDs", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			got, err := svc.FindOrdersByIDs(ctx, []string{o.ID})
			if err != nil {
				return err
			}
			return visible(len(got) == 1 && got[0].ID == o.ID)
		}},
		{"FindOrders", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			conn, err := svc.FindOrders(ctx, switchyard.OrderFilter{ProjectID: &o.ProjectID}, switchyard.PageArgs{First: ptr(100)}, switchyard.OrderOrder{})
			if err != nil {
				return err
			}
			return visible(connHas(conn, o.ID))
		}},
		{"CountOrders", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			n, err := svc.CountOrders(ctx, switchyard.OrderFilter{CustomerID: &o.CustomerID, CreatedAfter: ptr(o.CreatedAt.Add(-time.Microsecond)), CreatedBefore: ptr(o.CreatedAt.Add(time.Microsecond))})
			if err != nil {
				return err
			}
			return visible(n >= 1)
		}},
		{"FindOrdersByProjects", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			m, err := svc.FindOrdersByProjects(ctx, []string{o.ProjectID}, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(100)}, switchyard.OrderOrder{})
			if err != nil {
				return err
			}
			return visible(connHas(m[o.ProjectID], o.ID))
		}},
		{"FindOrdersByCustomers", switchyard.OrderPending, false, func(ctx context.Context, o *switchyard.Order) error {
			m, err := svc.FindOrdersByCustomers(ctx, []string{o.CustomerID}, switchyard.OrderFilter{}, switchyard.PageArgs{First: ptr(100)}, switchyard.OrderOrder{})
			if err != nil {
				return err
			}
			return visible(connHas(m[o.CustomerID], o.ID))
		}},
		{"UpdateOrderStatus", switchyard.OrderPending, true, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPaid, nil)
			return err
		}},
		{"SetOrderShipment", switchyard.OrderPaid, true, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.SetOrderShipment(ctx, o.ID, switchyard.Shipment{Carrier: "DHL", TrackingNumber: "1"})
			return err
		}},
		{"CancelOrder pending", switchyard.OrderPending, true, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.CancelOrder(ctx, o.ID, nil)
			return err
		}},
		{"CancelOrder paid", switchyard.OrderPaid, true, func(ctx context.Context, o *switchyard.Order) error {
			_, err := svc.CancelOrder(ctx, o.ID, nil)
			return err
		}},
	}
	const (
		ok     = ""
		nf     = switchyard.ENOTFOUND
		unauth = switchyard.EUNAUTHENTICATED
		forb   = switchyard.EFORBIDDEN
	)
	callers := []struct {
		name string
		ctx  context.Context
	}{
		{"anonymous", anonCtx(context.Background())},
		{"owner", userCtx(context.Background(), f.Owner)},
		{"member", userCtx(context.Background(), f.Member)},
		{"other tenant", userCtx(context.Background(), f.Other)},
		{"customer", userCtx(context.Background(), f.Customer)},
		{"admin", userCtx(context.Background(), f.Admin)},
		// Partners (API keys) of an integration of Project, by scope, and of
		// another project's.
		{"partner ORDERS_READ", partnerCtx(context.Background(), f.Project.ID, partnerIntegrationID, switchyard.ScopeOrdersRead)},
		{"partner ORDERS_WRITE", partnerCtx(context.Background(), f.Project.ID, partnerIntegrationID, switchyard.ScopeOrdersWrite)},
		{"partner PROJECTS_READ", partnerCtx(context.Background(), f.Project.ID, partnerIntegrationID, switchyard.ScopeProjectsRead, switchyard.ScopeIntegrationsRead)},
		{"partner of another project", partnerCtx(context.Background(), f.OtherProject.ID, partnerIntegrationID, switchyard.APIKeyScopes...)},
	}
	// want[op][caller], in the order of callers above.
	//                                anon    owner member other customer admin  p-read p-write p-proj p-other
	want := map[string][]string{
		"FindOrderByID":         {nf, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"FindOrderByNumber":     {nf, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"FindOrdersByIDs":       {nf, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"FindOrders":            {unauth, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"CountOrders":           {unauth, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"FindOrdersByProjects":  {unauth, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"FindOrdersByCustomers": {unauth, ok, ok, nf, ok, ok, ok, ok, nf, nf},
		"UpdateOrderStatus":     {unauth, ok, ok, nf, forb, ok, forb, ok, nf, nf},
		"SetOrderShipment":      {unauth, ok, ok, nf, forb, ok, forb, ok, nf, nf},
		"CancelOrder pending":   {unauth, ok, ok, nf, ok, ok, forb, ok, nf, nf},
		"CancelOrder paid":      {unauth, ok, ok, nf, forb, ok, forb, ok, nf, nf},
	}
	for _, o := range ops {
		for i, c := range callers {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				order := f.newOrder(t)
				f.forceStatus(t, order.ID, o.status)
				_, ev0 := f.orderSubjectCounts(t, order.ID)
				err := o.run(c.ctx, order)
				wantCode(t, err, want[o.name][i])
				_, ev1 := f.orderSubjectCounts(t, order.ID)
				wantEvents := 0
				if o.mutation && err == nil {
					wantEvents = 1
				}
				if ev1-ev0 != wantEvents {
					t.Fatalf("%d events written, want %d", ev1-ev0, wantEvents)
				}
			})
		}
	}

	// CreateOrder, by the same callers, in Project for the customer.
	// A partner that reads the project or its orders knows it exists.
	wantCreate := []string{unauth, ok, ok, nf, forb, ok, forb, ok, forb, nf}
	for i, c := range callers {
		t.Run("CreateOrder/"+c.name, func(t *testing.T) {
			t.Parallel()
			f.newOrder(t) // the customer has ordered in Project
			sku := "AUTH-" + strings.ReplaceAll(c.name, " ", "-")
			_, err := svc.CreateOrder(c.ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &f.Customer.ID, Currency: "USD",
				Items: []switchyard.OrderItemInput{{SKU: sku, Name: "N", Quantity: 1, UnitPrice: "1.00"}}})
			wantCode(t, err, wantCreate[i])
			wrote := f.count(t, `SELECT count(*) FROM order_items WHERE sku = $1`, sku)
			if (err == nil) != (wrote == 1) {
				t.Fatalf("error %v but %d orders written", err, wrote)
			}
		})
	}
}

func connHas(c *switchyard.OrderConnection, id string) bool {
	if c == nil {
		return false
	}
	for _, e := range c.Edges {
		if e.Node.ID == id {
			return true
		}
	}
	return false
}

func TestFindOrderLookups(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	a, b := f.newOrder(t), f.newOrder(t)
	foreign := f.mustCreate(t, userCtx(context.Background(), f.Other), switchyard.OrderCreate{ProjectID: f.OtherProject.ID, Currency: "USD", Items: items("1.00")})

	got, err := f.Orders.FindOrderByNumber(ctx, "  "+strings.ToLower(a.Number)+" ")
	if err != nil || got.ID != a.ID {
		t.Fatalf("by number: %+v, %v", got, err)
	}
	got, err = f.Orders.FindOrderByID(ctx, strings.ToUpper(b.ID))
	if err != nil || got.ID != b.ID {
		t.Fatalf("by upper-case id: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		name string
		run  func() error
	}{
		{"unknown id", func() error {
			_, err := f.Orders.FindOrderByID(ctx, "7b0c8a52-5a44-4b8e-9d3c-111111111111")
			return err
		}},
		{"another tenant's id", func() error { _, err := f.Orders.FindOrderByID(ctx, foreign.ID); return err }},
		{"another tenant's number", func() error { _, err := f.Orders.FindOrderByNumber(ctx, foreign.Number); return err }},
		{"unknown number", func() error { _, err := f.Orders.FindOrderByNumber(ctx, "SO-999999"); return err }},
	} {
		wantError(t, tt.run(), switchyard.ENOTFOUND, "")
	}

	// Ids that cannot name a row are answered without a round trip.
	before := f.Stmts.Count()
	_, err = f.Orders.FindOrderByID(ctx, "order-1")
	wantError(t, err, switchyard.ENOTFOUND, "")
	_, err = f.Orders.FindOrderByNumber(ctx, strings.Repeat("9", 100))
	wantError(t, err, switchyard.ENOTFOUND, "")
	_, err = f.Orders.UpdateOrderStatus(ctx, "x", switchyard.OrderPaid, nil)
	wantError(t, err, switchyard.ENOTFOUND, "id")
	list, err := f.Orders.FindOrdersByIDs(ctx, []string{"x", ""})
	if err != nil || len(list) != 0 {
		t.Fatal(list, err)
	}
	if n := f.Stmts.Count() - before; n != 0 {
		t.Fatalf("%d statements for ids that cannot exist, want 0", n)
	}

	before = f.Stmts.Count()
	list, err = f.Orders.FindOrdersByIDs(ctx, []string{a.ID, "nope", b.ID, a.ID, foreign.ID, strings.ToUpper(b.ID)})
	if err != nil || len(list) != 2 || f.Stmts.Count()-before != 1 {
		t.Fatalf("by ids: %d orders, %v, %d statements; want 2 orders in 1 statement", len(list), err, f.Stmts.Count()-before)
	}
}

func TestFindOrderItemsAndHistoryBatch(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	usd := f.mustCreate(t, ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "USD", Items: []switchyard.OrderItemInput{
		{SKU: "zeta", Name: "Z", Quantity: 2, UnitPrice: "1.50"},
		{SKU: "alpha", Name: "A", Quantity: 1, UnitPrice: "3"},
		{SKU: "mid", Name: "M", Quantity: 4, UnitPrice: "0.25"},
	}})
	jpy := f.mustCreate(t, ctx, switchyard.OrderCreate{ProjectID: f.Project.ID, Currency: "JPY", Items: items("500")})
	if _, err := f.Orders.UpdateOrderStatus(ctx, jpy.ID, switchyard.OrderPaid, ptr("card")); err != nil {
		t.Fatal(err)
	}
	unknown := "7b0c8a52-5a44-4b8e-9d3c-111111111111"

	before := f.Stmts.Count()
	its, err := f.Orders.FindOrderItems(ctx, []string{usd.ID, jpy.ID, unknown, "junk"})
	if err != nil || f.Stmts.Count()-before != 1 {
		t.Fatalf("items: %v, %d statements", err, f.Stmts.Count()-before)
	}
	var skus []string
	for _, it := range its[usd.ID] {
		skus = append(skus, it.SKU+"="+string(it.LineTotal)+" "+it.Currency)
	}
	if got := strings.Join(skus, ","); got != "zeta=3.00 USD,alpha=3.00 USD,mid=1.00 USD" {
		t.Fatalf("usd items %s", got)
	}
	if len(its[jpy.ID]) != 1 || its[jpy.ID][0].Currency != "JPY" || its[jpy.ID][0].UnitPrice != "500" || len(its[unknown]) != 0 {
		t.Fatalf("jpy items %+v, unknown %+v", its[jpy.ID], its[unknown])
	}

	before = f.Stmts.Count()
	hist, err := f.Orders.FindOrderHistory(ctx, []string{usd.ID, jpy.ID, unknown})
	if err != nil || f.Stmts.Count()-before != 1 {
		t.Fatalf("history: %v, %d statements", err, f.Stmts.Count()-before)
	}
	if len(hist[usd.ID]) != 1 || len(hist[jpy.ID]) != 2 || hist[jpy.ID][1].To != switchyard.OrderPaid || *hist[jpy.ID][1].Note != "card" {
		t.Fatalf("history %+v", hist)
	}

	before = f.Stmts.Count()
	if m, err := f.Orders.FindOrderItems(ctx, nil); err != nil || len(m) != 0 || f.Stmts.Count() != before {
		t.Fatalf("no ids: %v %v", m, err)
	}
}
