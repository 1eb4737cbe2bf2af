package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// Columns: what every document is sorted, faceted and range-filtered by,
// held in memory per index segment and by the segment's own document number.
// A hit then costs two slice lookups: no string map, no stored-field read of
// its key (the tie-breaker of the sort), no doc-values chunk to decode
// (Bleve's own facets), no numeric range terms. Segments never change once
// written, so a segment's columns are read once, from the _row doc values,
// and stay right for as long as the segment lives; a merge makes a new
// segment, whose columns are read when a search or the warm-up first meets
// it. A search reads its columns from the same snapshot its hits come from,
// so counts always agree with the text the snapshot matched.

// docRow is one document's columns. Values are numbers in the cache's
// valueDict of each.
type docRow struct {
	typ, status, project uint32
	created              int64   // unix microseconds; math.MinInt64 when unknown
	total                float64 // NaN when the document has none
}

// segColumns are one segment's columns by local document number. keys[n] is
// "" for a document without a row: a deletion's tombstone.
type segColumns struct {
	once sync.Once
	err  error
	keys []string
	rows []docRow
	used uint64 // tick of the last snapshot that held the segment
}

// valueDict numbers the values of one facet: rows hold numbers and counting
// is slice indexing. Value 0 is "". It only grows: types and statuses are a
// handful, projects some thousands.
type valueDict struct {
	mu     sync.RWMutex
	ids    map[string]uint32
	values []string
}

func (d *valueDict) id(s string) uint32 {
	d.mu.RLock()
	id, ok := d.ids[s]
	d.mu.RUnlock()
	if ok {
		return id
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[s]; ok {
		return id
	}
	id = uint32(len(d.values))
	d.ids[s] = id
	d.values = append(d.values, s)
	return id
}

// snapshotValues returns the values numbered so far; every value of a
// snapshot whose columns are loaded is among them.
func (d *valueDict) snapshotValues() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.values[:len(d.values):len(d.values)]
}

// columnCache keeps the columns of the segments recent snapshots hold.
type columnCache struct {
	types, statuses, projects valueDict

	mu   sync.Mutex
	segs map[uint64]*segColumns // by segment id, unique within the index
	tick uint64
}

// keepTicks is how many snapshot loads a segment's columns outlive the last
// snapshot that held it, so that searches on an older snapshot (opened just
// before a batch or a merge came in) and on the newest one, side by side, do
// not evict each other's columns and read them again.
const keepTicks = 64

func newValueDict() valueDict {
	return valueDict{ids: map[string]uint32{"": 0}, values: []string{""}}
}

func newColumnCache() *columnCache {
	return &columnCache{types: newValueDict(), statuses: newValueDict(), projects: newValueDict(), segs: map[uint64]*segColumns{}}
}

// snapColumns are the columns of one snapshot, by global document number.
type snapColumns struct {
	segs   []*segColumns
	starts []uint64 // first global document number of each segment
	// Facet values by number.
	types, statuses, projects []string
	// segments identifies the snapshot's segments: snapshots with the same
	// segments hold the same documents and terms.
	segments string
	// cur is the segment the last lookup found: hits come in document order.
	cur int
}

// load returns the snapshot's columns, reading those of segments not met
// before.
func (c *columnCache) load(ctx context.Context, snap *scorch.IndexSnapshot) (*snapColumns, error) {
	segs := snap.Segments()
	out := &snapColumns{segs: make([]*segColumns, len(segs)), starts: make([]uint64, len(segs))}
	c.mu.Lock()
	c.tick++
	tick := c.tick
	var start uint64
	sig := make([]byte, 0, 8*len(segs))
	for i, ss := range segs {
		sig = binary.BigEndian.AppendUint64(sig, ss.Id())
		sc, ok := c.segs[ss.Id()]
		if !ok {
			sc = &segColumns{}
			c.segs[ss.Id()] = sc
		}
		sc.used = tick
		out.segs[i] = sc
		out.starts[i] = start
		start += ss.Segment().Count()
	}
	for id, sc := range c.segs {
		if tick-sc.used > keepTicks {
			delete(c.segs, id)
		}
	}
	c.mu.Unlock()
	for i, ss := range segs {
		sc := out.segs[i]
		sc.once.Do(func() { sc.err = c.read(ctx, ss, sc) })
		if sc.err != nil {
			// Let the next search try again rather than keep the failure.
			c.mu.Lock()
			if c.segs[ss.Id()] == sc {
				delete(c.segs, ss.Id())
			}
			c.mu.Unlock()
			return nil, fmt.Errorf("embedded search: read columns: %w", sc.err)
		}
	}
	out.segments = string(sig)
	out.types, out.statuses, out.projects = c.types.snapshotValues(), c.statuses.snapshotValues(), c.projects.snapshotValues()
	return out, nil
}

// read fills sc from the segment's _row doc values.
func (c *columnCache) read(ctx context.Context, ss *scorch.SegmentSnapshot, sc *segColumns) error {
	seg := ss.Segment()
	dv, ok := seg.(segment.DocValueVisitable)
	if !ok {
		return fmt.Errorf("segment %d (%T) has no doc values", ss.Id(), seg)
	}
	n := seg.Count()
	sc.keys = make([]string, n)
	sc.rows = make([]docRow, n)
	fields := []string{fieldRow}
	var state segment.DocVisitState
	var err error
	var local uint64
	visit := func(field string, term []byte) {
		if field != fieldRow {
			return
		}
		row, key, ok := c.parseRow(term)
		if ok {
			sc.keys[local], sc.rows[local] = key, row
		}
	}
	for local = 0; local < n; local++ {
		if local%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if state, err = dv.VisitDocValues(local, fields, visit, state); err != nil {
			return err
		}
	}
	return nil
}

// parseRow reads what encodeRow wrote.
func (c *columnCache) parseRow(term []byte) (docRow, string, bool) {
	var parts [6]string
	s := string(term)
	for i := range 5 {
		var ok bool
		if parts[i], s, ok = strings.Cut(s, rowSep); !ok {
			return docRow{}, "", false
		}
	}
	parts[5] = s
	if parts[0] == "" || parts[1] == "" {
		return docRow{}, "", false
	}
	r := docRow{typ: c.types.id(parts[1]), status: c.statuses.id(parts[2]), project: c.projects.id(parts[3]),
		created: math.MinInt64, total: math.NaN()}
	if v, err := strconv.ParseInt(parts[4], 10, 64); err == nil {
		r.created = v
	}
	if v, err := strconv.ParseFloat(parts[5], 64); err == nil {
		r.total = v
	}
	return r, parts[0], true
}

// find returns the segment columns and local number of a hit; nil for an
// id that is not a document number of the snapshot.
func (s *snapColumns) find(id index.IndexInternalID) (*segColumns, uint64) {
	if len(id) != 8 || len(s.segs) == 0 {
		return nil, 0
	}
	n := binary.BigEndian.Uint64(id)
	i := s.cur
	if n < s.starts[i] || (i+1 < len(s.starts) && n >= s.starts[i+1]) {
		// Not in the segment of the last hit: the next one, mostly.
		i, _ = slices.BinarySearch(s.starts, n+1)
		i--
		if i < 0 {
			return nil, 0
		}
		s.cur = i
	}
	sc := s.segs[i]
	local := n - s.starts[i]
	if local >= uint64(len(sc.keys)) {
		return nil, 0
	}
	return sc, local
}

// key is the hit's document key, "" for none.
func (s *snapColumns) key(id index.IndexInternalID) string {
	if sc, local := s.find(id); sc != nil {
		return sc.keys[local]
	}
	return ""
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

// keySort orders hits by document key, the tie-breaker after the score,
// from the columns: Bleve's own "_id" sort reads every hit's stored id.
type keySort struct {
	cols *snapColumns
}

var _ search.SearchSort = (*keySort)(nil)

func (k *keySort) UpdateVisitor(string, []byte)         {}
func (k *keySort) Value(d *search.DocumentMatch) string { return k.cols.key(d.IndexInternalID) }
func (k *keySort) DecodeValue(v string) string          { return v }
func (k *keySort) Descending() bool                     { return false }
func (k *keySort) RequiresDocID() bool                  { return false }
func (k *keySort) RequiresScoring() bool                { return false }
func (k *keySort) RequiresFields() []string             { return nil }
func (k *keySort) Reverse()                             {}
func (k *keySort) Copy() search.SearchSort              { return &keySort{cols: k.cols} }

// hitCounter sees every match of one search: it drops those outside the
// range filters and tombstones, counts the rest and their facets, and passes
// them on to the collector that keeps the page.
type hitCounter struct {
	cols                   *snapColumns
	facets                 []string
	typ, status, project   []int32 // by value number; nil when not asked
	minCreated, maxCreated int64
	minTotal, maxTotal     float64
	byCreated, byTotal     bool
	total                  int
}

func newHitCounter(cols *snapColumns, q switchyard.SearchQuery) *hitCounter {
	c := &hitCounter{cols: cols, facets: q.Facets,
		minCreated: math.MinInt64, maxCreated: math.MaxInt64, minTotal: math.Inf(-1), maxTotal: math.Inf(1)}
	for _, f := range q.Facets {
		switch f {
		case switchyard.SearchFacetType:
			c.typ = make([]int32, len(cols.types))
		case switchyard.SearchFacetStatus:
			c.status = make([]int32, len(cols.statuses))
		case switchyard.SearchFacetProject:
			c.project = make([]int32, len(cols.projects))
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

func (c *hitCounter) keep(id index.IndexInternalID) bool {
	sc, local := c.cols.find(id)
	if sc == nil || sc.keys[local] == "" {
		return false
	}
	row := &sc.rows[local]
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

// results returns the facets in the order asked, largest bucket first, ties
// by value.
func (c *hitCounter) results() []switchyard.SearchFacet {
	out := make([]switchyard.SearchFacet, 0, len(c.facets))
	for _, f := range c.facets {
		var counts []int32
		var values []string
		switch f {
		case switchyard.SearchFacetType:
			counts, values = c.typ, c.cols.types
		case switchyard.SearchFacetStatus:
			counts, values = c.status, c.cols.statuses
		case switchyard.SearchFacetProject:
			counts, values = c.project, c.cols.projects
		}
		// The largest FacetSize, kept in order as they come: a project facet
		// has as many values as there are projects.
		better := func(a, b switchyard.SearchFacetBucket) bool {
			return a.Count > b.Count || (a.Count == b.Count && a.Value < b.Value)
		}
		buckets := make([]switchyard.SearchFacetBucket, 0, sd.FacetSize)
		for id, n := range counts {
			if id == 0 || n == 0 {
				continue
			}
			bk := switchyard.SearchFacetBucket{Value: values[id], Count: int(n)}
			if len(buckets) == sd.FacetSize {
				if !better(bk, buckets[len(buckets)-1]) {
					continue
				}
				buckets = buckets[:len(buckets)-1]
			}
			i, _ := slices.BinarySearchFunc(buckets, bk, func(e, t switchyard.SearchFacetBucket) int {
				if better(e, t) {
					return -1
				}
				return 1
			})
			buckets = slices.Insert(buckets, i, bk)
		}
		out = append(out, switchyard.SearchFacet{Field: f, Buckets: buckets})
	}
	return out
}

// hook puts the counter in front of the collector's own handler.
func (c *hitCounter) hook(ctx context.Context) context.Context {
	var maker search.MakeDocumentMatchHandler = func(sctx *search.SearchContext) (search.DocumentMatchHandler, bool, error) {
		next, _, err := collector.MakeTopNDocumentMatchHandler(sctx)
		if err != nil {
			return nil, false, err
		}
		return func(d *search.DocumentMatch) error {
			if d != nil && !c.keep(d.IndexInternalID) {
				sctx.DocumentMatchPool.Put(d)
				return nil
			}
			return next(d)
		}, false, nil
	}
	return context.WithValue(ctx, search.MakeDocumentMatchHandlerKey, maker)
}
