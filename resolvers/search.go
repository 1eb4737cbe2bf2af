package resolvers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// DefaultSearchWait bounds how long a consistentWith search waits for the
// index: long enough for an indexer a few batches behind, short enough that a
// lagging index (its backend down) answers rather than hangs.
const DefaultSearchWait = 2 * time.Second

// Search runs with the caller's rights twice over. The index query carries
// the caller's Viewer (admin, or the projects they may read now and their own
// id), so hits, totalCount and facets only ever count documents whose access
// fields admit the caller. Then every hit is loaded through the services,
// which apply the access rule on current rows, so what a hit shows is
// current and allowed.
//
// A hit the services do not return (it changed in the last moment and the
// indexer has not caught up) is dropped, and taken off totalCount and the type
// facet. Counts therefore follow the index: in the window between a change
// committing and it being indexed (well under a second) they may count a
// document as it was a moment ago — never one the caller could not read at
// some point, since the rights themselves are read fresh for every search.
func (r *queryResolver) Search(ctx context.Context, query string, types []switchyard.SearchType, filter *switchyard.SearchFilter,
	facets []string, first *int, after *string, consistentWith *string) (*graph.SearchResults, error) {
	if r.Resolver.Search == nil {
		return nil, errSearchOff
	}
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	wantFacets := slices.Contains(graphql.CollectAllFields(ctx), "facets")
	if facets == nil && wantFacets {
		facets = switchyard.SearchFacets
	}
	q := switchyard.SearchQuery{Text: query, Types: types, Filter: deref(filter), Facets: facets, First: first, After: deref(after)}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if !wantFacets {
		q.Facets = nil // validated, but not worth counting
	}
	var seq int64
	if consistentWith != nil {
		if seq, err = switchyard.ParseEventCursor("consistentWith", *consistentWith); err != nil {
			return nil, err
		}
	}
	viewer, allowed, err := r.searchViewer(ctx, c)
	if err != nil {
		return nil, err
	}
	if q.Types, err = narrowTypes(q.Types, allowed); err != nil {
		return emptySearch(q), nil
	}
	if consistentWith != nil {
		r.waitIndexed(ctx, seq)
	}
	q.Viewer = viewer
	res, err := r.Resolver.Search.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	refs := make([]hitRef, len(res.Hits))
	for i, h := range res.Hits {
		refs[i] = hitRef{h.Type, h.ID}
	}
	nodes, err := r.loadHits(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := &graph.SearchResults{Edges: []*graph.SearchEdge{}, Facets: []*switchyard.SearchFacet{}, PageInfo: &res.PageInfo}
	dropped := map[switchyard.SearchType]int{}
	for i, h := range res.Hits {
		node := nodes[i]
		if node == nil {
			dropped[h.Type]++
			continue
		}
		out.Edges = append(out.Edges, &graph.SearchEdge{
			Cursor: h.Cursor, Score: h.Score, Node: node,
			Highlights: visibleHighlights(h, node, viewer),
		})
	}
	n := 0
	for _, d := range dropped {
		n += d
	}
	out.TotalCount = max(res.TotalCount-n, 0)
	for i := range res.Facets {
		f := &res.Facets[i]
		switch f.Field {
		case switchyard.SearchFacetType:
			f.Buckets = subtractBuckets(f.Buckets, dropped)
		case switchyard.SearchFacetProject:
			f.Buckets = readableProjects(f.Buckets, viewer)
		}
		out.Facets = append(out.Facets, f)
	}
	return out, nil
}

// readableProjects keeps the project buckets of projects the viewer may
// read. A customer's own order counts under its project, whose id they are
// not shown anywhere else (Order.project is null for them); the bucket would
// name it.
func readableProjects(buckets []switchyard.SearchFacetBucket, v *switchyard.Viewer) []switchyard.SearchFacetBucket {
	if v.Admin {
		return buckets
	}
	out := buckets[:0]
	for _, b := range buckets {
		if v.ProjectIDs[b.Value] {
			out = append(out, b)
		}
	}
	return out
}

// SearchSuggest completes a prefix with the caller's rights; suggestions are
// loaded like search hits, and those that do not load are dropped.
func (r *queryResolver) SearchSuggest(ctx context.Context, prefix string, types []switchyard.SearchType, first *int) ([]*graph.SearchSuggestion, error) {
	if r.Resolver.Search == nil {
		return nil, errSearchOff
	}
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	q := switchyard.SuggestQuery{Prefix: prefix, Types: types, First: first}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	viewer, allowed, err := r.searchViewer(ctx, c)
	if err != nil {
		return nil, err
	}
	out := []*graph.SearchSuggestion{}
	if q.Types, err = narrowTypes(q.Types, allowed); err != nil {
		return out, nil
	}
	q.Viewer = viewer
	list, err := r.Resolver.Search.Suggest(ctx, q)
	if err != nil {
		return nil, err
	}
	refs := make([]hitRef, len(list))
	for i, s := range list {
		refs[i] = hitRef{s.Type, s.ID}
	}
	nodes, err := r.loadHits(ctx, refs)
	if err != nil {
		return nil, err
	}
	for i, s := range list {
		if nodes[i] != nil {
			out = append(out, &graph.SearchSuggestion{Text: s.Text, Type: s.Type, ID: s.ID, Node: nodes[i]})
		}
	}
	return out, nil
}

var errSearchOff = switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is not configured on this server")

// errNoTypes: the caller may read none of the types asked for.
var errNoTypes = errors.New("no readable type")

// searchViewer is the caller's rights in the index query, and the types it
// may search. Members and admins search every type with the rights LoadViewer
// reads now. A partner searches its own project, by type as its scopes allow:
// ORDER with ORDERS_READ, PROJECT with PROJECTS_READ, USER only with both
// (a user document admits a project when they own it, belong to it or ordered
// in it; ORDERS_READ alone reads only the customers, PROJECTS_READ only the
// owner and members, which the index cannot tell apart); never INTEGRATION,
// since INTEGRATIONS_READ reads only the key's own integration.
func (r *queryResolver) searchViewer(ctx context.Context, c *switchyard.Caller) (*switchyard.Viewer, []switchyard.SearchType, error) {
	if c.IsPartner() {
		p := c.Partner
		v := &switchyard.Viewer{ProjectIDs: map[string]bool{p.ProjectID: true}}
		var types []switchyard.SearchType
		if p.Can(switchyard.ScopeOrdersRead) {
			types = append(types, switchyard.SearchOrder)
		}
		if p.Can(switchyard.ScopeProjectsRead) {
			types = append(types, switchyard.SearchProject)
		}
		if p.Can(switchyard.ScopeOrdersRead) && p.Can(switchyard.ScopeProjectsRead) {
			types = append(types, switchyard.SearchUser)
		}
		return v, types, nil
	}
	if r.Viewers == nil {
		return nil, nil, errors.New("resolvers: Search needs Viewers")
	}
	v, err := r.Viewers.LoadViewer(ctx, c.UserID)
	if err != nil {
		return nil, nil, err
	}
	if r.Resolver.Integrations == nil {
		// Hits could not be loaded: leave the type out rather than fail.
		return v, []switchyard.SearchType{switchyard.SearchUser, switchyard.SearchProject, switchyard.SearchOrder}, nil
	}
	return v, switchyard.SearchTypes, nil
}

// narrowTypes keeps the asked types the caller may search (every allowed one
// when none was asked), or errNoTypes when none is left.
func narrowTypes(asked, allowed []switchyard.SearchType) ([]switchyard.SearchType, error) {
	if len(allowed) == len(switchyard.SearchTypes) {
		return asked, nil
	}
	if len(asked) == 0 {
		asked = switchyard.SearchTypes
	}
	var out []switchyard.SearchType
	for _, t := range asked {
		if slices.Contains(allowed, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errNoTypes
	}
	return out, nil
}

func emptySearch(q switchyard.SearchQuery) *graph.SearchResults {
	out := &graph.SearchResults{Edges: []*graph.SearchEdge{}, Facets: []*switchyard.SearchFacet{}, PageInfo: &switchyard.PageInfo{}}
	for _, f := range q.Facets {
		out.Facets = append(out.Facets, &switchyard.SearchFacet{Field: f, Buckets: []switchyard.SearchFacetBucket{}})
	}
	return out
}

// searchConsistency is what extensions.search reports about a
// consistentWith wait that ran out, per response field.
type searchConsistency struct {
	Consistent    bool   `json:"consistent"`
	IndexedCursor string `json:"indexedCursor"`
	WaitedMs      int64  `json:"waitedMs"`
}

var extensionMu sync.Mutex

// waitIndexed waits, up to SearchWait, for the index to hold event seq. Past
// the bound the search answers anyway, from an index that may not show the
// change yet, and says so in extensions.search: a slow index should make
// read-your-writes late, not make search fail.
func (r *queryResolver) waitIndexed(ctx context.Context, seq int64) {
	f := r.Resolver.SearchFreshness
	if f == nil {
		return
	}
	bound := r.Resolver.SearchWait
	if bound <= 0 {
		bound = DefaultSearchWait
	}
	began := time.Now()
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if f.WaitIndexed(wctx, seq) == nil || ctx.Err() != nil {
		return
	}
	key := "search"
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		key = fc.Field.Alias
	}
	extensionMu.Lock()
	defer extensionMu.Unlock()
	ext, _ := graphql.GetExtension(ctx, "search").(map[string]searchConsistency)
	if ext == nil {
		ext = map[string]searchConsistency{}
		graphql.RegisterExtension(ctx, "search", ext)
	}
	ext[key] = searchConsistency{IndexedCursor: switchyard.EventCursor(f.IndexedSeq()), WaitedMs: time.Since(began).Milliseconds()}
}

// hitRef names one document to load.
type hitRef struct {
	Type switchyard.SearchType
	ID   string
}

// loadHits reads the documents through the per-response loaders (so nested
// fields of the hits share their batches), one statement per type, and
// returns them in refs' order, nil for those the caller may not read now or
// that no longer exist.
func (r *queryResolver) loadHits(ctx context.Context, refs []hitRef) ([]graph.SearchHit, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	byType := map[switchyard.SearchType][]string{}
	for _, h := range refs {
		byType[h.Type] = append(byType[h.Type], h.ID)
	}
	found := map[hitRef]graph.SearchHit{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	load := func(t switchyard.SearchType, f func(ids []string) ([]graph.SearchHit, []error)) {
		ids := byType[t]
		if len(ids) == 0 {
			return
		}
		wg.Go(func() {
			nodes, errs := f(ids)
			mu.Lock()
			defer mu.Unlock()
			for i, id := range ids {
				var err error
				if i < len(errs) {
					err = errs[i]
				}
				switch {
				case err == nil && nodes[i] != nil:
					found[hitRef{t, id}] = nodes[i]
				case err != nil && !isNotFound(err) && firstErr == nil:
					firstErr = err
				}
			}
		})
	}
	load(switchyard.SearchUser, func(ids []string) ([]graph.SearchHit, []error) { return hits(l.user.LoadAll(ctx, ids)) })
	load(switchyard.SearchProject, func(ids []string) ([]graph.SearchHit, []error) { return hits(l.project.LoadAll(ctx, ids)) })
	load(switchyard.SearchOrder, func(ids []string) ([]graph.SearchHit, []error) { return hits(l.order.LoadAll(ctx, ids)) })
	load(switchyard.SearchIntegration, func(ids []string) ([]graph.SearchHit, []error) {
		return hits(l.integrations.integration.LoadAll(ctx, ids))
	})
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]graph.SearchHit, len(refs))
	for i, h := range refs {
		out[i] = found[h]
	}
	return out, nil
}

func hits[T graph.SearchHit](list []T, err error) ([]graph.SearchHit, []error) {
	out := make([]graph.SearchHit, len(list))
	for i, v := range list {
		out[i] = v
	}
	var errs []error
	var me dataloadgen.ErrorSlice
	switch {
	case errors.As(err, &me):
		errs = me
	case err != nil:
		errs = make([]error, len(list))
		for i := range errs {
			errs[i] = err
		}
	}
	// A nil pointer in an interface is not a nil interface.
	for i := range out {
		if isNilHit(out[i]) {
			out[i] = nil
		}
	}
	return out, errs
}

func isNilHit(h graph.SearchHit) bool {
	switch v := h.(type) {
	case *switchyard.User:
		return v == nil
	case *switchyard.Project:
		return v == nil
	case *switchyard.Order:
		return v == nil
	case *switchyard.Integration:
		return v == nil
	}
	return h == nil
}

func isNotFound(err error) bool {
	return errors.Is(err, dataloadgen.ErrNotFound) || switchyard.ErrorCode(err) == switchyard.ENOTFOUND
}

// visibleHighlights leaves out the project name of an order whose project the
// caller may not read (its customer), as Order.project is null for them.
func visibleHighlights(h switchyard.SearchHit, node graph.SearchHit, v *switchyard.Viewer) []*switchyard.SearchHighlight {
	o, isOrder := node.(*switchyard.Order)
	hide := isOrder && !v.Admin && !v.ProjectIDs[o.ProjectID]
	out := make([]*switchyard.SearchHighlight, 0, len(h.Highlights))
	for i := range h.Highlights {
		if hide && h.Highlights[i].Field == switchyard.SearchFieldProjectName {
			continue
		}
		out = append(out, &h.Highlights[i])
	}
	return out
}

func subtractBuckets(buckets []switchyard.SearchFacetBucket, dropped map[switchyard.SearchType]int) []switchyard.SearchFacetBucket {
	out := buckets[:0]
	for _, b := range buckets {
		b.Count -= dropped[switchyard.SearchType(b.Value)]
		if b.Count > 0 {
			out = append(out, b)
		}
	}
	return out
}
