package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/search"
	"github.com/switchyard/switchyard/search/embedded"
)

// indexerRig is the indexer as serve wires it, over a test database, with a
// relay sequencing events.
type indexerRig struct {
	t       *testing.T
	db      *postgres.DB
	index   switchyard.SearchIndex
	cursors *postgres.ConsumerCursors
	indexer *search.Indexer
	stop    func()
}

const rigCursor = "search:rig"

func newIndexerRig(t *testing.T, dsn string) *indexerRig {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	idx, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	r := &indexerRig{t: t, db: db, index: idx, cursors: postgres.NewConsumerCursors(db)}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = postgres.NewRelay(db, realtime.NewMemoryBroker(), nil, postgres.WithRelayPollInterval(20*time.Millisecond)).Run(runCtx)
	})
	r.stop = func() { stop(); wg.Wait() }
	t.Cleanup(r.stop)
	return r
}

// start runs a new indexer (a restarted process) until stopIndexer.
func (r *indexerRig) start() (stopIndexer func()) {
	r.indexer = search.NewIndexer(r.index, postgres.NewEventLog(r.db), postgres.NewSearchSource(r.db), r.cursors,
		search.IndexerOptions{Cursor: rigCursor, Poll: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, AutoRebuild: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.indexer.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// sync waits until the indexer has rebuilt at least epochs times and indexed
// every committed event.
func (r *indexerRig) sync(epochs int64) {
	r.t.Helper()
	// Rebuilds under -race on a loaded machine are slow; the deadline only
	// bounds a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		c, err := r.cursors.ReadConsumerCursor(ctx, rigCursor)
		if err != nil {
			r.t.Fatal(err)
		}
		if c != nil && c.Epoch >= epochs {
			break
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("the indexer did not rebuild %d times: %+v", epochs, c)
		case <-time.After(10 * time.Millisecond): // polling the database, with a deadline
		}
	}
	last := waitSequenced(r.t, r.db)
	if err := r.indexer.WaitIndexed(ctx, last); err != nil {
		r.t.Fatalf("not indexed up to %d: %v", last, err)
	}
}

// find returns the keys of the documents v finds for text.
func (r *indexerRig) find(v *switchyard.Viewer, text string, types ...switchyard.SearchType) []string {
	r.t.Helper()
	first := 100
	res, err := r.index.Search(context.Background(), switchyard.SearchQuery{Text: text, Types: types, First: &first, Viewer: v})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits {
		out = append(out, switchyard.SearchKey(h.Type, h.ID))
	}
	slices.Sort(out)
	return out
}

func keys(pairs ...string) []string {
	var out []string
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, pairs[i]+"/"+pairs[i+1])
	}
	slices.Sort(out)
	return out
}

// TestIndexerFollowsTheLog: every kind of change reaches the documents it
// affects (names denormalized into orders, access fields of members and
// customers, deletions), and a restarted indexer resumes from its durable
// cursor without a rebuild.
func TestIndexerFollowsTheLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := newIndexerRig(t, cfg.DatabaseURL)
	stop := r.start()
	ctx := testAdmin
	users, projects, orders := postgres.NewUserService(r.db), postgres.NewProjectService(r.db), postgres.NewOrderService(r.db)
	integrations, err := postgres.NewIntegrationService(r.db, postgres.IntegrationOptions{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, email string) *switchyard.User {
		u, err := users.CreateUser(ctx, switchyard.UserCreate{Name: name, Email: email, Role: switchyard.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	alice, bob, carol := mk("Alice Arden", "alice@example.com"), mk("Bob Brook", "bob@example.com"), mk("Carol Crane", "carol@example.com")
	p, err := projects.CreateProject(ctx, switchyard.ProjectCreate{Name: "Apollo", OwnerID: &alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	o, err := orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: p.ID, CustomerID: &carol.ID, Currency: "USD",
		Items: []switchyard.OrderItemInput{{SKU: "W-1", Name: "Widget", Quantity: 1, UnitPrice: "1.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://hooks.example.com/x"
	in, err := integrations.CreateIntegration(switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: alice.ID, Role: switchyard.RoleMember}),
		switchyard.IntegrationCreate{ProjectID: p.ID, Name: "Courier", Provider: switchyard.ProviderGeneric, Direction: switchyard.DirectionOutbound,
			EventTypes: []string{switchyard.EventOrderCreated}, EndpointURL: &url})
	if err != nil {
		t.Fatal(err)
	}
	admin := &switchyard.Viewer{Admin: true}
	viewer := func(u *switchyard.User) *switchyard.Viewer {
		v, err := users.LoadViewer(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	r.sync(1)
	if got, want := r.find(admin, "apollo"), keys("PROJECT", p.ID, "ORDER", o.ID, "INTEGRATION", in.Integration.ID); !slices.Equal(got, want) {
		t.Fatalf("apollo: %v, want %v", got, want)
	}

	steps := []struct {
		name   string
		change func()
		check  func() ([]string, []string)
	}{
		{"a renamed project renames its orders and integrations", func() {
			if _, err := projects.UpdateProject(ctx, p.ID, switchyard.ProjectUpdate{Name: ptrTo("Zephyr")}); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return append(r.find(admin, "zephyr"), r.find(admin, "apollo")...), keys("PROJECT", p.ID, "ORDER", o.ID, "INTEGRATION", in.Integration.ID)
		}},
		{"a renamed customer renames their orders", func() {
			if _, err := users.UpdateUser(ctx, carol.ID, switchyard.UserUpdate{Name: ptrTo("Quinella Crane")}); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return r.find(admin, "quinella"), keys("USER", carol.ID, "ORDER", o.ID)
		}},
		{"a new member reads the project's people", func() {
			if _, err := projects.AddProjectMember(ctx, p.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return r.find(viewer(bob), "example", switchyard.SearchUser), keys("USER", alice.ID, "USER", bob.ID, "USER", carol.ID)
		}},
		{"the other members read the new one", func() {}, func() ([]string, []string) {
			return r.find(viewer(alice), "bob", switchyard.SearchUser), keys("USER", bob.ID)
		}},
		{"a removed member no longer does", func() {
			if _, err := projects.RemoveProjectMember(ctx, p.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return append(r.find(viewer(bob), "example", switchyard.SearchUser), r.find(viewer(alice), "bob", switchyard.SearchUser)...), keys("USER", bob.ID)
		}},
		{"a deleted integration is gone", func() {
			if _, err := integrations.DeleteIntegration(ctx, in.Integration.ID); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return r.find(admin, "courier"), nil
		}},
		{"a deleted user is gone, their orders stay", func() {
			if err := users.DeleteUser(ctx, carol.ID); err != nil {
				t.Fatal(err)
			}
		}, func() ([]string, []string) {
			return r.find(admin, "quinella"), keys("ORDER", o.ID)
		}},
	}
	for _, s := range steps {
		s.change()
		r.sync(1)
		if got, want := s.check(); !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", s.name, got, want)
		}
	}

	// Stopped, changed, restarted: the new process resumes from the cursor.
	stop()
	before, _ := r.cursors.ReadConsumerCursor(context.Background(), rigCursor)
	o2, err := orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: p.ID, CustomerID: &alice.ID, Currency: "USD",
		Items: []switchyard.OrderItemInput{{SKU: "Q-1", Name: "Quokka plush", Quantity: 1, UnitPrice: "9.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	stop = r.start()
	defer stop()
	r.sync(1)
	if got := r.find(admin, "quokka"); !slices.Equal(got, keys("ORDER", o2.ID)) {
		t.Fatalf("after a restart: %v", got)
	}
	after, _ := r.cursors.ReadConsumerCursor(context.Background(), rigCursor)
	if after.Epoch != before.Epoch || after.Seq <= before.Seq {
		t.Fatalf("the restart should resume, not rebuild: %+v then %+v", before, after)
	}
}

// TestIndexerRebuildsWhatTheLogNeverSaid: rows written without events (a
// seed after the index was built) make the next start rebuild, and the index
// then holds every row.
func TestIndexerRebuildsWhatTheLogNeverSaid(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := newIndexerRig(t, cfg.DatabaseURL)
	stop := r.start()
	r.sync(1)
	stop()
	if _, err := postgres.Seed(context.Background(), r.db, postgres.SeedOptions{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	stop = r.start()
	defer stop()
	r.sync(2)
	counts, err := search.IndexCounts(context.Background(), r.index)
	if err != nil {
		t.Fatal(err)
	}
	src := postgres.NewSearchSource(r.db)
	for _, typ := range switchyard.SearchTypes {
		if n, _ := src.CountSearchDocuments(context.Background(), typ); counts[typ] != n {
			t.Fatalf("%s: index %d, tables %d", typ, counts[typ], n)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
