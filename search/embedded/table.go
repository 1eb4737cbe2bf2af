package embedded

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// docTable holds, in memory and by key, what every live document is faceted
// and range-filtered by. The collector loads each hit's key anyway (it breaks
// score ties), so a hit costs one map lookup: Bleve's own facets decode a
// doc-values chunk per hit and field, and its numeric ranges index sixteen
// terms per value, which together cost more than the rest of searching and
// indexing.
type docTable struct {
	mu   sync.RWMutex
	rows map[string]docRow
	// Facet values are numbered: rows hold numbers and counting is slice
	// indexing. Value 0 is "".
	ids    map[string]uint32
	values []string
}

type docRow struct {
	typ, status, project uint32  // numbers of values
	created              int64   // unix microseconds; math.MinInt64 when unknown
	total                float64 // NaN when the document has none
}

func newDocTable() *docTable {
	return &docTable{rows: map[string]docRow{}, ids: map[string]uint32{"": 0}, values: []string{""}}
}

func (t *docTable) str(s string) uint32 {
	if id, ok := t.ids[s]; ok {
		return id
	}
	id := uint32(len(t.values))
	t.ids[s] = id
	t.values = append(t.values, s)
	return id
}

func (t *docTable) row(typ, status, project string, created, total float64, hasCreated, hasTotal bool) docRow {
	r := docRow{typ: t.str(typ), status: t.str(status), project: t.str(project), created: math.MinInt64, total: math.NaN()}
	if hasCreated {
		r.created = int64(created)
	}
	if hasTotal {
		r.total = total
	}
	return r
}

func (t *docTable) set(docs map[string]*sd.Doc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, d := range docs {
		var created, total float64
		if d.CreatedAt != nil {
			created = float64(d.CreatedAt.UnixMicro())
		}
		if d.Total != nil {
			total = *d.Total
		}
		t.rows[key] = t.row(d.Type, d.Status, d.ProjectID, created, total, d.CreatedAt != nil, d.Total != nil)
	}
}

func (t *docTable) remove(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.rows, key)
}

// encodeRow is a document's row as the _row doc-values column keeps it:
// key, type, status, project, created (unix µs) and total, separated by
// rowSep; an unknown created or total is empty.
func encodeRow(d *sd.Doc) string {
	created, total := "", ""
	if d.CreatedAt != nil {
		created = strconv.FormatInt(d.CreatedAt.UnixMicro(), 10)
	}
	if d.Total != nil && !math.IsNaN(*d.Total) {
		total = strconv.FormatFloat(*d.Total, 'g', -1, 64)
	}
	return strings.Join([]string{d.Key, d.Type, d.Status, d.ProjectID, created, total}, rowSep)
}

// rowSep cannot occur in ids, types, statuses or numbers.
const rowSep = "\x1f"

// loadDocTable reads every document's row in one pass over the _row
// doc values, in index order.
func loadDocTable(ctx context.Context, idx bleve.Index) (*docTable, error) {
	t := newDocTable()
	fail := func(err error) (*docTable, error) {
		return nil, fmt.Errorf("embedded search: load document table: %w", err)
	}
	adv, err := idx.Advanced()
	if err != nil {
		return fail(err)
	}
	r, err := adv.Reader()
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	dv, err := r.DocValueReader([]string{fieldRow})
	if err != nil {
		return fail(err)
	}
	ids, err := r.DocIDReaderAll()
	if err != nil {
		return fail(err)
	}
	defer ids.Close()
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		iid, err := ids.Next()
		if err != nil {
			return fail(err)
		}
		if iid == nil {
			return t, nil
		}
		err = dv.VisitDocValues(iid, func(field string, term []byte) {
			parts := strings.Split(string(term), rowSep)
			if field != fieldRow || len(parts) != 6 || parts[1] == "" {
				return
			}
			created, errC := strconv.ParseFloat(parts[4], 64)
			total, errT := strconv.ParseFloat(parts[5], 64)
			t.rows[parts[0]] = t.row(parts[1], parts[2], parts[3], created, total, errC == nil, errT == nil)
		})
		if err != nil {
			return fail(err)
		}
	}
}

// hitCounter sees every match of one search: it drops those outside the
// range filters, counts the rest and their facets, and passes them on to the
// collector that keeps the page.
type hitCounter struct {
	t                      *docTable
	facets                 []string
	typ, status, project   []int // by value number; nil when not asked
	minCreated, maxCreated int64
	minTotal, maxTotal     float64
	byCreated, byTotal     bool
	total                  int
}

// counter starts counting for q; the table stays read-locked until done.
func (t *docTable) counter(q switchyard.SearchQuery) *hitCounter {
	t.mu.RLock()
	c := &hitCounter{t: t, facets: q.Facets,
		minCreated: math.MinInt64, maxCreated: math.MaxInt64, minTotal: math.Inf(-1), maxTotal: math.Inf(1)}
	for _, f := range q.Facets {
		counts := make([]int, len(t.values))
		switch f {
		case switchyard.SearchFacetType:
			c.typ = counts
		case switchyard.SearchFacetStatus:
			c.status = counts
		case switchyard.SearchFacetProject:
			c.project = counts
		}
	}
	f := q.Filter
	if f.CreatedAfter != nil {
		c.byCreated, c.minCreated = true, f.CreatedAfter.UnixMicro()
	}
	if f.CreatedBefore != nil {
		c.byCreated, c.maxCreated = true, f.CreatedBefore.UnixMicro()
	}
	if f.MinTotal != nil {
		c.byTotal, c.minTotal = true, sd.DecimalFloat(*f.MinTotal)
	}
	if f.MaxTotal != nil {
		c.byTotal, c.maxTotal = true, sd.DecimalFloat(*f.MaxTotal)
	}
	return c
}

func (c *hitCounter) done() { c.t.mu.RUnlock() }

func (c *hitCounter) keep(key string) bool {
	row, ok := c.t.rows[key]
	if !ok {
		return false
	}
	if c.byCreated && (row.created == math.MinInt64 || row.created < c.minCreated || row.created > c.maxCreated) {
		return false
	}
	if c.byTotal && (math.IsNaN(row.total) || row.total < c.minTotal || row.total > c.maxTotal) {
		return false
	}
	c.total++
	if c.typ != nil {
		c.typ[row.typ]++
	}
	if c.status != nil {
		c.status[row.status]++
	}
	if c.project != nil {
		c.project[row.project]++
	}
	return true
}

// hook puts the counter in front of the collector's own handler.
func (c *hitCounter) hook(ctx context.Context) context.Context {
	var maker search.MakeDocumentMatchHandler = func(sctx *search.SearchContext) (search.DocumentMatchHandler, bool, error) {
		next, _, err := collector.MakeTopNDocumentMatchHandler(sctx)
		if err != nil {
			return nil, false, err
		}
		return func(d *search.DocumentMatch) error {
			if d != nil && !c.keep(d.ID) {
				sctx.DocumentMatchPool.Put(d)
				return nil
			}
			return next(d)
		}, true, nil
	}
	return context.WithValue(ctx, search.MakeDocumentMatchHandlerKey, maker)
}

// results returns the facets in the order asked, largest bucket first, ties
// by value. Call before done: it reads the value names.
func (c *hitCounter) results() []switchyard.SearchFacet {
	out := make([]switchyard.SearchFacet, 0, len(c.facets))
	for _, f := range c.facets {
		var counts []int
		switch f {
		case switchyard.SearchFacetType:
			counts = c.typ
		case switchyard.SearchFacetStatus:
			counts = c.status
		case switchyard.SearchFacetProject:
			counts = c.project
		}
		buckets := []switchyard.SearchFacetBucket{}
		for id, n := range counts {
			if id != 0 && n > 0 {
				buckets = append(buckets, switchyard.SearchFacetBucket{Value: c.t.values[id], Count: n})
			}
		}
		slices.SortFunc(buckets, func(a, b switchyard.SearchFacetBucket) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		out = append(out, switchyard.SearchFacet{Field: f, Buckets: buckets[:min(len(buckets), sd.FacetSize)]})
	}
	return out
}
