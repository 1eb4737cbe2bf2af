package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// TestSearchDocuments checks every type's document: the text it is found by,
// its filter keys, and its access fields, which must match the access rules
// of the services (see canRead* in access.go).
func TestSearchDocuments(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := adminCtx(ctx)
	counter := &statementCounter{}
	db, err := Open(ctx, dbURL(t, w.DB), WithQueryTracer(counter))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	src := NewSearchSource(db)
	orders := NewOrderService(w.DB)
	o, err := orders.CreateOrder(admin, switchyard.OrderCreate{ProjectID: w.Project.ID, CustomerID: &w.Loner.ID, Currency: "EUR",
		Items: []switchyard.OrderItemInput{{SKU: "HAM-16", Name: "Claw Hammer", Quantity: 2, UnitPrice: "19.99"}, {SKU: "NL-1", Name: "Nails", Quantity: 1, UnitPrice: "0.50"}}})
	if err != nil {
		t.Fatal(err)
	}
	integrations, err := NewIntegrationService(w.DB, IntegrationOptions{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://hooks.example.com/secret-token-in-url"
	in, err := integrations.CreateIntegration(userCtx(ctx, w.Owner), switchyard.IntegrationCreate{ProjectID: w.Project.ID, Name: "Stripe payments",
		Provider: switchyard.ProviderStripe, Direction: switchyard.DirectionOutbound, EventTypes: []string{switchyard.EventOrderCreated}, EndpointURL: &url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Projects.DeleteProject(admin, w.OtherProject.ID); err != nil {
		t.Fatal(err)
	}

	load := func(typ switchyard.SearchType, ids ...string) map[string]switchyard.SearchDocument {
		t.Helper()
		before := counter.n.Load()
		docs, err := src.SearchDocuments(ctx, typ, append(ids, "not-an-id", "00000000-0000-4000-8000-000000000000"), 7)
		if err != nil {
			t.Fatal(err)
		}
		if n := counter.n.Load() - before; n != 1 {
			t.Fatalf("%s documents took %d statements", typ, n)
		}
		out := map[string]switchyard.SearchDocument{}
		for _, d := range docs {
			if err := d.Validate(); err != nil || d.Version != 7 || d.CreatedAt.IsZero() || d.CreatedAt.Location() != time.UTC {
				t.Fatalf("document %+v: %v", d, err)
			}
			out[d.ID] = d
		}
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	users := load(switchyard.SearchUser, w.Owner.ID, w.Member.ID, w.Loner.ID, w.Other.ID)
	for id, want := range map[string][]string{
		w.Owner.ID:  {w.Project.ID},      // owns it
		w.Member.ID: {w.Project.ID},      // belongs to it
		w.Loner.ID:  {w.Project.ID},      // ordered in it
		w.Other.ID:  {w.OtherProject.ID}, // owns a deleted project: no viewer holds it
	} {
		d := users[id]
		if !slices.Equal(sorted(d.ProjectIDs...), sorted(want...)) || !slices.Equal(d.UserIDs, []string{id}) || d.Email == "" || d.Name == "" {
			t.Errorf("user %s: %+v", id, d)
		}
	}

	projects := load(switchyard.SearchProject, w.Project.ID, w.OtherProject.ID)
	if p := projects[w.Project.ID]; p.Name != "Apollo" || p.Status != "ACTIVE" || p.ProjectID != w.Project.ID || !slices.Equal(p.ProjectIDs, []string{w.Project.ID}) {
		t.Errorf("project: %+v", p)
	}
	if p := projects[w.OtherProject.ID]; p.Status != "DELETED" || len(p.ProjectIDs) != 0 || len(p.UserIDs) != 0 {
		t.Errorf("a deleted project is left to admins: %+v", p)
	}

	od := load(switchyard.SearchOrder, o.ID)[o.ID]
	if od.Number != o.Number || od.Status != "PENDING" || od.Total != "40.48" || od.Currency != "EUR" || od.ProjectID != w.Project.ID ||
		od.CustomerName != w.Loner.Name || od.CustomerEmail != w.Loner.Email || od.ProjectName != "Apollo" ||
		od.Description != "Claw Hammer (HAM-16), Nails (NL-1)" ||
		!slices.Equal(od.ProjectIDs, []string{w.Project.ID}) || !slices.Equal(od.UserIDs, []string{w.Loner.ID}) {
		t.Errorf("order: %+v", od)
	}

	id := load(switchyard.SearchIntegration, in.Integration.ID)[in.Integration.ID]
	if id.Name != "Stripe payments" || id.Description != "stripe outbound" || id.Status != "ACTIVE" || id.ProjectName != "Apollo" ||
		!slices.Equal(id.ProjectIDs, []string{w.Project.ID}) || len(id.UserIDs) != 0 {
		t.Errorf("integration: %+v", id)
	}
	for _, s := range []string{id.Name, id.Description} {
		if s == url {
			t.Error("the endpoint URL is indexed")
		}
	}

	// Gone: a deleted user and a deleted integration no longer load.
	if err := w.Users.DeleteUser(admin, w.Member.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := integrations.DeleteIntegration(userCtx(ctx, w.Owner), in.Integration.ID); err != nil {
		t.Fatal(err)
	}
	if len(load(switchyard.SearchUser, w.Member.ID)) != 0 || len(load(switchyard.SearchIntegration, in.Integration.ID)) != 0 {
		t.Error("deleted rows still load")
	}
}

// dbURL returns a URL for the database db is connected to.
func dbURL(t *testing.T, db *DB) string {
	t.Helper()
	return db.Pool().Config().ConnString()
}

// TestSearchScans: keyset batches in id order cover every row once, the
// narrowed scans select a project's or a customer's documents, and counts
// match a full scan.
func TestSearchScans(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := adminCtx(ctx)
	src := NewSearchSource(w.DB)
	orders := NewOrderService(w.DB)
	item := []switchyard.OrderItemInput{{SKU: "A", Name: "Anvil", Quantity: 1, UnitPrice: "1.00"}}
	want := map[string][]string{} // by project and by customer
	for i := range 7 {
		p, c := w.Project, w.Loner
		if i%3 == 0 {
			p, c = w.OtherProject, w.OtherMate
		}
		o, err := orders.CreateOrder(admin, switchyard.OrderCreate{ProjectID: p.ID, CustomerID: &c.ID, Currency: "USD", Items: item})
		if err != nil {
			t.Fatal(err)
		}
		want[p.ID] = append(want[p.ID], o.ID)
		want[c.ID] = append(want[c.ID], o.ID)
	}
	scanAll := func(scan switchyard.SearchScan) []string {
		t.Helper()
		var ids []string
		scan.Limit = 2
		for {
			docs, err := src.ScanSearchDocuments(ctx, scan, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) == 0 {
				return ids
			}
			if len(docs) > 2 {
				t.Fatalf("batch of %d over the limit", len(docs))
			}
			for _, d := range docs {
				ids = append(ids, d.ID)
			}
			scan.After = docs[len(docs)-1].ID
		}
	}
	for _, typ := range switchyard.SearchTypes {
		ids := scanAll(switchyard.SearchScan{Type: typ})
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("%s scan out of order or repeating: %v", typ, ids)
		}
		n, err := src.CountSearchDocuments(ctx, typ)
		if err != nil || n != len(ids) {
			t.Errorf("%s: count %d, scan %d (%v)", typ, n, len(ids), err)
		}
	}
	for key, scan := range map[string]switchyard.SearchScan{
		w.Project.ID:   {Type: switchyard.SearchOrder, ProjectID: w.Project.ID},
		w.OtherMate.ID: {Type: switchyard.SearchOrder, CustomerID: w.OtherMate.ID},
	} {
		got := scanAll(scan)
		exp := slices.Sorted(slices.Values(want[key]))
		if !slices.Equal(got, exp) {
			t.Errorf("scan %+v = %v, want %v", scan, got, exp)
		}
	}
	for _, bad := range []switchyard.SearchScan{
		{Type: switchyard.SearchUser, ProjectID: w.Project.ID, Limit: 1},
		{Type: switchyard.SearchProject, CustomerID: w.Loner.ID, Limit: 1},
		{Type: switchyard.SearchOrder, Limit: switchyard.MaxSearchScan + 1},
		{Type: switchyard.SearchOrder, After: "nope", Limit: 1},
		{Type: "SHIPMENT", Limit: 1},
	} {
		_, err := src.ScanSearchDocuments(ctx, bad, 1)
		wantCode(t, err, switchyard.EINVALID)
	}
}

// TestConsumerCursors: leases exclude a second owner until they expire,
// advances are compare-and-set on the epoch, and a reset rewinds and starts a
// new epoch that makes a stale advance fail.
func TestConsumerCursors(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := context.Background()
	cs := NewConsumerCursors(db)

	if c, err := cs.ReadConsumerCursor(ctx, "search:x"); c != nil || err != nil {
		t.Fatalf("missing cursor: %+v %v", c, err)
	}
	a, err := cs.ClaimConsumerCursor(ctx, "search:x", "a", time.Hour)
	if err != nil || !a.Leader || a.Seq != 0 || a.Epoch != 0 {
		t.Fatalf("first claim: %+v %v", a, err)
	}
	b, err := cs.ClaimConsumerCursor(ctx, "search:x", "b", time.Hour)
	if err != nil || b.Leader {
		t.Fatalf("a second owner took a held lease: %+v %v", b, err)
	}
	if moved, err := cs.AdvanceConsumerCursor(ctx, "search:x", "b", 0, 5); err != nil || moved {
		t.Fatalf("a non-leader advanced: %v %v", moved, err)
	}
	if moved, err := cs.AdvanceConsumerCursor(ctx, "search:x", "a", 0, 5); err != nil || !moved {
		t.Fatalf("advance: %v %v", moved, err)
	}
	if moved, _ := cs.AdvanceConsumerCursor(ctx, "search:x", "a", 0, 5); !moved {
		t.Fatal("repeating an advance must count as moved")
	}
	if moved, _ := cs.AdvanceConsumerCursor(ctx, "search:x", "a", 0, 3); moved {
		t.Fatal("moved backwards")
	}

	r, err := cs.ResetConsumerCursor(ctx, "search:x", 2)
	if err != nil || r.Seq != 2 || r.Epoch != 1 {
		t.Fatalf("reset: %+v %v", r, err)
	}
	if moved, _ := cs.AdvanceConsumerCursor(ctx, "search:x", "a", 0, 9); moved {
		t.Fatal("an advance from before the reset went through")
	}
	a, _ = cs.ClaimConsumerCursor(ctx, "search:x", "a", time.Hour)
	if !a.Leader || a.Seq != 2 || a.Epoch != 1 {
		t.Fatalf("claim after reset: %+v", a)
	}

	// An expired lease goes to whoever claims next.
	if _, err := cs.ClaimConsumerCursor(ctx, "search:y", "a", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err = cs.ClaimConsumerCursor(ctx, "search:y", "b", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if b.Leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lease was never taken over")
		}
		time.Sleep(5 * time.Millisecond) // the lease runs on the database's clock
	}

	if err := cs.SaveConsumerState(ctx, "search:x:reindex", `{"v":1}`); err != nil {
		t.Fatal(err)
	}
	if c, _ := cs.ReadConsumerCursor(ctx, "search:x:reindex"); c == nil || c.State != `{"v":1}` || c.Seq != 0 {
		t.Fatalf("state: %+v", c)
	}
	_, err = cs.ResetConsumerCursor(ctx, "search:x", -1)
	wantCode(t, err, switchyard.EINVALID)
}
