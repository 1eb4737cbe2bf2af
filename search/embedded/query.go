package embedded

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/highlight/highlighter/html"
	"github.com/blevesearch/bleve/v2/search/query"

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

	first := *q.First
	req := bleve.NewSearchRequestOptions(searchQuery(g, q), first+1, 0, false)
	req.SortBy([]string{"-_score", "_id"})
	if after != nil {
		req.SetSearchAfter([]string{after.Score, after.Key})
	}
	if first > 0 && q.Text != "" {
		req.Highlight = bleve.NewHighlightWithStyle(html.Name)
		req.Highlight.Fields = sd.HighlightFields
	}
	for _, f := range q.Facets {
		req.AddFacet(f, bleve.NewFacetRequest(sd.FacetFields[f], sd.FacetSize))
	}
	res, err := g.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, searchError(ctx, err)
	}

	out := &switchyard.SearchResults{TotalCount: int(res.Total)}
	hits := res.Hits
	if len(hits) > first {
		hits = hits[:first]
		out.PageInfo.HasNextPage = true
	}
	out.PageInfo.HasPreviousPage = after != nil
	for _, h := range hits {
		typ, id, ok := switchyard.ParseSearchKey(h.ID)
		if !ok {
			continue
		}
		out.Hits = append(out.Hits, switchyard.SearchHit{
			Type:       typ,
			ID:         id,
			Score:      h.Score,
			Highlights: highlights(h.Fragments),
			Cursor:     sd.EncodeCursor(cursor{Score: strconv.FormatFloat(h.Score, 'g', -1, 64), Key: h.ID}),
		})
	}
	if n := len(out.Hits); n > 0 {
		out.PageInfo.StartCursor = &out.Hits[0].Cursor
		out.PageInfo.EndCursor = &out.Hits[n-1].Cursor
	}
	for _, f := range q.Facets {
		facet := switchyard.SearchFacet{Field: f, Buckets: []switchyard.SearchFacetBucket{}}
		if fr := res.Facets[f]; fr != nil && fr.Terms != nil {
			for _, t := range fr.Terms.Terms() {
				facet.Buckets = append(facet.Buckets, switchyard.SearchFacetBucket{Value: t.Term, Count: t.Count})
			}
		}
		slices.SortFunc(facet.Buckets, func(a, b switchyard.SearchFacetBucket) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		out.Facets = append(out.Facets, facet)
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
	must := make([]query.Query, 0, len(words))
	for _, w := range words[:len(words)-1] {
		if wq := wordQuery(g, w, false); wq != nil {
			must = append(must, wq)
		}
	}
	if cq := completionQuery(g, words[len(words)-1]); cq != nil {
		must = append(must, cq)
	}
	if len(must) == 0 {
		return []switchyard.SearchSuggestion{}, nil
	}
	bq := bleve.NewBooleanQuery()
	bq.AddMust(must...)
	if f := filterQuery(q.Types, switchyard.SearchFilter{}, q.Viewer); f != nil {
		bq.AddFilter(f)
	}
	req := bleve.NewSearchRequestOptions(bq, *q.First, 0, false)
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

// searchQuery is the whole query: the text as must clauses (every word and
// phrase must match somewhere) and the filters and access rule as a filter,
// which narrows without scoring.
func searchQuery(g *generation, q switchyard.SearchQuery) query.Query {
	bq := bleve.NewBooleanQuery()
	if q.Text != "" {
		t := sd.ParseText(q.Text)
		var must []query.Query
		for i, w := range t.Words {
			if wq := wordQuery(g, w, i == len(t.Words)-1 && len(t.Phrases) == 0); wq != nil {
				must = append(must, wq)
			}
		}
		for _, p := range t.Phrases {
			must = append(must, phraseQuery(p))
		}
		if len(must) == 0 {
			return bleve.NewMatchNoneQuery()
		}
		bq.AddMust(must...)
	}
	if f := filterQuery(q.Types, q.Filter, q.Viewer); f != nil {
		bq.AddFilter(f)
	}
	return bq
}

// wordQuery matches one typed word: as a whole, it may equal an email or an
// order number (ranked first) or start an order number; split into terms by
// the text analyzer, every term must match some text field, exactly or within
// its fuzziness. The last word typed may also start a name. A word with no
// letter or digit (punctuation, operators) matches nothing and constrains
// nothing: nil.
func wordQuery(g *generation, word string, last bool) query.Query {
	terms := analyze(g, word)
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
		conj = append(conj, termQuery(t, last && i == len(terms)-1))
	}
	if len(conj) == 1 {
		alts = append(alts, conj[0])
	} else {
		alts = append(alts, bleve.NewConjunctionQuery(conj...))
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// termQuery matches one analyzed term against every text field with its
// weight; a fuzzy match counts for less than the exact one.
func termQuery(t string, last bool) query.Query {
	fz := sd.Fuzziness(t)
	alts := make([]query.Query, 0, 2*len(sd.TextFields)+1)
	for _, f := range sd.TextFields {
		alts = append(alts, term(f.Name, t, f.Boost))
		if fz > 0 {
			fq := bleve.NewFuzzyQuery(t)
			fq.SetField(f.Name)
			fq.SetFuzziness(fz)
			fq.SetBoost(f.Boost * 0.6)
			alts = append(alts, fq)
		}
	}
	if last && utf8.RuneCountInString(t) >= sd.PrefixMinLength {
		alts = append(alts, term(sd.FieldNamePrefix, t, sd.BoostNamePrefix))
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// completionQuery matches the word being typed as the start of a name, an
// email or an order number; nil for a word with no letter or digit.
func completionQuery(g *generation, word string) query.Query {
	terms := analyze(g, word)
	if len(terms) == 0 {
		return nil
	}
	alts := []query.Query{term(sd.FieldEmailPrefix, strings.ToLower(word), 2)}
	for _, p := range sd.WordNumberPrefixes(word) {
		pq := bleve.NewPrefixQuery(p)
		pq.SetField(sd.FieldNumberKeys)
		pq.SetBoost(3)
		alts = append(alts, pq)
	}
	for _, k := range sd.WordNumberKeys(word) {
		alts = append(alts, term(sd.FieldNumberKeys, k, 4))
	}
	conj := make([]query.Query, 0, len(terms))
	for i, t := range terms {
		if i == len(terms)-1 {
			conj = append(conj, bleve.NewDisjunctionQuery(
				term(sd.FieldNamePrefix, t, 3), term(sd.FieldName, t, 4)))
		} else {
			conj = append(conj, termQuery(t, false))
		}
	}
	alts = append(alts, bleve.NewConjunctionQuery(conj...))
	return bleve.NewDisjunctionQuery(alts...)
}

// phraseQuery matches the words of a quoted phrase next to each other, in the
// fields where phrases occur.
func phraseQuery(p string) query.Query {
	var alts []query.Query
	for _, f := range []string{sd.FieldName, sd.FieldDescription, sd.FieldProjectName, sd.FieldCustomerName, sd.FieldEmail, sd.FieldCustomerEmail, sd.FieldNumber} {
		pq := bleve.NewMatchPhraseQuery(p)
		pq.SetField(f)
		pq.Analyzer = analyzerText
		pq.SetBoost(sd.BoostPhrase)
		alts = append(alts, pq)
	}
	return bleve.NewDisjunctionQuery(alts...)
}

// filterQuery is the conjunction of the filters and the access rule; nil for
// an admin with no filter.
func filterQuery(types []switchyard.SearchType, f switchyard.SearchFilter, v *switchyard.Viewer) query.Query {
	var conj []query.Query
	if len(types) > 0 {
		alts := make([]query.Query, 0, len(types))
		for _, t := range types {
			alts = append(alts, term(sd.FieldType, string(t), 1))
		}
		conj = append(conj, bleve.NewDisjunctionQuery(alts...))
	}
	if f.ProjectID != nil {
		conj = append(conj, term(sd.FieldProjectID, *f.ProjectID, 1))
	}
	if len(f.Status) > 0 {
		alts := make([]query.Query, 0, len(f.Status))
		for _, s := range f.Status {
			alts = append(alts, term(sd.FieldStatus, s, 1))
		}
		conj = append(conj, bleve.NewDisjunctionQuery(alts...))
	}
	if f.CreatedAfter != nil || f.CreatedBefore != nil {
		var start, end time.Time
		if f.CreatedAfter != nil {
			start = f.CreatedAfter.UTC()
		}
		if f.CreatedBefore != nil {
			end = f.CreatedBefore.UTC()
		}
		yes := true
		dq := bleve.NewDateRangeInclusiveQuery(start, end, &yes, &yes)
		dq.SetField(sd.FieldCreatedAt)
		conj = append(conj, dq)
	}
	if f.MinTotal != nil || f.MaxTotal != nil {
		var lo, hi *float64
		if f.MinTotal != nil {
			v := sd.DecimalFloat(*f.MinTotal)
			lo = &v
		}
		if f.MaxTotal != nil {
			v := sd.DecimalFloat(*f.MaxTotal)
			hi = &v
		}
		yes := true
		nq := bleve.NewNumericRangeInclusiveQuery(lo, hi, &yes, &yes)
		nq.SetField(sd.FieldTotal)
		conj = append(conj, nq)
	}
	if !v.Admin {
		terms := sd.ViewerTerms(v)
		if len(terms) == 0 {
			return bleve.NewMatchNoneQuery()
		}
		alts := make([]query.Query, 0, len(terms))
		for _, t := range terms {
			alts = append(alts, term(sd.FieldACL, t, 1))
		}
		conj = append(conj, bleve.NewDisjunctionQuery(alts...))
	}
	switch len(conj) {
	case 0:
		return nil
	case 1:
		return conj[0]
	}
	return bleve.NewConjunctionQuery(conj...)
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

func highlights(fragments search.FieldFragmentMap) []switchyard.SearchHighlight {
	var out []switchyard.SearchHighlight
	for _, f := range sd.HighlightFields {
		if snippets := fragments[f]; len(snippets) > 0 {
			out = append(out, switchyard.SearchHighlight{Field: f, Snippets: snippets})
		}
	}
	return out
}

func searchError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(err)
}
