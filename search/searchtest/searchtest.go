// Package searchtest is the conformance suite every switchyard.SearchIndex
// passes: the embedded Bleve index always, Elasticsearch where
// ELASTICSEARCH_URL is set.
package searchtest

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// Opener opens the index stored under name, creating it empty the first time.
// Opening a name again once the previous index for it is closed reopens the
// same storage, as a restarted process would. The suite gives every test its
// own names and closes what it opens.
type Opener func(t *testing.T, name string) switchyard.SearchIndex

// Run runs the suite against the backend open opens.
func Run(t *testing.T, open Opener) {
	s := &suite{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"IndexAndFind", s.testIndexAndFind},
		{"Validation", s.testValidation},
		{"Delete", s.testDelete},
		{"Versions", s.testVersions},
		{"Filters", s.testFilters},
		{"Facets", s.testFacets},
		{"Highlights", s.testHighlights},
		{"Fuzziness", s.testFuzziness},
		{"Phrases", s.testPhrases},
		{"Pagination", s.testPagination},
		{"SyntaxIsText", s.testSyntaxIsText},
		{"Access", s.testAccess},
		{"Relevance", s.testRelevance},
		{"Suggest", s.testSuggest},
		{"Rebuild", s.testRebuild},
		{"RebuildResume", s.testRebuildResume},
		{"RebuildAbort", s.testRebuildAbort},
		{"Closed", s.testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

type suite struct {
	open Opener
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// index opens a fresh index for t, filled with docs, closed at cleanup.
func (s *suite) index(t *testing.T, docs ...switchyard.SearchDocument) switchyard.SearchIndex {
	t.Helper()
	idx := s.open(t, s.name(t, ""))
	t.Cleanup(func() { _ = idx.Close() })
	if len(docs) > 0 {
		if err := idx.Index(ctx(t), docs); err != nil {
			t.Fatalf("Index: %v", err)
		}
	}
	return idx
}

func (s *suite) name(t *testing.T, suffix string) string {
	n := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()+suffix), "-"), "-")
	if len(n) > 60 {
		n = n[len(n)-60:]
	}
	return n
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func ptr[T any](v T) *T { return &v }

func search(t *testing.T, idx switchyard.SearchIndex, q switchyard.SearchQuery) *switchyard.SearchResults {
	t.Helper()
	if q.Viewer == nil {
		q.Viewer = admin
	}
	res, err := idx.Search(ctx(t), q)
	if err != nil {
		t.Fatalf("Search(%q): %v", q.Text, err)
	}
	for _, h := range res.Hits {
		if math.IsNaN(h.Score) || math.IsInf(h.Score, 0) || (q.Text != "" && h.Score <= 0) {
			t.Errorf("Search(%q): %s/%s has score %v", q.Text, h.Type, h.ID, h.Score)
		}
	}
	return res
}

func find(t *testing.T, idx switchyard.SearchIndex, text string) []string {
	t.Helper()
	return keys(search(t, idx, switchyard.SearchQuery{Text: text, First: ptr(100)}))
}

func keys(res *switchyard.SearchResults) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = key(h.Type, h.ID)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func wantSet(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("%s: got %q, want %q (any order)", what, got, want)
	}
}

func (s *suite) testIndexAndFind(t *testing.T) {
	idx := s.index(t, corpus()...)
	// What Index acknowledged is searchable at once (read-your-writes).
	wantSet(t, "stripe", find(t, idx, "stripe"), key(switchyard.SearchIntegration, iStripe))
	res := search(t, idx, switchyard.SearchQuery{Text: "alice"})
	if res.TotalCount < 1 || len(res.Hits) != res.TotalCount || res.Hits[0].ID != uAlice || res.Hits[0].Score <= 0 {
		t.Fatalf("alice: %+v", res)
	}
	if res.PageInfo.HasNextPage || res.PageInfo.HasPreviousPage || res.PageInfo.StartCursor == nil || *res.PageInfo.EndCursor != res.Hits[len(res.Hits)-1].Cursor {
		t.Errorf("alice: page info %+v", res.PageInfo)
	}
	// Re-indexing the same versions changes nothing.
	if err := idx.Index(ctx(t), corpus()); err != nil {
		t.Fatal(err)
	}
	if again := search(t, idx, switchyard.SearchQuery{Text: "alice"}); again.TotalCount != res.TotalCount {
		t.Errorf("re-index: %d hits, want %d", again.TotalCount, res.TotalCount)
	}
	// A bad document writes nothing, not even the good ones beside it.
	bad := []switchyard.SearchDocument{
		{Type: switchyard.SearchUser, ID: "u-new", Version: 1, Name: "Quentin Newcomer"},
		{Type: "ANIMAL", ID: "x", Version: 1},
	}
	if err := idx.Index(ctx(t), bad); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Errorf("bad document: %v, want BAD_USER_INPUT", err)
	}
	if got := find(t, idx, "quentin"); len(got) != 0 {
		t.Errorf("bad batch wrote %q", got)
	}
	if err := idx.Index(ctx(t), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := idx.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func (s *suite) testValidation(t *testing.T) {
	idx := s.index(t, corpus()...)
	tests := []struct {
		q     switchyard.SearchQuery
		field string
	}{
		{switchyard.SearchQuery{Text: "   "}, "query"},
		{switchyard.SearchQuery{Text: strings.Repeat("x", 257)}, "query"},
		{switchyard.SearchQuery{Text: "alice", First: ptr(101)}, "first"},
		{switchyard.SearchQuery{Text: "alice", Types: []switchyard.SearchType{"CAT"}}, "types[0]"},
		{switchyard.SearchQuery{Text: "alice", Facets: []string{"colour"}}, "facets[0]"},
		{switchyard.SearchQuery{Text: "alice", After: "not-a-cursor"}, "after"},
		{switchyard.SearchQuery{Text: "alice", After: "c3IxOnt9"}, "after"}, // a cursor of the right shape with nothing in it
	}
	for _, tt := range tests {
		tt.q.Viewer = admin
		_, err := idx.Search(ctx(t), tt.q)
		if switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != tt.field {
			t.Errorf("Search(%+v) = %v, want BAD_USER_INPUT on %s", tt.q, err, tt.field)
		}
	}
	if _, err := idx.Search(ctx(t), switchyard.SearchQuery{Text: "alice"}); switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED {
		t.Errorf("no viewer: %v, want UNAUTHENTICATED", err)
	}
	if _, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: " ", Viewer: admin}); switchyard.ErrorField(err) != "prefix" {
		t.Errorf("empty prefix: %v", err)
	}
	bad := []switchyard.SearchDocument{
		{Type: switchyard.SearchUser, ID: "", Version: 1},
		{Type: switchyard.SearchUser, ID: "x", Version: 0},
		{Type: switchyard.SearchOrder, ID: "x", Version: 1, Total: "12,50"},
	}
	for _, d := range bad {
		if err := idx.Index(ctx(t), []switchyard.SearchDocument{d}); switchyard.ErrorCode(err) != switchyard.EINVALID {
			t.Errorf("Index(%+v) = %v, want BAD_USER_INPUT", d, err)
		}
	}
}

func (s *suite) testDelete(t *testing.T) {
	idx := s.index(t, corpus()...)
	before := search(t, idx, switchyard.SearchQuery{Text: "rockets", Facets: []string{"type"}})
	if err := idx.Delete(ctx(t), switchyard.SearchIntegration, iStripe, 2); err != nil {
		t.Fatal(err)
	}
	after := search(t, idx, switchyard.SearchQuery{Text: "rockets", Facets: []string{"type"}})
	if after.TotalCount != before.TotalCount-1 || slices.Contains(keys(after), key(switchyard.SearchIntegration, iStripe)) {
		t.Errorf("after delete: %d hits %q, before %d", after.TotalCount, keys(after), before.TotalCount)
	}
	for _, b := range after.Facets[0].Buckets {
		if b.Value == string(switchyard.SearchIntegration) {
			t.Errorf("deleted document still counted in facets: %+v", after.Facets)
		}
	}
	// Deleting what is not there records the version; deleting twice is fine.
	for _, del := range []struct {
		typ switchyard.SearchType
		id  string
	}{{switchyard.SearchUser, "u-never"}, {switchyard.SearchIntegration, iStripe}} {
		if err := idx.Delete(ctx(t), del.typ, del.id, 3); err != nil {
			t.Errorf("Delete(%s): %v", del.id, err)
		}
	}
	if err := idx.Index(ctx(t), []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u-never", Version: 2, Name: "Ghost Writer"}}); err != nil {
		t.Fatal(err)
	}
	if got := find(t, idx, "ghost"); len(got) != 0 {
		t.Errorf("a version older than the deletion brought the document back: %q", got)
	}
	if err := idx.Delete(ctx(t), "CAT", "x", 1); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Errorf("Delete(unknown type) = %v", err)
	}
}

func (s *suite) testVersions(t *testing.T) {
	idx := s.index(t)
	doc := func(v int64, name string) []switchyard.SearchDocument {
		return []switchyard.SearchDocument{{Type: switchyard.SearchProject, ID: "p-v", Version: v, Name: name,
			Status: "ACTIVE", ProjectID: "p-v", ProjectIDs: []string{"p-v"}}}
	}
	steps := []struct {
		op      string // index, delete
		version int64
		name    string
		want    string // the name found, "" when the document is gone
	}{
		{"index", 5, "Quasar", "Quasar"},
		{"index", 3, "Nebula", "Quasar"}, // older: ignored
		{"index", 5, "Comet", "Quasar"},  // same version: ignored
		{"index", 6, "Comet", "Comet"},   // newer: replaces
		{"delete", 4, "", "Comet"},       // older deletion: ignored
		{"delete", 8, "", ""},            // newer deletion: removes
		{"index", 7, "Nebula", ""},       // older than the deletion: stays gone
		{"index", 8, "Nebula", ""},       // same as the deletion: stays gone
		{"index", 9, "Magnetar", "Magnetar"},
	}
	names := []string{"Quasar", "Nebula", "Comet", "Magnetar"}
	for i, st := range steps {
		var err error
		if st.op == "index" {
			err = idx.Index(ctx(t), doc(st.version, st.name))
		} else {
			err = idx.Delete(ctx(t), switchyard.SearchProject, "p-v", st.version)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for _, n := range names {
			got := find(t, idx, n)
			if want := n == st.want; (len(got) == 1) != want || len(got) > 1 {
				t.Fatalf("step %d (%s v%d %s): %q finds %q", i, st.op, st.version, st.name, n, got)
			}
		}
	}
	// One batch holding two versions of a document keeps the newer.
	batch := append(doc(11, "Blazar"), doc(10, "Quasar")...)
	if err := idx.Index(ctx(t), batch); err != nil {
		t.Fatal(err)
	}
	if len(find(t, idx, "blazar")) != 1 || len(find(t, idx, "quasar")) != 0 {
		t.Errorf("batch with two versions: blazar %q, quasar %q", find(t, idx, "blazar"), find(t, idx, "quasar"))
	}
}

func (s *suite) testFilters(t *testing.T) {
	idx := s.index(t, corpus()...)
	o := func(id string) string { return key(switchyard.SearchOrder, id) }
	dec := func(s string) *switchyard.Decimal { d := switchyard.Decimal(s); return &d }
	tests := []struct {
		name   string
		text   string
		types  []switchyard.SearchType
		filter switchyard.SearchFilter
		want   []string
	}{
		{"status only", "", nil, switchyard.SearchFilter{Status: []string{"PAID"}}, []string{o(o1432)}},
		{"statuses", "", nil, switchyard.SearchFilter{Status: []string{"PAID", "SHIPPED"}}, []string{o(o1432), o(o1433)}},
		{"project", "", []switchyard.SearchType{switchyard.SearchOrder}, switchyard.SearchFilter{ProjectID: ptr(pGlobex)}, []string{o(o14320), o(o7)}},
		{"project all types", "", nil, switchyard.SearchFilter{ProjectID: ptr(pAcme)},
			[]string{o(o1432), o(o1433), key(switchyard.SearchProject, pAcme), key(switchyard.SearchIntegration, iStripe)}},
		{"text and project", "rocket", nil, switchyard.SearchFilter{ProjectID: ptr(pAcme), Status: []string{"PAID"}}, []string{o(o1432)}},
		{"types", "alice", []switchyard.SearchType{switchyard.SearchOrder}, switchyard.SearchFilter{}, []string{o(o1432), o(o7)}},
		{"two types", "acme", []switchyard.SearchType{switchyard.SearchProject, switchyard.SearchIntegration}, switchyard.SearchFilter{},
			[]string{key(switchyard.SearchProject, pAcme), key(switchyard.SearchProject, pGlobex), key(switchyard.SearchIntegration, iStripe)}},
		{"total range inclusive", "", nil, switchyard.SearchFilter{MinTotal: dec("75"), MaxTotal: dec("120.50")}, []string{o(o1432), o(o1433)}},
		{"min total", "", nil, switchyard.SearchFilter{MinTotal: dec("900.00")}, []string{o(o14320), o(o99)}},
		{"max total", "", nil, switchyard.SearchFilter{MaxTotal: dec("15")}, []string{o(o7)}},
		{"created after", "", []switchyard.SearchType{switchyard.SearchOrder}, switchyard.SearchFilter{CreatedAfter: ptr(day(13))}, []string{o(o7), o(o99)}},
		{"created between", "", nil, switchyard.SearchFilter{CreatedAfter: ptr(day(10)), CreatedBefore: ptr(day(11))}, []string{o(o1432), o(o1433)}},
		{"unknown status", "", nil, switchyard.SearchFilter{Status: []string{"LOST"}}, nil},
		{"filter excludes text match", "alice", nil, switchyard.SearchFilter{Status: []string{"SHIPPED"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := search(t, idx, switchyard.SearchQuery{Text: tt.text, Types: tt.types, Filter: tt.filter, First: ptr(100)})
			wantSet(t, tt.name, keys(res), tt.want...)
			if res.TotalCount != len(tt.want) {
				t.Errorf("totalCount %d, want %d", res.TotalCount, len(tt.want))
			}
		})
	}
}

func (s *suite) testFacets(t *testing.T) {
	idx := s.index(t, corpus()...)
	// "acme": Acme's name, its orders' and integration's project name, Globex's
	// description.
	res := search(t, idx, switchyard.SearchQuery{Text: "acme", First: ptr(1), Facets: []string{"type", "status", "project"}})
	if res.TotalCount != 5 || len(res.Hits) != 1 || !res.PageInfo.HasNextPage {
		t.Fatalf("acme: total %d, %d hits, %+v", res.TotalCount, len(res.Hits), res.PageInfo)
	}
	want := []switchyard.SearchFacet{
		{Field: "type", Buckets: []switchyard.SearchFacetBucket{{Value: "ORDER", Count: 2}, {Value: "PROJECT", Count: 2}, {Value: "INTEGRATION", Count: 1}}},
		{Field: "status", Buckets: []switchyard.SearchFacetBucket{{Value: "ACTIVE", Count: 2}, {Value: "ARCHIVED", Count: 1}, {Value: "PAID", Count: 1}, {Value: "SHIPPED", Count: 1}}},
		{Field: "project", Buckets: []switchyard.SearchFacetBucket{{Value: pAcme, Count: 4}, {Value: pGlobex, Count: 1}}},
	}
	got := res.Facets
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("facets\n got %+v\nwant %+v", got, want)
	}
	for _, f := range got {
		for i := 1; i < len(f.Buckets); i++ {
			a, b := f.Buckets[i-1], f.Buckets[i]
			if a.Count < b.Count || (a.Count == b.Count && a.Value > b.Value) {
				t.Errorf("facet %s not ordered by count then value: %+v", f.Field, f.Buckets)
			}
		}
		if f.Field == "status" || f.Field == "project" {
			if _, empty := bucketMap(f)[""]; empty {
				t.Errorf("facet %s counts documents without a value: %+v", f.Field, f.Buckets)
			}
		}
	}
	// Facets follow the order asked; none asked, none computed; first: 0 still counts.
	res = search(t, idx, switchyard.SearchQuery{Text: "acme", First: ptr(0), Facets: []string{"project", "type"}})
	if len(res.Hits) != 0 || res.TotalCount != 5 || len(res.Facets) != 2 || res.Facets[0].Field != "project" || res.Facets[1].Field != "type" {
		t.Errorf("first 0: %+v", res)
	}
	if res := search(t, idx, switchyard.SearchQuery{Text: "acme"}); len(res.Facets) != 0 {
		t.Errorf("no facets asked: %+v", res.Facets)
	}
	// A facet with no matches has no buckets.
	res = search(t, idx, switchyard.SearchQuery{Text: "xylophone", Facets: []string{"status"}})
	if len(res.Facets) != 1 || len(res.Facets[0].Buckets) != 0 {
		t.Errorf("no matches: %+v", res.Facets)
	}
}

func bucketMap(f switchyard.SearchFacet) map[string]int {
	m := map[string]int{}
	for _, b := range f.Buckets {
		m[b.Value] = b.Count
	}
	return m
}

func sum(f switchyard.SearchFacet) int {
	n := 0
	for _, b := range f.Buckets {
		n += b.Count
	}
	return n
}

func (s *suite) testHighlights(t *testing.T) {
	idx := s.index(t, corpus()...)
	hl := func(res *switchyard.SearchResults, k string) map[string][]string {
		for _, h := range res.Hits {
			if key(h.Type, h.ID) == k {
				m := map[string][]string{}
				for _, x := range h.Highlights {
					m[x.Field] = x.Snippets
				}
				return m
			}
		}
		t.Fatalf("%s not among the hits %q", k, keys(res))
		return nil
	}
	tests := []struct {
		text, hit, field, want string
	}{
		{"alice", key(switchyard.SearchUser, uAlice), "name", "<mark>Alice</mark> Martin"},
		{"alise", key(switchyard.SearchUser, uAlice), "name", "<mark>Alice</mark> Martin"},
		{"alice", key(switchyard.SearchOrder, o1432), "customerName", "<mark>Alice</mark> Martin"},
		{"launch", key(switchyard.SearchProject, pAcme), "description", "<mark>launch</mark>"},
		// Escaped HTML: Elasticsearch also escapes "/" (&#x2F;), so the check stops before it.
		{"labs", key(switchyard.SearchProject, pInitech), "name", "Initech R&amp;D &lt;b&gt;<mark>labs</mark>&lt;"},
		// An order number found by one of its keys, not as text, is marked
		// all the same: what the key stands for, or the start typed.
		{"1432", key(switchyard.SearchOrder, o1432), "number", "SO-00<mark>1432</mark>"},
		{"ordr 1432", key(switchyard.SearchOrder, o1432), "number", "SO-00<mark>1432</mark>"},
		{"alice 001432", key(switchyard.SearchOrder, o1432), "number", "SO-<mark>001432</mark>"},
		{"#1432", key(switchyard.SearchOrder, o1432), "number", "SO-00<mark>1432</mark>"},
		{"so001432", key(switchyard.SearchOrder, o1432), "number", "<mark>SO-001432</mark>"},
		{"SO-0014", key(switchyard.SearchOrder, o1433), "number", "<mark>SO-0014</mark>33"},
		{"14320", key(switchyard.SearchOrder, o14320), "number", "SO-0<mark>14320</mark>"},
		{"SO-001432", key(switchyard.SearchOrder, o1432), "number", "<mark>"},
	}
	for _, tt := range tests {
		res := search(t, idx, switchyard.SearchQuery{Text: tt.text})
		snippets := hl(res, tt.hit)[tt.field]
		if !slices.ContainsFunc(snippets, func(s string) bool { return strings.Contains(s, tt.want) }) {
			t.Errorf("%q: %s highlights in %s = %q, want one containing %q (all: %v)", tt.text, tt.hit, tt.field, snippets, tt.want, hl(res, tt.hit))
		}
	}
	// A highlight shows a match: a field where nothing matched is left out,
	// not shown plain.
	for _, text := range []string{"alice", "alise ordr", "1432", "acme", "rocket fuel", "SO-0014", `"launch services"`, "erin globex"} {
		res := search(t, idx, switchyard.SearchQuery{Text: text, First: ptr(100)})
		if len(res.Hits) == 0 {
			t.Errorf("%q: no hits", text)
		}
		for _, h := range res.Hits {
			for _, f := range h.Highlights {
				if len(f.Snippets) == 0 {
					t.Errorf("%q: %s highlights %s with no snippet", text, key(h.Type, h.ID), f.Field)
				}
				for _, sn := range f.Snippets {
					if !strings.Contains(sn, "<mark>") {
						t.Errorf("%q: %s highlights %s without a mark: %q", text, key(h.Type, h.ID), f.Field, sn)
					}
				}
			}
		}
	}
	if got := hl(search(t, idx, switchyard.SearchQuery{Text: "alice"}), key(switchyard.SearchOrder, o1432)); got["number"] != nil || got["description"] != nil {
		t.Errorf("alice: the order's number and items are highlighted though nothing matched there: %v", got)
	}
	// Filter-only searches have nothing to highlight.
	res := search(t, idx, switchyard.SearchQuery{Filter: switchyard.SearchFilter{Status: []string{"PAID"}}})
	if len(res.Hits) != 1 || len(res.Hits[0].Highlights) != 0 {
		t.Errorf("filter only: %+v", res.Hits)
	}
}

func (s *suite) testFuzziness(t *testing.T) {
	idx := s.index(t, corpus()...)
	tests := []struct {
		text string
		want string // must be among the hits
		not  string // must not be
	}{
		{"alise", key(switchyard.SearchUser, uAlice), ""},
		{"ALICE", key(switchyard.SearchUser, uAlice), ""},
		{"rokets", key(switchyard.SearchProject, pAcme), ""},
		{"logistcs", key(switchyard.SearchProject, pGlobex), ""},
		{"stirpe", key(switchyard.SearchIntegration, iStripe), ""}, // a transposition is two edits; six letters allow two
		{"ordr", key(switchyard.SearchOrder, o1433), key(switchyard.SearchUser, uBob)},
		{"orders", key(switchyard.SearchOrder, o1432), ""},
		{"martn", key(switchyard.SearchUser, uAlice), ""},
		{"bib", key(switchyard.SearchUser, uBob), ""}, // three letters allow one edit
		{"xo", "", key(switchyard.SearchUser, uBob)},  // two do not
		// Numbers are exact: one digit off is another order.
		{"1433", key(switchyard.SearchOrder, o1433), key(switchyard.SearchOrder, o1432)},
	}
	for _, tt := range tests {
		got := find(t, idx, tt.text)
		if tt.want != "" && !slices.Contains(got, tt.want) {
			t.Errorf("%q: %q misses %s", tt.text, got, tt.want)
		}
		if tt.not != "" && slices.Contains(got, tt.not) {
			t.Errorf("%q: %q has %s", tt.text, got, tt.not)
		}
	}
}

func (s *suite) testPhrases(t *testing.T) {
	idx := s.index(t, corpus()...)
	acme := key(switchyard.SearchProject, pAcme)
	globex := key(switchyard.SearchProject, pGlobex)
	tests := []struct {
		text string
		want []string
	}{
		{`"launch services"`, []string{acme}},
		{`"services launch"`, nil},                     // the words, not in this order
		{`"services for"`, []string{acme, globex}},     // both descriptions have it
		{`"services for" customers`, []string{globex}}, // a phrase and a word
		{`"ACME ROCKETS" fuel`, []string{key(switchyard.SearchOrder, o1432)}},
		{`"alice@example.com"`, []string{key(switchyard.SearchUser, uAlice), key(switchyard.SearchOrder, o1432), key(switchyard.SearchOrder, o7)}},
	}
	for _, tt := range tests {
		wantSet(t, tt.text, find(t, idx, tt.text), tt.want...)
	}
}

func (s *suite) testPagination(t *testing.T) {
	const n = 47
	idx := s.index(t, append(corpus(), widgets(n)...)...)
	for _, size := range []int{1, 5, 10, 46, 47, 100} {
		seen := map[string]bool{}
		var order []string
		after := ""
		for page := 0; ; page++ {
			if page > n+1 {
				t.Fatalf("first %d: no end after %d pages", size, page)
			}
			res := search(t, idx, switchyard.SearchQuery{Text: "widget", First: ptr(size), After: after, Facets: []string{"status"}})
			if res.TotalCount != n {
				t.Fatalf("first %d page %d: totalCount %d, want %d", size, page, res.TotalCount, n)
			}
			if res.Facets[0].Buckets[0].Count != n {
				t.Fatalf("facets vary with the page: %+v", res.Facets)
			}
			if res.PageInfo.HasPreviousPage != (after != "") {
				t.Errorf("first %d page %d: hasPreviousPage %v", size, page, res.PageInfo.HasPreviousPage)
			}
			for _, h := range res.Hits {
				k := key(h.Type, h.ID)
				if seen[k] {
					t.Fatalf("first %d page %d: %s again", size, page, k)
				}
				seen[k] = true
				order = append(order, k)
			}
			if !res.PageInfo.HasNextPage {
				break
			}
			if len(res.Hits) != size {
				t.Fatalf("first %d page %d: %d hits with a next page", size, page, len(res.Hits))
			}
			after = *res.PageInfo.EndCursor
		}
		if len(seen) != n {
			t.Fatalf("first %d: %d distinct hits, want %d", size, len(seen), n)
		}
		// Pages read in one go give the same order as one big page.
		all := keys(search(t, idx, switchyard.SearchQuery{Text: "widget", First: ptr(100)}))
		if !slices.Equal(all, order) {
			t.Errorf("first %d: paged order differs from one page:\n%q\n%q", size, order, all)
		}
	}
	// A cursor from the middle resumes right after its hit.
	res := search(t, idx, switchyard.SearchQuery{Text: "widget", First: ptr(20)})
	next := search(t, idx, switchyard.SearchQuery{Text: "widget", First: ptr(5), After: res.Hits[9].Cursor})
	if !slices.Equal(keys(next), keys(res)[10:15]) {
		t.Errorf("resume after hit 10: %q, want %q", keys(next), keys(res)[10:15])
	}
	// Past the end: an empty page.
	last := search(t, idx, switchyard.SearchQuery{Text: "widget", First: ptr(100)})
	end := search(t, idx, switchyard.SearchQuery{Text: "widget", After: last.Hits[len(last.Hits)-1].Cursor})
	if len(end.Hits) != 0 || end.PageInfo.HasNextPage || end.PageInfo.StartCursor != nil || end.TotalCount != n {
		t.Errorf("after the last hit: %+v", end)
	}
}

// nastyQueries are strings that would be operators or syntax in a query
// language. Each is plain text: no error, and the hits are exactly those the
// words as text would give.
var nastyQueries = []struct {
	text string
	want []string
}{
	{`*`, nil},
	{`*:*`, nil},
	{`?`, nil},
	{`"`, nil},
	{`""`, nil},
	{`"""`, nil},
	{`\`, nil},
	{`\\`, nil},
	{`\"`, nil},
	{`(`, nil},
	{`)`, nil},
	{`()`, nil},
	{`{}`, nil},
	{`[]`, nil},
	{`{"query":{"match_all":{}}}`, nil},
	{`:`, nil},
	{`status:PAID`, nil},
	{`type:USER`, nil},
	{`total:>100`, nil},
	{`createdAt:[* TO *]`, nil},
	{`_id:*`, nil},
	{`OR`, nil},
	{`AND`, []string{"PROJECT/" + pAcme}}, // the word "and" is in Acme's description
	{`NOT`, nil},
	{`NOT alice`, nil},
	{`alice OR bob`, nil},
	{`alice AND NOT bob`, nil},
	{`alice || bob`, nil}, // every word must match, and nothing has both
	{`alice && bob`, nil},
	{`alice || martin`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`+alice`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`-alice`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`!alice`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`(alice)`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`alice*`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`"alice`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`alice\`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`alice~`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`alice~2`, nil},
	{`alice^10`, nil},
	{`bo?`, nil},
	{`b*b`, []string{"PROJECT/" + pInitech, "ORDER/" + o99}}, // the word "b", from "<b>labs</b>"
	{`/.*/`, nil},
	{`/alice/`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`[1 TO 5]`, nil},
	{`{1 TO 5}`, nil},
	{`' OR 1=1 --`, nil},
	{`'; DROP TABLE orders; --`, nil},
	{`<script>alert(1)</script>`, nil},
	{`%`, nil},
	{`%alice%`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
	{`$where`, nil},
	{`\u0000`, nil},
	{"\x00\x01", nil},
	{`🚀`, nil},
	{`a:b:c`, nil},
	{`@`, nil},
	{`#`, nil},
	{`SO-`, []string{"ORDER/" + o1432, "ORDER/" + o1433, "ORDER/" + o14320, "ORDER/" + o7, "ORDER/" + o99}},
	{`-`, nil},
	{`--`, nil},
	{`~`, nil},
	{`^`, nil},
	{`&`, nil},
	{`|`, nil},
	{`\\alice`, []string{"USER/" + uAlice, "ORDER/" + o1432, "ORDER/" + o7}},
}

func (s *suite) testSyntaxIsText(t *testing.T) {
	idx := s.index(t, corpus()...)
	long := strings.Repeat(`(\"*:`, 256/5)
	for _, tt := range append(nastyQueries, struct {
		text string
		want []string
	}{long, nil}) {
		for _, v := range []*switchyard.Viewer{admin, alice} {
			res, err := idx.Search(ctx(t), switchyard.SearchQuery{Text: tt.text, First: ptr(100), Viewer: v, Facets: switchyard.SearchFacets})
			if strings.TrimSpace(tt.text) == "" || strings.Trim(tt.text, "\x00\x01") == "" {
				// Only whitespace is refused; control characters are text.
				if err != nil && switchyard.ErrorField(err) != "query" {
					t.Errorf("%q: %v", tt.text, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%q: error %v", tt.text, err)
				continue
			}
			if v == admin {
				wantSet(t, fmt.Sprintf("%q", tt.text), keys(res), tt.want...)
			}
			if res.TotalCount != len(res.Hits) && res.TotalCount < 100 {
				t.Errorf("%q: totalCount %d but %d hits", tt.text, res.TotalCount, len(res.Hits))
			}
		}
		if _, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: tt.text, Viewer: admin}); err != nil && switchyard.ErrorField(err) != "prefix" {
			t.Errorf("Suggest(%q): %v", tt.text, err)
		}
	}
}

func (s *suite) testAccess(t *testing.T) {
	idx := s.index(t, corpus()...)
	all := switchyard.SearchFacets
	u := func(id string) string { return key(switchyard.SearchUser, id) }
	p := func(id string) string { return key(switchyard.SearchProject, id) }
	o := func(id string) string { return key(switchyard.SearchOrder, id) }
	i := func(id string) string { return key(switchyard.SearchIntegration, id) }
	tests := []struct {
		viewer *switchyard.Viewer
		text   string
		filter switchyard.SearchFilter
		want   []string
	}{
		// "globex": Globex's name, its orders' project name, Erin's email and
		// so her orders' customer email.
		{admin, "globex", switchyard.SearchFilter{}, []string{p(pGlobex), o(o14320), o(o7), u(uErin), o(o99)}},
		{alice, "globex", switchyard.SearchFilter{}, []string{o(o7)}}, // her own order in a project she cannot read
		{erin, "globex", switchyard.SearchFilter{}, []string{p(pGlobex), o(o14320), o(o7), u(uErin), o(o99)}},
		{zed, "globex", switchyard.SearchFilter{}, nil},
		// "acme" as Erin: Globex's description mentions acme; Acme itself is hidden.
		{erin, "acme", switchyard.SearchFilter{}, []string{p(pGlobex)}},
		{alice, "acme", switchyard.SearchFilter{}, []string{p(pAcme), o(o1432), o(o1433), i(iStripe)}},
		// Users: a member reads themselves and the users of their projects.
		{alice, "example", switchyard.SearchFilter{}, []string{u(uAlice), u(uBob), o(o1432), o(o1433), o(o7)}},
		{zed, "example", switchyard.SearchFilter{}, []string{u(uZed)}},
		{zed, "zed", switchyard.SearchFilter{}, []string{u(uZed)}},
		{alice, "zed", switchyard.SearchFilter{}, nil},
		// The deleted project: admins only.
		{admin, "initech", switchyard.SearchFilter{}, []string{p(pInitech), o(o99)}},
		{erin, "initech", switchyard.SearchFilter{}, []string{o(o99)}}, // her own order
		// Filters narrow within what is readable.
		{alice, "", switchyard.SearchFilter{ProjectID: ptr(pGlobex)}, []string{o(o7)}},
		{alice, "", switchyard.SearchFilter{Status: []string{"PENDING"}}, nil},
	}
	for _, tt := range tests {
		res := search(t, idx, switchyard.SearchQuery{Text: tt.text, Filter: tt.filter, Viewer: tt.viewer, First: ptr(100), Facets: all})
		what := fmt.Sprintf("%s searching %q %+v", tt.viewer.UserID, tt.text, tt.filter)
		wantSet(t, what, keys(res), tt.want...)
		if res.TotalCount != len(tt.want) {
			t.Errorf("%s: totalCount %d, want %d", what, res.TotalCount, len(tt.want))
		}
		// Facet counts are computed over the same readable hits.
		want := map[string]map[string]int{"type": {}, "status": {}, "project": {}}
		docs := map[string]switchyard.SearchDocument{}
		for _, d := range corpus() {
			docs[d.Key()] = d
		}
		for _, k := range tt.want {
			d := docs[k]
			want["type"][string(d.Type)]++
			if d.Status != "" {
				want["status"][d.Status]++
			}
			if d.ProjectID != "" {
				want["project"][d.ProjectID]++
			}
		}
		for _, f := range res.Facets {
			got := bucketMap(f)
			if len(got) != len(want[f.Field]) {
				t.Errorf("%s: facet %s = %v, want %v", what, f.Field, got, want[f.Field])
				continue
			}
			for v, n := range want[f.Field] {
				if got[v] != n {
					t.Errorf("%s: facet %s = %v, want %v", what, f.Field, got, want[f.Field])
				}
			}
		}
		// Suggestions obey the same rule.
		if tt.text != "" {
			sug, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: tt.text, Viewer: tt.viewer, First: ptr(100)})
			if err != nil {
				t.Fatalf("%s: Suggest: %v", what, err)
			}
			for _, sg := range sug {
				if !slices.Contains(tt.want, key(sg.Type, sg.ID)) && !slices.Contains(readable(tt.viewer), key(sg.Type, sg.ID)) {
					t.Errorf("%s: suggestion %s is not readable", what, key(sg.Type, sg.ID))
				}
			}
		}
	}
}

// readable lists the corpus documents v may read, by the access fields.
func readable(v *switchyard.Viewer) []string {
	var out []string
	for _, d := range corpus() {
		ok := v.Admin || slices.Contains(d.UserIDs, v.UserID)
		for _, p := range d.ProjectIDs {
			ok = ok || v.ProjectIDs[p]
		}
		if ok {
			out = append(out, d.Key())
		}
	}
	return out
}

// relevance is the table of expected top hits on the fixed corpus.
var relevance = []struct {
	text string
	top  []string // the first hits, in order
}{
	{"alise", []string{"USER/" + uAlice}},
	{"alice martin", []string{"USER/" + uAlice}},
	{"ordr 1432", []string{"ORDER/" + o1432}},
	{"alise ordr 1432", []string{"ORDER/" + o1432}},
	{"1432", []string{"ORDER/" + o1432}},
	{"SO-001432", []string{"ORDER/" + o1432}},
	{"so001432", []string{"ORDER/" + o1432}},
	{"001432", []string{"ORDER/" + o1432}},
	{"#1432", []string{"ORDER/" + o1432}},
	{"SO-0014", []string{"ORDER/" + o1432, "ORDER/" + o1433}}, // half an order number: both start with it, in key order
	{"so-01432", []string{"ORDER/" + o14320}},
	{"SO-999999", nil},
	{"alice@example.com", []string{"USER/" + uAlice}},
	{"ALICE@EXAMPLE.COM", []string{"USER/" + uAlice}},
	{"erin@globex.com", []string{"USER/" + uErin}},
	{"acme", []string{"PROJECT/" + pAcme}},
	{"rockets", []string{"PROJECT/" + pAcme}},
	{"globex", []string{"PROJECT/" + pGlobex}},
	{"stripe", []string{"INTEGRATION/" + iStripe}},
	{`"launch services"`, []string{"PROJECT/" + pAcme}},
	{"bob", []string{"USER/" + uBob}},
	{"alise ordr", []string{"ORDER/" + o1432, "ORDER/" + o7}},
	{"7", []string{"ORDER/" + o7}},
}

func (s *suite) testRelevance(t *testing.T) {
	idx := s.index(t, append(corpus(), widgets(10)...)...)
	for _, tt := range relevance {
		got := find(t, idx, tt.text)
		if tt.top == nil {
			if len(got) != 0 {
				t.Errorf("%q: %q, want nothing", tt.text, got)
			}
			continue
		}
		top := got[:min(len(got), len(tt.top))]
		if len(tt.top) > 1 {
			// Equal-scoring hits may come in either order; the set must lead.
			top = sorted(top)
		}
		if !slices.Equal(top, sorted(tt.top)) && !slices.Equal(top, tt.top) {
			t.Errorf("%q: top %q, want %q (all hits %q)", tt.text, top, tt.top, got)
		}
	}
	// Exact matches lead fuzzy ones by a wide margin.
	res := search(t, idx, switchyard.SearchQuery{Text: "SO-001432", First: ptr(2)})
	if len(res.Hits) == 2 && res.Hits[1].Score*2 > res.Hits[0].Score {
		t.Errorf("exact order number %.3f barely ahead of %s at %.3f", res.Hits[0].Score, res.Hits[1].ID, res.Hits[1].Score)
	}
}

func (s *suite) testSuggest(t *testing.T) {
	idx := s.index(t, corpus()...)
	tests := []struct {
		prefix string
		types  []switchyard.SearchType
		first  string // the first suggestion "TYPE/id text"
	}{
		{"ali", nil, "USER/" + uAlice + " Alice Martin"},
		{"alice m", nil, "USER/" + uAlice + " Alice Martin"},
		{"acm", nil, "PROJECT/" + pAcme + " Acme Rockets"},
		{"SO-00143", nil, "ORDER/" + o1432 + " SO-001432"},
		{"1433", nil, "ORDER/" + o1433 + " SO-001433"},
		{"erin@glo", nil, "USER/" + uErin + " Erin Walsh"},
		{"str", []switchyard.SearchType{switchyard.SearchIntegration}, "INTEGRATION/" + iStripe + " Stripe payments"},
		// An order's items complete too; the order shows as its number.
		{"rocket fu", nil, "ORDER/" + o1432 + " SO-001432"},
		{"pall", nil, "ORDER/" + o14320 + " SO-014320"},
		{"nose c", []switchyard.SearchType{switchyard.SearchOrder}, "ORDER/" + o1433 + " SO-001433"},
		{"custom", nil, "ORDER/" + o7 + " SO-000007"},
	}
	for _, tt := range tests {
		sug, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: tt.prefix, Types: tt.types, Viewer: admin})
		if err != nil {
			t.Fatalf("Suggest(%q): %v", tt.prefix, err)
		}
		if len(sug) == 0 || key(sug[0].Type, sug[0].ID)+" "+sug[0].Text != tt.first {
			t.Errorf("Suggest(%q) = %+v, want first %s", tt.prefix, sug, tt.first)
		}
	}
	sug, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "a", First: ptr(2), Viewer: admin})
	if err != nil || len(sug) != 2 {
		t.Errorf("first 2: %+v %v", sug, err)
	}
	sug, err = idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "xyzzy", Viewer: admin})
	if err != nil || len(sug) != 0 {
		t.Errorf("no match: %+v %v", sug, err)
	}
	sug, err = idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "acm", Types: []switchyard.SearchType{switchyard.SearchUser}, Viewer: admin})
	if err != nil || len(sug) != 0 {
		t.Errorf("types: %+v %v", sug, err)
	}
	// Only orders' items: a project's description is not completed.
	sug, err = idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "satel", Viewer: admin})
	if err != nil || len(sug) != 0 {
		t.Errorf("a project's description completed: %+v %v", sug, err)
	}
	// Items complete only in orders the caller may read: Zed reads none.
	sug, err = idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "pall", Viewer: zed})
	if err != nil || len(sug) != 0 {
		t.Errorf("an unreadable order's items completed: %+v %v", sug, err)
	}
}

func (s *suite) testRebuild(t *testing.T) {
	idx := s.index(t, corpus()...)
	r, err := idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if cp := r.Checkpoint(); cp != "" {
		t.Fatalf("fresh rebuild has checkpoint %q", cp)
	}
	if _, err := idx.Rebuild(ctx(t)); switchyard.ErrorCode(err) != switchyard.ECONFLICT {
		t.Errorf("second concurrent Rebuild: %v, want CONFLICT", err)
	}
	// The rebuild holds the corpus minus Bob's order, plus a newcomer.
	var docs []switchyard.SearchDocument
	for _, d := range corpus() {
		if d.ID != o1433 {
			d.Version = 2
			docs = append(docs, d)
		}
	}
	docs = append(docs, switchyard.SearchDocument{Type: switchyard.SearchUser, ID: "u-new", Version: 2, Name: "Quentin Newcomer", UserIDs: []string{"u-new"}})
	for chunk := range slices.Chunk(docs, 4) {
		if err := r.Index(ctx(t), chunk); err != nil {
			t.Fatal(err)
		}
		// Searches keep reading the live index while the rebuild fills.
		if got := find(t, idx, "quentin"); len(got) != 0 {
			t.Fatalf("rebuild visible before Commit: %q", got)
		}
		if got := find(t, idx, "1433"); len(got) != 1 {
			t.Fatalf("live index changed during the rebuild: %q", got)
		}
	}
	if err := r.Delete(ctx(t), switchyard.SearchUser, uZed, 3); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCheckpoint(ctx(t), "done"); err != nil {
		t.Fatal(err)
	}
	// Live writes meanwhile go to the live index.
	if err := idx.Index(ctx(t), []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u-live", Version: 5, Name: "Livia Writer", UserIDs: []string{"u-live"}}}); err != nil {
		t.Fatal(err)
	}
	if got := find(t, idx, "livia"); len(got) != 1 {
		t.Fatalf("live write during the rebuild: %q", got)
	}
	if err := r.Commit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wantSet(t, "quentin after commit", find(t, idx, "quentin"), "USER/u-new")
	wantSet(t, "1433 after commit", find(t, idx, "1433"))
	wantSet(t, "zed after commit", find(t, idx, "zed"))
	wantSet(t, "alise after commit", find(t, idx, "alise"), "USER/"+uAlice, "ORDER/"+o1432, "ORDER/"+o7)
	// The rebuild is over; a new one starts fresh, and the index keeps working.
	if err := r.Commit(ctx(t)); err == nil {
		t.Error("second Commit succeeded")
	}
	r2, err := idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Checkpoint() != "" {
		t.Errorf("new rebuild after commit has checkpoint %q", r2.Checkpoint())
	}
	if err := r2.Abort(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := idx.Index(ctx(t), []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u-after", Version: 1, Name: "Ursula After", UserIDs: []string{"u-after"}}}); err != nil {
		t.Fatal(err)
	}
	wantSet(t, "write after commit", find(t, idx, "ursula"), "USER/u-after")
	// The version rule holds in the rebuilt index.
	if err := idx.Index(ctx(t), []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u-new", Version: 1, Name: "Stale Newcomer"}}); err != nil {
		t.Fatal(err)
	}
	wantSet(t, "stale write after commit", find(t, idx, "stale"))
}

func (s *suite) testRebuildResume(t *testing.T) {
	name := s.name(t, "")
	idx := s.open(t, name)
	if err := idx.Index(ctx(t), corpus()); err != nil {
		t.Fatal(err)
	}
	r, err := idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	docs := corpus()
	for i := range docs {
		docs[i].Version = 2
		docs[i].Name = strings.ReplaceAll(docs[i].Name, "Alice", "Xanthippe")
	}
	if err := r.Index(ctx(t), docs[:5]); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCheckpoint(ctx(t), "seq=42 users=done"); err != nil {
		t.Fatal(err)
	}
	// The process dies: the index closes with the rebuild unfinished.
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	idx = s.open(t, name)
	t.Cleanup(func() { _ = idx.Close() })
	wantSet(t, "live index after restart", find(t, idx, "alice martin"), "USER/"+uAlice, "ORDER/"+o1432, "ORDER/"+o7)
	r, err = idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if cp := r.Checkpoint(); cp != "seq=42 users=done" {
		t.Fatalf("resumed checkpoint %q", cp)
	}
	if err := r.Index(ctx(t), docs[5:]); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Both halves made it: the first before the restart, the rest after.
	wantSet(t, "xanthippe", find(t, idx, "xanthippe"), "USER/"+uAlice)
	if got := search(t, idx, switchyard.SearchQuery{Filter: switchyard.SearchFilter{Status: []string{"ACTIVE", "PAID", "SHIPPED", "PENDING", "DELIVERED", "CANCELLED", "ARCHIVED", "DELETED"}}}); got.TotalCount != 9 {
		t.Errorf("after resumed rebuild: %d documents with a status, want 9", got.TotalCount)
	}
	// And it survives another restart.
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	idx = s.open(t, name)
	wantSet(t, "xanthippe after restart", find(t, idx, "xanthippe"), "USER/"+uAlice)
	res := search(t, idx, switchyard.SearchQuery{Text: "globex", Facets: []string{"type", "project"}})
	if got, want := fmt.Sprint(res.Facets), "[{type [{ORDER 3} {PROJECT 1} {USER 1}]} {project [{p-globex 3} {p-initech 1}]}]"; got != want {
		t.Errorf("facets after restart: %s, want %s", got, want)
	}
	r, err = idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoint() != "" {
		t.Errorf("a committed rebuild was resumed: checkpoint %q", r.Checkpoint())
	}
	_ = r.Abort(ctx(t))
}

func (s *suite) testRebuildAbort(t *testing.T) {
	idx := s.index(t, corpus()...)
	r, err := idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Index(ctx(t), []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u-new", Version: 1, Name: "Quentin Newcomer"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCheckpoint(ctx(t), "half"); err != nil {
		t.Fatal(err)
	}
	if err := r.Abort(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Index(ctx(t), corpus()); err == nil {
		t.Error("Index after Abort succeeded")
	}
	wantSet(t, "live after abort", find(t, idx, "alise"), "USER/"+uAlice, "ORDER/"+o1432, "ORDER/"+o7)
	r, err = idx.Rebuild(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoint() != "" {
		t.Errorf("rebuild after abort resumed %q", r.Checkpoint())
	}
	_ = r.Abort(ctx(t))
}

func (s *suite) testClosed(t *testing.T) {
	idx := s.open(t, s.name(t, ""))
	if err := idx.Index(ctx(t), corpus()); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	want := switchyard.ESEARCHUNAVAILABLE
	if _, err := idx.Search(ctx(t), switchyard.SearchQuery{Text: "alice", Viewer: admin}); switchyard.ErrorCode(err) != want {
		t.Errorf("Search after Close: %v, want %s", err, want)
	}
	if _, err := idx.Suggest(ctx(t), switchyard.SuggestQuery{Prefix: "al", Viewer: admin}); switchyard.ErrorCode(err) != want {
		t.Errorf("Suggest after Close: %v", err)
	}
	if err := idx.Index(ctx(t), corpus()); switchyard.ErrorCode(err) != want {
		t.Errorf("Index after Close: %v", err)
	}
	if err := idx.Ping(ctx(t)); switchyard.ErrorCode(err) != want {
		t.Errorf("Ping after Close: %v", err)
	}
	if err := idx.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
