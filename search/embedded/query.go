package embedded

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	"github.com/blevesearch/bleve/v2/search/highlight/highlighter/html"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// cursor is what a hit's cursor holds: its place in the order score desc, key
// asc. The score is kept as text so it round-trips exactly.
type cursor struct {
	Score string `json:"s"`
	Key   string `json:"k"`
}

// Search implements switchyard.SearchIndex.
func (x *Index) Search(ctx context.Context, q switchyard.SearchQuery) (*switchyard.SearchResults, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Viewer == nil {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "authentication required")
	}
	var after *cursor
	if q.After != "" {
		after = new(cursor)
		if err := sd.DecodeCursor(q.After, after); err != nil {
			return nil, err
		}
		if _, err := strconv.ParseFloat(after.Score, 64); err != nil || after.Key == "" {
			return nil, switchyard.InvalidField("after", "malformed search cursor")
		}
	}
	g, release, err := x.acquire()
	if err != nil {
		return nil, err
	}
	defer release()

	b, err := newBuilder(g)
	if err != nil {
		return nil, err
	}
	defer b.close()
	cols, err := g.cols.load(ctx, b.snap)
	if err != nil {
		return nil, searchError(ctx, err)
	}
	b.cols = cols
	first := *q.First
	text := b.textQueries(q.Text)
	bq := b.searchQuery(q, text)
	sortOrder := search.SortOrder{&search.SortScore{Desc: true}, &keySort{cols: cols}}
	var coll *collector.TopNCollector
	if after != nil {
		coll = collector.NewTopNCollectorAfter(first+1, sortOrder, []string{after.Score, after.Key})
	} else {
		coll = collector.NewTopNCollector(first+1, 0, sortOrder)
	}
	counter := newHitCounter(cols, q)
	// No term locations: only the page is highlighted, afterwards.
	searcher, err := bq.Searcher(ctx, b.reader, g.idx.Mapping(), search.SearcherOptions{})
	if err != nil {
		return nil, searchError(ctx, err)
	}
	err = coll.Collect(counter.hook(ctx), searcher, b.reader)
	if cerr := searcher.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, searchError(ctx, err)
	}

	out := &switchyard.SearchResults{TotalCount: counter.total, Facets: counter.results()}
	hits := coll.Results()
	if len(hits) > first {
		hits = hits[:first]
		out.PageInfo.HasNextPage = true
	}
	out.PageInfo.HasPreviousPage = after != nil
	var hls map[*search.DocumentMatch][]switchyard.SearchHighlight
	if len(hits) > 0 && len(text) > 0 {
		if hls, err = b.highlight(hits, sd.ParseText(q.Text).Words); err != nil {
			return nil, searchError(ctx, err)
		}
	}
	for _, h := range hits {
		typ, id, ok := switchyard.ParseSearchKey(h.ID)
		if !ok {
			continue
		}
		out.Hits = append(out.Hits, switchyard.SearchHit{
			Type:       typ,
			ID:         id,
			Score:      h.Score,
			Highlights: hls[h],
			Cursor:     sd.EncodeCursor(cursor{Score: strconv.FormatFloat(h.Score, 'g', -1, 64), Key: h.ID}),
		})
	}
	if n := len(out.Hits); n > 0 {
		out.PageInfo.StartCursor = &out.Hits[0].Cursor
		out.PageInfo.EndCursor = &out.Hits[n-1].Cursor
	}
	return out, nil
}

// Suggest implements switchyard.SearchIndex.
func (x *Index) Suggest(ctx context.Context, q switchyard.SuggestQuery) ([]switchyard.SearchSuggestion, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Viewer == nil {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "authentication required")
	}
	g, release, err := x.acquire()
	if err != nil {
		return nil, err
	}
	defer release()

	words := strings.Fields(strings.ReplaceAll(q.Prefix, `"`, " "))
	if len(words) == 0 || *q.First == 0 {
		return []switchyard.SearchSuggestion{}, nil
	}
	b, err := newBuilder(g)
	if err != nil {
		return nil, err
	}
	defer b.close()
	must := make([]query.Query, 0, len(words))
	for _, w := range words[:len(words)-1] {
		if wq := b.wordQuery(w, false); wq != nil {
			must = append(must, wq)
		}
	}
	if cq := b.completionQuery(words[len(words)-1]); cq != nil {
		must = append(must, cq)
	}
	if len(must) == 0 {
		return []switchyard.SearchSuggestion{}, nil
	}
	must = append(must, filterQueries(q.Types, switchyard.SearchFilter{}, q.Viewer)...)
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(must...), *q.First, 0, false)
	req.SortBy([]string{"-_score", "_id"})
	req.Fields = []string{sd.FieldName, sd.FieldNumber, sd.FieldEmail}
	res, err := g.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, searchError(ctx, err)
	}
	out := make([]switchyard.SearchSuggestion, 0, len(res.Hits))
	for _, h := range res.Hits {
		typ, id, ok := switchyard.ParseSearchKey(h.ID)
		if !ok {
			continue
		}
		text := ""
		for _, f := range []string{sd.FieldName, sd.FieldNumber, sd.FieldEmail} {
			if s, ok := h.Fields[f].(string); ok && s != "" {
				text = s
				break
			}
		}
		out = append(out, switchyard.SearchSuggestion{Type: typ, ID: id, Text: text, Score: h.Score})
	}
	return out, nil
}

// builder turns text into Bleve queries against one snapshot of a
// generation, the snapshot the search then runs on.
type builder struct {
	g      *generation
	reader index.IndexReader
	snap   *scorch.IndexSnapshot
	fuzzy  index.IndexReaderFuzzy

	cols *snapColumns // nil until loaded (suggestions do without)

	// What the text query matches in the highlighted fields: terms by
	// field, and phrases (as analyzed terms) in phraseFields.
	marks   map[string]map[string]bool
	phrases [][]string
}

func newBuilder(g *generation) (*builder, error) {
	adv, err := g.idx.Advanced()
	if err != nil {
		return nil, unavailable(err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, unavailable(err)
	}
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		_ = r.Close()
		return nil, fmt.Errorf("embedded search: unexpected index reader %T", r)
	}
	b := &builder{g: g, reader: r, snap: snap, marks: map[string]map[string]bool{}}
	b.fuzzy, _ = r.(index.IndexReaderFuzzy)
	return b, nil
}

func (b *builder) close() { _ = b.reader.Close() }

// nearTerm is an indexed term within a typed term's fuzziness.
type nearTerm struct {
	term   string
	weight float64 // of the exact match's
}

// maxNearTerms bounds a typo's expansion: the closest and most frequent win.
const maxNearTerms = 24

// near lists the indexed terms within t's fuzziness, t itself left out. They
// are looked up once, in the dictionary of _all, rather than by a fuzzy query
// per field, which would build the same Levenshtein automaton for each field.
func (b *builder) near(t string) []nearTerm {
	fz := sd.Fuzziness(t)
	if fz == 0 || b.fuzzy == nil {
		return nil
	}
	if b.cols == nil {
		return b.lookUpNear(t, fz)
	}
	return b.g.near.get(b.cols.segments, t, func() []nearTerm { return b.lookUpNear(t, fz) })
}

// lookUpNear walks the dictionary of _all for the terms within fz of t.
func (b *builder) lookUpNear(t string, fz int) []nearTerm {
	dict, err := b.fuzzy.FieldDictFuzzy(fieldAll, t, fz, "")
	if err != nil {
		return nil
	}
	defer dict.Close()
	type cand struct {
		term  string
		dist  uint8
		count uint64
	}
	var cands []cand
	for {
		e, err := dict.Next()
		if err != nil || e == nil {
			break
		}
		if e.Term != t {
			cands = append(cands, cand{e.Term, e.EditDistance, e.Count})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(b.count, a.count), strings.Compare(a.term, b.term))
	})
	out := make([]nearTerm, 0, min(len(cands), maxNearTerms))
	for _, c := range cands[:min(len(cands), maxNearTerms)] {
		w := 0.6
		if c.dist > 1 {
			w = 0.4
		}
		out = append(out, nearTerm{c.term, w})
	}
	return out
}

// searchQuery is the whole query: every word and phrase must match (text,
// from textQuery), and so must every filter and the access rule. Filters are
// conjunction members that score nothing rather than a post-filter, so the
// most selective clause (often the access rule) drives the search and the
// score is the text's alone.
func (b *builder) searchQuery(q switchyard.SearchQuery, text []query.Query) query.Query {
	filters := filterQueries(q.Types, q.Filter, q.Viewer)
	if q.Text == "" {
		// Nothing to score: every hit scores 0, as in Elasticsearch, and
		// comes in key order.
		if len(filters) == 0 {
			// Only range filters, which the columns apply.
			return filterQuery{bleve.NewMatchAllQuery()}
		}
		if len(filters) == 1 {
			return filters[0]
		}
		return bleve.NewConjunctionQuery(filters...)
	}
	if len(text) == 0 {
		return bleve.NewMatchNoneQuery()
	}
	// One conjunction, not the text's nested in another: the most selective
	// clause of all drives it. A lone clause needs none (its searcher
	// normalizes its own weights as the conjunction's would).
	all := append(slices.Clip(text), filters...)
	if len(all) == 1 {
		return all[0]
	}
	return bleve.NewConjunctionQuery(all...)
}

// textQueries match what was typed, one per word and phrase; none when
// nothing typed can match (no text, or only punctuation).
func (b *builder) textQueries(typed string) []query.Query {
	t := sd.ParseText(typed)
	var must []query.Query
	for i, w := range t.Words {
		if wq := b.wordQuery(w, i == len(t.Words)-1 && len(t.Phrases) == 0); wq != nil {
			must = append(must, wq)
		}
	}
	for _, p := range t.Phrases {
		must = append(must, phraseQuery(p))
		var terms []string
		for _, tok := range b.g.text.Analyze([]byte(p)) {
			terms = append(terms, string(tok.Term))
		}
		if len(terms) > 0 {
			b.phrases = append(b.phrases, terms)
		}
	}
	return must
}

// wordQuery matches one typed word: as a whole, it may equal an email or an
// order number (ranked first) or start an order number; split into terms by
// the text analyzer, every term must match some text field, exactly or within
// its fuzziness. The last word typed may also start a name. A word with no
// letter or digit (punctuation, operators) matches nothing and constrains
// nothing: nil.
func (b *builder) wordQuery(word string, last bool) query.Query {
	terms := analyze(b.g, word)
	if len(terms) == 0 {
		return nil
	}
	var alts []query.Query
	for _, k := range sd.WordNumberKeys(word) {
		alts = append(alts, term(sd.FieldNumberKeys, k, sd.BoostExactKey))
	}
	if strings.Contains(word, "@") {
		alts = append(alts, term(sd.FieldEmailExact, strings.ToLower(word), sd.BoostExactKey))
	}
	for _, p := range sd.WordNumberPrefixes(word) {
		pq := bleve.NewPrefixQuery(p)
		pq.SetField(sd.FieldNumberKeys)
		pq.SetBoost(sd.BoostNumberStart)
		alts = append(alts, pq)
	}
	conj := make([]query.Query, 0, len(terms))
	for i, t := range terms {
		conj = append(conj, b.termQuery(t, last && i == len(terms)-1))
	}
	if len(conj) == 1 {
		alts = append(alts, conj[0])
	} else {
		alts = append(alts, bleve.NewConjunctionQuery(conj...))
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// termQuery matches one analyzed term against every text field with its
// weight, and so do the terms within its fuzziness, for less.
func (b *builder) termQuery(t string, last bool) query.Query {
	near := b.near(t)
	alts := make([]query.Query, 0, (1+len(near))*len(sd.TextFields)+1)
	for _, f := range sd.TextFields {
		mk := term
		if f.Name == sd.FieldKind {
			mk = kindTerm
		}
		alts = append(alts, mk(f.Name, t, f.Boost))
		b.mark(f.Name, t)
		if !f.Fuzzy {
			continue
		}
		for _, c := range near {
			alts = append(alts, mk(f.Name, c.term, f.Boost*c.weight))
			b.mark(f.Name, c.term)
		}
	}
	if last && utf8.RuneCountInString(t) >= sd.PrefixMinLength {
		alts = append(alts, term(sd.FieldNamePrefix, t, sd.BoostNamePrefix))
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// completionQuery matches the word being typed as the start of a name, an
// email, an order number or an item an order holds; nil for a word with no
// letter or digit.
func (b *builder) completionQuery(word string) query.Query {
	terms := analyze(b.g, word)
	if len(terms) == 0 {
		return nil
	}
	alts := []query.Query{term(sd.FieldEmailPrefix, strings.ToLower(word), sd.SuggestBoostEmailStart)}
	for _, p := range sd.WordNumberPrefixes(word) {
		pq := bleve.NewPrefixQuery(p)
		pq.SetField(sd.FieldNumberKeys)
		pq.SetBoost(sd.SuggestBoostNumberStart)
		alts = append(alts, pq)
	}
	for _, k := range sd.WordNumberKeys(word) {
		alts = append(alts, term(sd.FieldNumberKeys, k, sd.SuggestBoostNumber))
	}
	// The word's terms but the last must match, the last starts a word:
	// of the name, or of an order's items.
	earlier := make([]query.Query, 0, len(terms))
	for _, t := range terms[:len(terms)-1] {
		earlier = append(earlier, b.termQuery(t, false))
	}
	last := terms[len(terms)-1]
	alts = append(alts,
		bleve.NewConjunctionQuery(append(slices.Clip(earlier), bleve.NewDisjunctionQuery(
			term(sd.FieldNamePrefix, last, sd.SuggestBoostNamePrefix), term(sd.FieldName, last, sd.SuggestBoostName)))...),
		bleve.NewConjunctionQuery(append(slices.Clip(earlier),
			itemStart(last), filterQuery{term(sd.FieldType, string(switchyard.SearchOrder), 0)})...))
	return bleve.NewDisjunctionQuery(alts...)
}

// itemStart matches a description with a word starting with t: the
// dictionary's terms with that prefix, looked up as the search starts (an
// order's items come from a catalogue, so they are not many). A prefix field
// of edge n-grams, as names have, would multiply the postings of every
// order's items several times over, and the time a rebuild takes with them
// (measured: 5 to 15 s more CPU for seed --scale 100).
func itemStart(t string) query.Query {
	pq := bleve.NewPrefixQuery(t)
	pq.SetField(sd.FieldDescription)
	return constantQuery{q: pq, boost: sd.SuggestBoostItemStart}
}

// phraseFields are where phrases occur.
var phraseFields = []string{sd.FieldName, sd.FieldDescription, sd.FieldProjectName, sd.FieldCustomerName, sd.FieldEmail, sd.FieldCustomerEmail, sd.FieldNumber}

// phraseQuery matches the words of a quoted phrase next to each other, in the
// fields where phrases occur.
func phraseQuery(p string) query.Query {
	var alts []query.Query
	for _, f := range phraseFields {
		pq := bleve.NewMatchPhraseQuery(p)
		pq.SetField(f)
		pq.Analyzer = analyzerText
		pq.SetBoost(sd.BoostPhrase)
		alts = append(alts, pq)
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// filterQueries are the term filters and the access rule, unscored; none
// for an admin with no filter. Range filters apply in the columns.
func filterQueries(types []switchyard.SearchType, f switchyard.SearchFilter, v *switchyard.Viewer) []query.Query {
	var conj []query.Query
	anyOf := func(field string, values []string) {
		alts := make([]query.Query, 0, len(values))
		for _, val := range values {
			alts = append(alts, term(field, val, 0))
		}
		if len(alts) == 1 {
			conj = append(conj, filterQuery{alts[0]})
			return
		}
		conj = append(conj, filterQuery{bleve.NewDisjunctionQuery(alts...)})
	}
	if len(types) > 0 {
		vals := make([]string, len(types))
		for i, t := range types {
			vals[i] = string(t)
		}
		anyOf(sd.FieldType, vals)
	}
	if f.ProjectID != nil {
		anyOf(sd.FieldProjectID, []string{*f.ProjectID})
	}
	if len(f.Status) > 0 {
		anyOf(sd.FieldStatus, f.Status)
	}
	if !v.Admin {
		terms := sd.ViewerTerms(v)
		if len(terms) == 0 {
			return []query.Query{bleve.NewMatchNoneQuery()}
		}
		anyOf(sd.FieldACL, terms)
	}
	return conj
}

// kindTerm matches the type word, the one text field holding a single token.
func kindTerm(field, value string, boost float64) query.Query {
	return singleTokenTermQuery{field: field, term: value, boost: boost}
}

func term(field, value string, boost float64) query.Query {
	tq := bleve.NewTermQuery(value)
	tq.SetField(field)
	tq.SetBoost(boost)
	return tq
}

// analyze splits a word into index terms the way the text fields were.
func analyze(g *generation, word string) []string {
	tokens := g.text.Analyze([]byte(word))
	out := make([]string, 0, len(tokens))
	for _, t := range tokens {
		if s := string(t.Term); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// mark notes that the text query matches term in field, for highlights.
func (b *builder) mark(field, term string) {
	if b.marks[field] == nil {
		b.marks[field] = map[string]bool{}
	}
	b.marks[field][term] = true
}

// highlight returns the highlights of the page's hits. The search gathered
// no term locations: over every match they cost as much as the rest of the
// search, and a second search for the page's alone has to step through the
// postings of every common word again. Instead each highlighted field of a
// hit is analyzed as it was indexed, and the terms the text query matches in
// that field (and its phrases, where they occur in a row) are where term
// vectors would have put them.
func (b *builder) highlight(hits search.DocumentMatchCollection, words []string) (map[*search.DocumentMatch][]switchyard.SearchHighlight, error) {
	hl, err := bleve.Config.Cache.HighlighterNamed(html.Name)
	if err != nil {
		return nil, err
	}
	out := make(map[*search.DocumentMatch][]switchyard.SearchHighlight, len(hits))
	for _, h := range hits {
		doc, err := b.reader.Document(h.ID)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue
		}
		texts := map[string]string{}
		doc.VisitFields(func(f index.Field) {
			if tf, ok := f.(index.TextField); ok && slices.Contains(sd.HighlightFields, f.Name()) {
				texts[f.Name()] = tf.Text()
			}
		})
		h.Locations = search.FieldTermLocationMap{}
		for _, f := range sd.HighlightFields {
			if text := texts[f]; text != "" {
				if tlm := b.locations(f, text); len(tlm) > 0 {
					h.Locations[f] = tlm
					hl.BestFragmentsInField(h, doc, f, 1)
				}
			}
		}
		out[h] = sd.Highlights(h.Fragments, texts[sd.FieldNumber], words)
	}
	return out, nil
}

// locations finds where the text query matches text, the value of field.
func (b *builder) locations(field, text string) search.TermLocationMap {
	terms := b.marks[field]
	phrases := b.phrases
	if !slices.Contains(phraseFields, field) {
		phrases = nil
	}
	if len(terms) == 0 && len(phrases) == 0 {
		return nil
	}
	if !mayContain(text, terms, phrases) {
		return nil
	}
	tokens := b.g.text.Analyze([]byte(text))
	hit := make([]bool, len(tokens))
	for i, tok := range tokens {
		if terms[string(tok.Term)] {
			hit[i] = true
		}
		for _, p := range phrases {
			if i+len(p) > len(tokens) {
				continue
			}
			in := true
			for j, pt := range p {
				t := tokens[i+j]
				if string(t.Term) != pt || t.Position != tok.Position+j {
					in = false
					break
				}
			}
			if in {
				for j := range p {
					hit[i+j] = true
				}
			}
		}
	}
	tlm := search.TermLocationMap{}
	for i, tok := range tokens {
		if hit[i] {
			t := string(tok.Term)
			tlm[t] = append(tlm[t], &search.Location{Pos: uint64(tok.Position), Start: uint64(tok.Start), End: uint64(tok.End)})
		}
	}
	return tlm
}

// mayContain is false when no term or phrase can occur in text: analysis
// (a regular expression, then folding) costs more than looking. Only ASCII
// text is looked at, where the analyzer's terms are the lower-cased text.
func mayContain(text string, terms map[string]bool, phrases [][]string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			return true
		}
	}
	lower := strings.ToLower(text)
	for t := range terms {
		if strings.Contains(lower, t) {
			return true
		}
	}
	for _, p := range phrases {
		if strings.Contains(lower, p[0]) {
			return true
		}
	}
	return false
}

func searchError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(err)
}

// nearCache remembers the near terms of typed terms for one set of
// segments: the dictionary lookup builds a Levenshtein automaton and walks
// every segment's dictionary, and people type the same words again. Any new
// segment (a write, a merge) can hold new terms, so the cache starts over.
type nearCache struct {
	mu       sync.Mutex
	segments string
	terms    map[string][]nearTerm
}

// maxNearCache bounds the cache; past it, it starts over.
const maxNearCache = 1024

func (c *nearCache) get(segments, t string, look func() []nearTerm) []nearTerm {
	c.mu.Lock()
	if c.terms != nil && c.segments == segments {
		if near, ok := c.terms[t]; ok {
			c.mu.Unlock()
			return near
		}
	}
	c.mu.Unlock()
	near := look()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terms == nil || c.segments != segments || len(c.terms) >= maxNearCache {
		c.segments, c.terms = segments, map[string][]nearTerm{}
	}
	c.terms[t] = near
	return near
}
