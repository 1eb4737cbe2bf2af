package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/search"
	"github.com/switchyard/switchyard/search/embedded"
	"github.com/switchyard/switchyard/server"
)

// searchEnv is a server with search: an embedded index behind a switch that
// takes the backend down, the relay that sequences events, and the indexer
// that follows them into the index.
type searchEnv struct {
	*integrationEnv
	index   *switchableIndex
	indexer *search.Indexer
	logs    *syncBuffer
}

type searchOptions struct {
	// poll is the indexer's idle poll; an hour leaves it asleep until a
	// consistentWith search (or sync) nudges it.
	poll time.Duration
	wait time.Duration // the consistentWith bound
	// seed loads the demo data at this scale before the indexer starts, so
	// its first-start rebuild indexes it.
	seed int
}

func newSearchEnv(t *testing.T, o searchOptions) *searchEnv {
	t.Helper()
	if o.poll == 0 {
		o.poll = 20 * time.Millisecond
	}
	emb, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idx := &switchableIndex{SearchIndex: emb}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()

	// As newIntegrationEnv, with search in the resolver and /readyz.
	dsn := postgrestest.NewDatabaseURL(t)
	counter := &statementCounter{}
	db, err := postgres.Open(ctx, dsn, postgres.WithQueryTracer(counter))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	svc, err := postgres.NewIntegrationService(db, postgres.IntegrationOptions{SecretKey: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if o.seed > 0 {
		if _, err := postgres.Seed(ctx, db, postgres.SeedOptions{Scale: o.seed}); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	relay := postgres.NewRelay(db, realtime.NewMemoryBroker(), logger,
		postgres.WithRelayPollInterval(20*time.Millisecond), postgres.WithRelayLockRetry(100*time.Millisecond))
	indexer := search.NewIndexer(idx, postgres.NewEventLog(db), postgres.NewSearchSource(db), postgres.NewConsumerCursors(db),
		search.IndexerOptions{Cursor: "search:test", Poll: o.poll, MaxBackoff: 100 * time.Millisecond, AutoRebuild: true, Logger: logger})
	base := newEnv(t, withDSN(dsn),
		withResolver(func(r *resolvers.Resolver) {
			r.Integrations, r.PublicURL = svc, testPublicURL
			r.Search, r.SearchFreshness, r.Viewers, r.SearchWait = idx, indexer, postgres.NewUserService(db), o.wait
		}),
		withDeps(func(d *server.Deps) {
			d.APIKeys = svc
			d.Checks = append(d.Checks, server.Check{Name: "search", Pinger: idx, Optional: true})
		}))
	e := &searchEnv{
		integrationEnv: &integrationEnv{env: base, integrations: svc, idb: db, istmts: counter},
		index:          idx, indexer: indexer, logs: logs,
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(runCtx) })
	wg.Go(func() { _ = e.indexer.Run(runCtx) })
	t.Cleanup(func() {
		stop()
		wg.Wait()
		_ = emb.Close()
		if t.Failed() {
			t.Logf("search log:\n%s", e.logs.String())
		}
	})
	return e
}

// sync waits until every committed event is sequenced and indexed.
func (e *searchEnv) sync() {
	e.t.Helper()
	// A rebuild under -race on a loaded machine takes a while; the deadline
	// only bounds a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The indexer's first start rebuilds (epoch 1) before it follows the log.
	for {
		c, err := postgres.NewConsumerCursors(e.idb).ReadConsumerCursor(ctx, "search:test")
		if err != nil {
			e.t.Fatalf("sync: %v", err)
		}
		if c != nil && c.Epoch > 0 {
			break
		}
		select {
		case <-ctx.Done():
			e.t.Fatal("sync: the indexer's first rebuild did not finish")
		case <-time.After(10 * time.Millisecond): // polling the database, with a deadline
		}
	}
	for {
		var unsequenced, last int64
		err := e.idb.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE seq IS NULL), last_seq FROM relay_state`).Scan(&unsequenced, &last)
		if err != nil {
			e.t.Fatalf("sync: %v", err)
		}
		if unsequenced == 0 {
			if err := e.indexer.WaitIndexed(ctx, last); err != nil {
				e.t.Fatalf("sync: the index did not reach event %d (at %d): %v", last, e.indexer.IndexedSeq(), err)
			}
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("sync: %d events still unsequenced", unsequenced)
		case <-time.After(10 * time.Millisecond): // polling the database, with a deadline
		}
	}
}

// eventSeq waits for the relay to sequence the latest event about subject.
func (e *searchEnv) eventSeq(subjectID string) int64 {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var seq *int64
		err := e.idb.Pool().QueryRow(context.Background(),
			`SELECT seq FROM events WHERE subject_id = $1 ORDER BY id DESC LIMIT 1`, subjectID).Scan(&seq)
		if err != nil {
			e.t.Fatalf("event of %s: %v", subjectID, err)
		}
		if seq != nil {
			return *seq
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the event of %s was not sequenced", subjectID)
		}
		time.Sleep(10 * time.Millisecond) // polling the database, with a deadline
	}
}

// switchableIndex is a SearchIndex whose backend can be taken down: every
// call then fails with SEARCH_UNAVAILABLE, as an unreachable cluster's would.
type switchableIndex struct {
	switchyard.SearchIndex
	down atomic.Bool
}

func (s *switchableIndex) err() error {
	if s.down.Load() {
		return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable (test: backend down)")
	}
	return nil
}

func (s *switchableIndex) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.SearchIndex.Index(ctx, docs)
}

func (s *switchableIndex) Delete(ctx context.Context, t switchyard.SearchType, id string, v int64) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.SearchIndex.Delete(ctx, t, id, v)
}

func (s *switchableIndex) Search(ctx context.Context, q switchyard.SearchQuery) (*switchyard.SearchResults, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.SearchIndex.Search(ctx, q)
}

func (s *switchableIndex) Suggest(ctx context.Context, q switchyard.SuggestQuery) ([]switchyard.SearchSuggestion, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.SearchIndex.Suggest(ctx, q)
}

func (s *switchableIndex) Rebuild(ctx context.Context) (switchyard.SearchRebuild, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.SearchIndex.Rebuild(ctx)
}

func (s *switchableIndex) Ping(ctx context.Context) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.SearchIndex.Ping(ctx)
}

const searchFields = `totalCount
	edges { cursor score highlights { field snippets }
		node { __typename ... on User { id name email } ... on Project { id name } ... on Order { id number } ... on Integration { id name } } }
	facets { field buckets { value count } }
	pageInfo { hasNextPage endCursor }`

type searchPage struct {
	TotalCount int `json:"totalCount"`
	Edges      []struct {
		Cursor     string  `json:"cursor"`
		Score      float64 `json:"score"`
		Highlights []struct {
			Field    string   `json:"field"`
			Snippets []string `json:"snippets"`
		} `json:"highlights"`
		Node struct {
			Typename string `json:"__typename"`
			ID       string `json:"id"`
			Name     string `json:"name"`
			Email    string `json:"email"`
			Number   string `json:"number"`
		} `json:"node"`
	} `json:"edges"`
	Facets []struct {
		Field   string `json:"field"`
		Buckets []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"buckets"`
	} `json:"facets"`
	PageInfo struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	} `json:"pageInfo"`
}

// keys are the hits as "TYPE/id".
func (p *searchPage) keys() []string {
	out := []string{}
	for _, e := range p.Edges {
		out = append(out, strings.ToUpper(e.Node.Typename)+"/"+e.Node.ID)
	}
	slices.Sort(out)
	return out
}

func (p *searchPage) facet(field string) map[string]int {
	out := map[string]int{}
	for _, f := range p.Facets {
		if f.Field == field {
			for _, b := range f.Buckets {
				out[b.Value] = b.Count
			}
		}
	}
	return out
}

// search runs one search and fails the test on errors.
func (e *searchEnv) search(token string, args string, vars map[string]any) *searchPage {
	e.t.Helper()
	r := e.gql(token, `query($q: String!, $after: String, $cw: String) { search(query: $q, after: $after, consistentWith: $cw`+args+`) { `+searchFields+` } }`, vars)
	var out struct {
		Search searchPage `json:"search"`
	}
	r.decode(e.t, &out)
	return &out.Search
}

// everything matches every document (all were created after 2000).
const everything = `, filter: {createdAfter: "2000-01-01T00:00:00Z"}, first: 100`

// doc is what the matrix knows of one document, for the expected facets.
type doc struct {
	key, project, status string
}

// TestSearchAuthorizationMatrix: for every kind of caller, search finds
// exactly what the service layer lets them read (within the types they may
// search), and totalCount and every facet count only that. Then a member is
// removed from a project and loses its documents from hits and counts.
func TestSearchAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{})
	w := e.world()
	i1 := e.mustIntegration(w.p1, w.alice).Integration
	i2 := e.mustIntegration(w.p2, w.carol).Integration
	keyOrders := e.mustKey(i1, w.alice, switchyard.ScopeOrdersRead).Key
	keyBoth := e.mustKey(i1, w.alice, switchyard.ScopeOrdersRead, switchyard.ScopeProjectsRead).Key
	keyIntegrations := e.mustKey(i1, w.alice, switchyard.ScopeIntegrationsRead).Key
	e.sync()

	all := map[string]doc{}
	for _, u := range []*switchyard.User{w.admin, w.alice, w.bob, w.carol, w.dave} {
		all["USER/"+u.ID] = doc{key: "USER/" + u.ID}
	}
	for _, p := range []*switchyard.Project{w.p1, w.p2} {
		all["PROJECT/"+p.ID] = doc{"PROJECT/" + p.ID, p.ID, "ACTIVE"}
	}
	for _, o := range []*switchyard.Order{w.o1, w.o2} {
		all["ORDER/"+o.ID] = doc{"ORDER/" + o.ID, o.ProjectID, "PENDING"}
	}
	for _, i := range []*switchyard.Integration{i1, i2} {
		all["INTEGRATION/"+i.ID] = doc{"INTEGRATION/" + i.ID, i.ProjectID, "ACTIVE"}
	}

	// readable asks the services what ctx may read among all documents.
	readable := func(ctx context.Context, types ...switchyard.SearchType) []string {
		t.Helper()
		ids := map[string][]string{}
		for k := range all {
			typ, id, _ := switchyard.ParseSearchKey(k)
			ids[string(typ)] = append(ids[string(typ)], id)
		}
		var out []string
		add := func(t switchyard.SearchType, id string) {
			if len(types) == 0 || slices.Contains(types, t) {
				out = append(out, string(t)+"/"+id)
			}
		}
		us, err1 := e.users.FindUsersByIDs(ctx, ids["USER"])
		ps, err2 := e.projects.FindProjectsByIDs(ctx, ids["PROJECT"])
		os, err3 := e.orders.FindOrdersByIDs(ctx, ids["ORDER"])
		is, err4 := e.integrations.FindIntegrationsByIDs(ctx, ids["INTEGRATION"])
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range us {
			add(switchyard.SearchUser, u.ID)
		}
		for _, p := range ps {
			add(switchyard.SearchProject, p.ID)
		}
		for _, o := range os {
			add(switchyard.SearchOrder, o.ID)
		}
		for _, i := range is {
			add(switchyard.SearchIntegration, i.ID)
		}
		slices.Sort(out)
		return out
	}
	partner := func(key string) context.Context {
		c, err := e.integrations.ResolveAPIKey(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return switchyard.NewContextWithCaller(context.Background(), c)
	}
	keysOf := func(keys ...string) []string { slices.Sort(keys); return keys }
	u, p, o, in := func(x *switchyard.User) string { return "USER/" + x.ID }, func(x *switchyard.Project) string { return "PROJECT/" + x.ID },
		func(x *switchyard.Order) string { return "ORDER/" + x.ID }, func(x *switchyard.Integration) string { return "INTEGRATION/" + x.ID }

	type caller struct {
		name, token string
		// want is what the search must find: what the services let the
		// caller read, restricted to the types it may search; spelled out
		// too, so a service change cannot quietly move both.
		want, services []string
		// hidden are projects whose facet bucket the caller is not shown
		// although a readable document belongs to them.
		hidden []string
	}
	callers := []caller{
		{"admin", e.token(w.admin), slices.Sorted(maps.Keys(all)), readable(asUser(w.admin)), nil},
		{"owner", e.token(w.alice), keysOf(u(w.alice), u(w.bob), u(w.dave), p(w.p1), o(w.o1), in(i1)), readable(asUser(w.alice)), nil},
		{"member", e.token(w.bob), keysOf(u(w.alice), u(w.bob), u(w.dave), p(w.p1), o(w.o1), in(i1)), readable(asUser(w.bob)), nil},
		{"other project's owner", e.token(w.carol), keysOf(u(w.carol), p(w.p2), o(w.o2), in(i2)), readable(asUser(w.carol)), nil},
		{"customer", e.token(w.dave), keysOf(u(w.dave), o(w.o1)), readable(asUser(w.dave)), nil},
		{"partner with ORDERS_READ", keyOrders, keysOf(o(w.o1)), readable(partner(keyOrders), switchyard.SearchOrder), nil},
		{"partner with ORDERS_READ and PROJECTS_READ", keyBoth, keysOf(u(w.alice), u(w.bob), u(w.dave), p(w.p1), o(w.o1)),
			readable(partner(keyBoth), switchyard.SearchOrder, switchyard.SearchProject, switchyard.SearchUser), nil},
		{"partner with INTEGRATIONS_READ only", keyIntegrations, keysOf(), []string(nil), nil},
	}
	// The customer reads their order but not its project: no bucket names it.
	callers[4].hidden = []string{w.p1.ID}
	check := func(t *testing.T, c caller, query, args string) {
		t.Helper()
		if !slices.Equal(c.want, c.services) && len(c.services) > 0 {
			t.Fatalf("the services let %s read %v, the test expects %v", c.name, c.services, c.want)
		}
		got := e.search(c.token, args, map[string]any{"q": query})
		if !slices.Equal(got.keys(), c.want) {
			t.Fatalf("%s found %v, want %v", c.name, got.keys(), c.want)
		}
		if got.TotalCount != len(c.want) {
			t.Fatalf("%s: totalCount %d, want %d", c.name, got.TotalCount, len(c.want))
		}
		wantFacets := map[string]map[string]int{"type": {}, "status": {}, "project": {}}
		for _, k := range c.want {
			typ, _, _ := switchyard.ParseSearchKey(k)
			wantFacets["type"][string(typ)]++
			if d := all[k]; d.status != "" {
				wantFacets["status"][d.status]++
				if !slices.Contains(c.hidden, d.project) {
					wantFacets["project"][d.project]++
				}
			}
		}
		for field, want := range wantFacets {
			if g := got.facet(field); !maps.Equal(g, want) {
				t.Fatalf("%s: facet %s = %v, want %v", c.name, field, g, want)
			}
		}
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) { check(t, c, "", everything) })
	}

	// A text query narrows the same way: every order has a Widget.
	for _, c := range callers {
		var orders []string
		for _, k := range c.want {
			if strings.HasPrefix(k, "ORDER/") {
				orders = append(orders, k)
			}
		}
		c.want, c.services = keysOf(orders...), nil
		t.Run(c.name+", text", func(t *testing.T) { check(t, c, "widget", "") })
	}

	t.Run("anonymous", func(t *testing.T) {
		r := e.gql("", `{ search(query: "widget") { totalCount } }`, nil)
		if r.code() != switchyard.EUNAUTHENTICATED {
			t.Fatalf("anonymous search: %s", r.Raw)
		}
		r = e.gql("", `{ searchSuggest(prefix: "wid") { text } }`, nil)
		if r.code() != switchyard.EUNAUTHENTICATED {
			t.Fatalf("anonymous suggest: %s", r.Raw)
		}
	})

	t.Run("a customer is not shown the project name of their order", func(t *testing.T) {
		got := e.search(e.token(w.dave), ``, map[string]any{"q": "apollo"})
		for _, h := range got.Edges {
			for _, hl := range h.Highlights {
				if hl.Field == switchyard.SearchFieldProjectName {
					t.Fatalf("the customer sees the project name highlighted: %+v", h)
				}
			}
		}
		got = e.search(e.token(w.alice), ``, map[string]any{"q": "apollo"})
		found := false
		for _, h := range got.Edges {
			for _, hl := range h.Highlights {
				found = found || hl.Field == switchyard.SearchFieldProjectName && h.Node.ID == w.o1.ID
			}
		}
		if !found {
			t.Fatalf("the owner should see the order's project name highlighted: %+v", got.Edges)
		}
	})

	t.Run("suggestions obey the same rule", func(t *testing.T) {
		var out struct {
			SearchSuggest []struct {
				Text, Type, ID string
			} `json:"searchSuggest"`
		}
		e.gql(e.token(w.dave), `{ searchSuggest(prefix: "a", first: 100) { text type id } }`, nil).decode(t, &out)
		for _, s := range out.SearchSuggest {
			if k := s.Type + "/" + s.ID; k != u(w.dave) && k != o(w.o1) {
				t.Fatalf("the customer was suggested %s (%s)", k, s.Text)
			}
		}
		e.gql(e.token(w.alice), `{ searchSuggest(prefix: "car") { text type id } }`, nil).decode(t, &out)
		for _, s := range out.SearchSuggest {
			if s.ID == w.carol.ID || s.ID == w.p2.ID {
				t.Fatalf("alice was suggested carol's %s %q", s.Type, s.Text)
			}
		}
	})

	// Bob leaves Apollo: its project, order, integration and people leave
	// his results and his counts as soon as the change is indexed.
	if _, err := e.projects.RemoveProjectMember(adminCtx(), w.p1.ID, w.bob.ID); err != nil {
		t.Fatal(err)
	}
	e.sync()
	t.Run("removed member", func(t *testing.T) {
		check(t, caller{name: "removed member", token: e.token(w.bob), want: keysOf(u(w.bob)), services: readable(asUser(w.bob))}, "", everything)
	})
	t.Run("remaining members no longer find the removed one", func(t *testing.T) {
		want := keysOf(u(w.alice), u(w.dave), p(w.p1), o(w.o1), in(i1))
		check(t, caller{name: "owner", token: e.token(w.alice), want: want, services: readable(asUser(w.alice))}, "", everything)
	})
}

// TestSearchHitsAreCurrent: a hit shows the row as it is now, and a hit the
// caller may no longer read is dropped from the page and the counts even
// before the index has caught up.
func TestSearchHitsAreCurrent(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{poll: time.Hour})
	w := e.world()
	e.sync()
	alice := e.token(w.alice)

	// Renamed in the database; the indexer is asleep (nothing nudges it).
	newName := "Zanzibar"
	if _, err := e.users.UpdateUser(adminCtx(), w.dave.ID, switchyard.UserUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	got := e.search(alice, `, types: [USER]`, map[string]any{"q": "dave"})
	if len(got.Edges) != 1 || got.Edges[0].Node.Name != newName {
		t.Fatalf("the hit should show the current name: %+v", got.Edges)
	}

	// Deleted: the index still holds the user, the services no longer
	// return it, so the hit and its count disappear.
	if err := e.users.DeleteUser(adminCtx(), w.dave.ID); err != nil {
		t.Fatal(err)
	}
	got = e.search(alice, `, types: [USER]`, map[string]any{"q": "zanzibar dave"})
	if got.TotalCount != 0 || len(got.Edges) != 0 || len(got.facet("type")) != 0 {
		t.Fatalf("a deleted user is still found: %+v", got)
	}
	e.sync()
	got = e.search(e.token(w.admin), `, types: [USER]`, map[string]any{"q": "zanzibar"})
	if got.TotalCount != 0 {
		t.Fatalf("the deleted user is still in the index: %+v", got)
	}
}

// TestSearchReadYourWrites: consistentWith waits for the index to hold the
// change an event cursor names; past the bound the search answers anyway and
// says so in extensions.
func TestSearchReadYourWrites(t *testing.T) {
	t.Parallel()
	// The indexer sleeps until a search nudges it, so only consistentWith
	// can make the new order visible.
	e := newSearchEnv(t, searchOptions{poll: time.Hour, wait: resolvers.DefaultSearchWait})
	w := e.world()
	e.sync()
	alice := e.token(w.alice)

	var created struct {
		CreateOrder struct{ ID, Number string } `json:"createOrder"`
	}
	e.gql(alice, `mutation($p: ID!, $c: ID!) { createOrder(input: {projectId: $p, customerId: $c, currency: "EUR",
		items: [{sku: "ZP-1", name: "Zeppelin", quantity: 1, unitPrice: "99.00"}]}) { id number } }`,
		map[string]any{"p": w.p1.ID, "c": w.dave.ID}).decode(t, &created)
	seq := e.eventSeq(created.CreateOrder.ID)
	cursor := switchyard.EventCursor(seq)

	if got := e.search(alice, ``, map[string]any{"q": "zeppelin"}); got.TotalCount != 0 {
		t.Fatalf("the sleeping indexer indexed the order anyway; the test proves nothing: %+v", got)
	}
	r := e.gql(alice, `query($cw: String) { search(query: "zeppelin", consistentWith: $cw) { totalCount edges { node { ... on Order { id } } } } }`,
		map[string]any{"cw": cursor})
	var out struct {
		Search searchPage `json:"search"`
	}
	r.decode(t, &out)
	if out.Search.TotalCount != 1 || out.Search.Edges[0].Node.ID != created.CreateOrder.ID {
		t.Fatalf("consistentWith did not wait for the order: %s", r.Raw)
	}
	if strings.Contains(r.Raw, `"consistent"`) {
		t.Fatalf("a search that caught up reports inconsistency: %s", r.Raw)
	}

	// A cursor the index will not reach in time: answered, and flagged.
	began := time.Now()
	r = e.gql(alice, `query($cw: String) { search(query: "zeppelin", consistentWith: $cw) { totalCount } }`,
		map[string]any{"cw": switchyard.EventCursor(seq + 1000)})
	var ext struct {
		Data struct {
			Search struct{ TotalCount int } `json:"search"`
		} `json:"data"`
		Extensions struct {
			Search map[string]struct {
				Consistent    bool   `json:"consistent"`
				IndexedCursor string `json:"indexedCursor"`
			} `json:"search"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &ext); err != nil || len(r.Errors) > 0 {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	got, ok := ext.Extensions.Search["search"]
	if !ok || got.Consistent || ext.Data.Search.TotalCount != 1 {
		t.Fatalf("want an answer with extensions.search.search.consistent=false: %s", r.Raw)
	}
	if at, err := switchyard.ParseEventCursor("x", got.IndexedCursor); err != nil || at < seq {
		t.Fatalf("indexedCursor %q (%d): %v", got.IndexedCursor, at, err)
	}
	if d := time.Since(began); d < resolvers.DefaultSearchWait {
		t.Fatalf("answered after %v, before the bound", d)
	}

	r = e.gql(alice, `{ search(query: "zeppelin", consistentWith: "nope") { totalCount } }`, nil)
	if r.code() != switchyard.EINVALID || r.field() != "consistentWith" {
		t.Fatalf("malformed cursor: %s", r.Raw)
	}
}

// TestSearchBackendDownAndRecovery: with the backend down, search answers
// SEARCH_UNAVAILABLE, /readyz reports it (and stays 200: the rest of the API
// works), writes go on, and the indexer catches up when the backend returns.
func TestSearchBackendDownAndRecovery(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{})
	w := e.world()
	e.sync()
	alice := e.token(w.alice)

	e.index.down.Store(true)
	for _, q := range []string{`{ search(query: "widget") { totalCount } }`, `{ searchSuggest(prefix: "wid") { text } }`} {
		r := e.gql(alice, q, nil)
		if r.code() != switchyard.ESEARCHUNAVAILABLE || r.Status != http.StatusOK {
			t.Fatalf("%s with the backend down: %d %s", q, r.Status, r.Raw)
		}
	}
	status, body := e.get("/readyz")
	var ready struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || status != http.StatusOK || ready.Status != "degraded" ||
		ready.Checks["search"].Status != "down" || ready.Checks["postgres"].Status != "ok" {
		t.Fatalf("/readyz with search down: %d %s", status, body)
	}
	var orders struct {
		Orders struct{ TotalCount int } `json:"orders"`
	}
	e.gql(alice, `{ orders { totalCount } }`, nil).decode(t, &orders)
	if orders.Orders.TotalCount != 1 {
		t.Fatalf("the rest of the API: %+v", orders)
	}

	// Written while the index cannot take it.
	o := e.mustOrder(w.p1, w.dave, switchyard.OrderItemInput{SKU: "DN-1", Name: "Dynamo", Quantity: 1, UnitPrice: "5.00"})
	deadline := time.Now().Add(waitFor)
	for e.indexer.Status().Err == nil {
		if time.Now().After(deadline) {
			t.Fatal("the indexer never noticed the backend was down")
		}
		time.Sleep(10 * time.Millisecond) // polling the indexer's state, with a deadline
	}

	e.index.down.Store(false)
	e.sync()
	got := e.search(alice, ``, map[string]any{"q": "dynamo"})
	if got.TotalCount != 1 || got.Edges[0].Node.ID != o.ID {
		t.Fatalf("the indexer did not catch up: %+v", got)
	}
	if status, body := e.get("/readyz"); status != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/readyz after recovery: %d %s", status, body)
	}
	if e.indexer.Status().Err != nil {
		t.Fatalf("indexer still failing: %v", e.indexer.Status().Err)
	}
}

// TestSearchRelevanceOnSeedData: through GraphQL, on the demo data the
// indexer's first-start rebuild indexed: typos find people, exact order
// numbers and emails come first, quoted phrases match as phrases, and pages
// follow one another.
func TestSearchRelevanceOnSeedData(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{seed: 1})
	e.sync()
	admin, err := e.users.FindUserByEmail(adminCtx(), "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := e.users.FindUserByEmail(adminCtx(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var number string
	if err := e.idb.Pool().QueryRow(context.Background(), `SELECT number FROM orders o JOIN projects p ON p.id = o.project_id
		WHERE p.owner_id = $1 ORDER BY number LIMIT 1 OFFSET 41`, alice.ID).Scan(&number); err != nil {
		t.Fatal(err)
	}
	digits := strings.TrimLeft(strings.TrimPrefix(number, "SO-"), "0")

	cases := []struct {
		name, query, args string
		first             func(p *searchPage) bool
		what              string
	}{
		{"a typo finds Alice", "alise", "", func(p *searchPage) bool { return p.Edges[0].Node.Email == "alice@example.com" }, "Alice"},
		{"an exact email", "alice@example.com", "", func(p *searchPage) bool { return p.Edges[0].Node.Email == "alice@example.com" }, "Alice"},
		{"an exact order number", number, "", func(p *searchPage) bool { return p.Edges[0].Node.Number == number }, number},
		{"an order number's digits", digits, "", func(p *searchPage) bool { return p.Edges[0].Node.Number == number }, number},
		{"a misspelt type word finds orders", "ordr", "", func(p *searchPage) bool { return p.Edges[0].Node.Typename == "Order" }, "an order"},
		{"a quoted phrase", `"northwind outfitters"`, ", types: [PROJECT]", func(p *searchPage) bool { return p.Edges[0].Node.Name == "Northwind Outfitters" }, "Northwind Outfitters"},
	}
	for _, as := range []struct {
		name  string
		token string
	}{{"admin", e.token(admin)}, {"alice", e.token(alice)}} {
		for _, c := range cases {
			t.Run(as.name+"/"+c.name, func(t *testing.T) {
				got := e.search(as.token, c.args, map[string]any{"q": c.query})
				if len(got.Edges) == 0 || !c.first(got) {
					var top []string
					for i, h := range got.Edges {
						if i < 5 {
							top = append(top, fmt.Sprintf("%s %s%s%s %.2f", h.Node.Typename, h.Node.Name, h.Node.Email, h.Node.Number, h.Score))
						}
					}
					t.Fatalf("%q: want %s first, got %d hits: %v", c.query, c.what, got.TotalCount, top)
				}
			})
		}
	}

	t.Run("pages follow one another", func(t *testing.T) {
		tok := e.token(admin)
		seen := map[string]bool{}
		var after any
		total := -1
		for page := 0; page < 4; page++ {
			got := e.search(tok, `, first: 7`, map[string]any{"q": "hammer", "after": after})
			if total >= 0 && got.TotalCount != total {
				t.Fatalf("totalCount changed between pages: %d then %d", total, got.TotalCount)
			}
			total = got.TotalCount
			for _, k := range got.keys() {
				if seen[k] {
					t.Fatalf("page %d repeats %s", page, k)
				}
				seen[k] = true
			}
			if !got.PageInfo.HasNextPage {
				break
			}
			after = *got.PageInfo.EndCursor
		}
		if len(seen) == 0 {
			t.Fatal("no hits for hammer")
		}
	})

	t.Run("highlights mark the match", func(t *testing.T) {
		got := e.search(e.token(admin), ``, map[string]any{"q": "alice"})
		for _, h := range got.Edges[0].Highlights {
			for _, s := range h.Snippets {
				if strings.Contains(strings.ToLower(s), "<mark>alice</mark>") {
					return
				}
			}
		}
		t.Fatalf("no <mark>alice</mark> in %+v", got.Edges[0].Highlights)
	})
}

// TestSearchSyntaxIsText: query strings full of operators and syntax
// characters are searched as text and never produce an error.
func TestSearchSyntaxIsText(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{})
	w := e.world()
	e.sync()
	queries := []string{
		`"`, `""`, `"widget`, `:`, `*`, `(`, `)`, `\`, `\\`, `OR`, `AND`, `NOT`, `{}`, `[]`, `~`, `^`, `!`, `?`,
		`name:alice`, `*:*`, `widget OR gadget`, `(widget`, `wid*`, `widget~2`, `widget^10`, `+widget -gadget`,
		`title:(quick OR brown) AND "fox"~5`, `/regex.*/`, `a && b || c`, `{"json": true}`, `<script>alert(1)</script>`,
		`'; DROP TABLE orders; --`, `%`, `_`, `$where`, `🙂 widget`, `ünïcödé`, strings.Repeat(`(`, 256), strings.Repeat(`"a" `, 64),
	}
	tokens := []string{e.token(w.admin), e.token(w.alice)}
	for _, q := range queries {
		for _, tok := range tokens {
			for _, op := range []string{
				`query($q: String!) { search(query: $q) { totalCount edges { highlights { snippets } } facets { field } } }`,
				`query($q: String!) { searchSuggest(prefix: $q) { text } }`,
			} {
				r := e.gql(tok, op, map[string]any{"q": q})
				if len(r.Errors) > 0 && !(strings.TrimSpace(q) == "" && r.code() == switchyard.EINVALID) {
					t.Fatalf("%q: %s", q, r.Raw)
				}
			}
		}
	}
	// Syntax characters around a real word still find it.
	for _, q := range []string{`widget:`, `(widget)`, `"widget"`, `widget*`, `\widget`, `{widget}`} {
		if got := e.search(tokens[1], ``, map[string]any{"q": q}); got.TotalCount == 0 {
			t.Errorf("%q finds nothing", q)
		}
	}
}

// TestSearchBadInput: each mistake is BAD_USER_INPUT naming the argument.
func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, searchOptions{})
	w := e.world()
	e.sync()
	tok := e.token(w.alice)
	long := strings.Repeat("x", 257)
	cases := []struct {
		name, query, code, field string
	}{
		{"empty query without filter", `{ search(query: "") { totalCount } }`, switchyard.EINVALID, "query"},
		{"blank query without filter", `{ search(query: "  \t ") { totalCount } }`, switchyard.EINVALID, "query"},
		{"query over 256 characters", `{ search(query: "` + long + `") { totalCount } }`, switchyard.EINVALID, "query"},
		{"first over 100", `{ search(query: "a", first: 101) { totalCount } }`, switchyard.EINVALID, "first"},
		{"negative first", `{ search(query: "a", first: -1) { totalCount } }`, switchyard.EINVALID, "first"},
		{"unknown facet", `{ search(query: "a", facets: ["type", "colour"]) { totalCount facets { field } } }`, switchyard.EINVALID, "facets[1]"},
		{"min above max", `{ search(query: "a", filter: {minTotal: "10", maxTotal: "1"}) { totalCount } }`, switchyard.EINVALID, "filter.minTotal"},
		{"malformed cursor", `{ search(query: "a", after: "garbage") { totalCount } }`, switchyard.EINVALID, "after"},
		{"empty prefix", `{ searchSuggest(prefix: " ") { text } }`, switchyard.EINVALID, "prefix"},
		{"prefix over 256 characters", `{ searchSuggest(prefix: "` + long + `") { text } }`, switchyard.EINVALID, "prefix"},
		{"suggest first over 100", `{ searchSuggest(prefix: "a", first: 500) { text } }`, switchyard.EINVALID, "first"},
		// Types are an enum: GraphQL itself refuses an unknown one, naming
		// the argument.
		{"unknown type", `{ search(query: "a", types: [ORDER, SHIPMENT]) { totalCount } }`, "GRAPHQL_VALIDATION_FAILED", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.gql(tok, c.query, nil)
			if r.code() != c.code || r.field() != c.field {
				t.Fatalf("want %s on %q, got %s", c.code, c.field, r.Raw)
			}
		})
	}
	r := e.gql(tok, `query($t: [SearchType!]) { search(query: "a", types: $t) { totalCount } }`, map[string]any{"t": []string{"SHIPMENT"}})
	if r.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Raw, "SHIPMENT is not a valid SearchType") {
		t.Fatalf("unknown type in a variable: %s", r.Raw)
	}
	// A blank query with a filter is fine.
	if got := e.search(tok, `, filter: {status: ["PENDING"]}`, map[string]any{"q": " "}); got.TotalCount != 1 {
		t.Fatalf("filter-only search: %+v", got)
	}
}
