package elastic

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// cursor is a hit's sort values as the cluster returned them ([score, key]),
// kept as raw JSON so search_after gets back exactly what it gave.
type cursor []json.RawMessage

// Search implements switchyard.SearchIndex.
func (x *Index) Search(ctx context.Context, q switchyard.SearchQuery) (*switchyard.SearchResults, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Viewer == nil {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "authentication required")
	}
	var after cursor
	if q.After != "" {
		if err := sd.DecodeCursor(q.After, &after); err != nil {
			return nil, err
		}
		var key string
		if len(after) != 2 || json.Unmarshal(after[1], &key) != nil || key == "" {
			return nil, switchyard.InvalidField("after", "malformed search cursor")
		}
		var score float64
		if json.Unmarshal(after[0], &score) != nil {
			return nil, switchyard.InvalidField("after", "malformed search cursor")
		}
	}
	if err := x.usable(); err != nil {
		return nil, err
	}
	first := *q.First
	query, ok := searchQuery(q)
	if !ok {
		// Nothing typed can match (only punctuation): no need to ask.
		return emptyResults(q, after != nil), nil
	}
	body := map[string]any{
		"query":            query,
		"size":             first + 1,
		"track_total_hits": true,
		"sort":             []any{map[string]any{"_score": "desc"}, map[string]any{sd.FieldKey: "asc"}},
		"_source":          false,
	}
	if after != nil {
		body["search_after"] = after
	}
	if first > 0 && q.Text != "" {
		// The number, to mark what an order number key matched
		// (searchdoc.Highlights): keys are not text, so no highlighter does.
		body["_source"] = []string{sd.FieldNumber}
		fields := map[string]any{}
		for _, f := range sd.HighlightFields {
			fields[f] = map[string]any{}
		}
		body["highlight"] = map[string]any{
			"pre_tags": []string{"<mark>"}, "post_tags": []string{"</mark>"},
			"encoder": "html", "require_field_match": true,
			"fragment_size": 150, "number_of_fragments": 3,
			"fields": fields,
		}
	}
	if len(q.Facets) > 0 {
		aggs := map[string]any{}
		for _, f := range q.Facets {
			aggs[f] = map[string]any{"terms": map[string]any{
				"field": sd.FacetFields[f], "size": sd.FacetSize,
				"order": []any{map[string]any{"_count": "desc"}, map[string]any{"_key": "asc"}},
			}}
		}
		body["aggs"] = aggs
	}
	var res searchResponse
	if err := x.call(ctx, "search", esapi.SearchRequest{
		Index: []string{x.readAlias()}, Body: jsonBody(body),
	}, &res); err != nil {
		return nil, err
	}

	out := &switchyard.SearchResults{TotalCount: res.Hits.Total.Value}
	hits := res.Hits.Hits
	if len(hits) > first {
		hits = hits[:first]
		out.PageInfo.HasNextPage = true
	}
	out.PageInfo.HasPreviousPage = after != nil
	words := sd.ParseText(q.Text).Words
	for _, h := range hits {
		typ, id, ok := switchyard.ParseSearchKey(h.ID)
		if !ok {
			continue
		}
		hit := switchyard.SearchHit{Type: typ, ID: id, Cursor: sd.EncodeCursor(h.Sort)}
		if h.Score != nil {
			hit.Score = *h.Score
		}
		if q.Text != "" {
			hit.Highlights = sd.Highlights(h.Highlight, h.Source.Number, words)
		}
		out.Hits = append(out.Hits, hit)
	}
	if n := len(out.Hits); n > 0 {
		out.PageInfo.StartCursor = &out.Hits[0].Cursor
		out.PageInfo.EndCursor = &out.Hits[n-1].Cursor
	}
	for _, f := range q.Facets {
		facet := switchyard.SearchFacet{Field: f, Buckets: []switchyard.SearchFacetBucket{}}
		for _, b := range res.Aggregations[f].Buckets {
			facet.Buckets = append(facet.Buckets, switchyard.SearchFacetBucket{Value: b.Key, Count: b.DocCount})
		}
		slices.SortFunc(facet.Buckets, func(a, b switchyard.SearchFacetBucket) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		out.Facets = append(out.Facets, facet)
	}
	return out, nil
}

type searchResponse struct {
	Hits struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID        string              `json:"_id"`
			Score     *float64            `json:"_score"`
			Sort      []json.RawMessage   `json:"sort"`
			Highlight map[string][]string `json:"highlight"`
			Source    struct {
				Name   string `json:"name"`
				Number string `json:"number"`
				Email  string `json:"email"`
			} `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]struct {
		Buckets []struct {
			Key      string `json:"key"`
			DocCount int    `json:"doc_count"`
		} `json:"buckets"`
	} `json:"aggregations"`
}

func emptyResults(q switchyard.SearchQuery, resumed bool) *switchyard.SearchResults {
	out := &switchyard.SearchResults{PageInfo: switchyard.PageInfo{HasPreviousPage: resumed}}
	for _, f := range q.Facets {
		out.Facets = append(out.Facets, switchyard.SearchFacet{Field: f, Buckets: []switchyard.SearchFacetBucket{}})
	}
	return out
}

// Suggest implements switchyard.SearchIndex.
func (x *Index) Suggest(ctx context.Context, q switchyard.SuggestQuery) ([]switchyard.SearchSuggestion, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Viewer == nil {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "authentication required")
	}
	if err := x.usable(); err != nil {
		return nil, err
	}
	var words []string
	for _, w := range strings.Fields(strings.ReplaceAll(q.Prefix, `"`, " ")) {
		if hasWord(w) {
			words = append(words, w)
		}
	}
	if len(words) == 0 || *q.First == 0 {
		return []switchyard.SearchSuggestion{}, nil
	}
	must := make([]any, 0, len(words))
	for _, w := range words[:len(words)-1] {
		must = append(must, wordQuery(w, false))
	}
	must = append(must, completionQuery(words[len(words)-1]))
	body := map[string]any{
		"query": map[string]any{"bool": map[string]any{
			"must": must, "filter": filters(q.Types, switchyard.SearchFilter{}, q.Viewer),
		}},
		"size":    *q.First,
		"sort":    []any{map[string]any{"_score": "desc"}, map[string]any{sd.FieldKey: "asc"}},
		"_source": []string{sd.FieldName, sd.FieldNumber, sd.FieldEmail},
	}
	var res searchResponse
	if err := x.call(ctx, "suggest", esapi.SearchRequest{
		Index: []string{x.readAlias()}, Body: jsonBody(body),
	}, &res); err != nil {
		return nil, err
	}
	out := make([]switchyard.SearchSuggestion, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		typ, id, ok := switchyard.ParseSearchKey(h.ID)
		if !ok {
			continue
		}
		s := switchyard.SearchSuggestion{Type: typ, ID: id,
			Text: cmp.Or(h.Source.Name, h.Source.Number, h.Source.Email)}
		if h.Score != nil {
			s.Score = *h.Score
		}
		out = append(out, s)
	}
	return out, nil
}

// searchQuery is the whole query: every word and phrase must match (scored),
// and every filter and the access rule must hold (unscored, cached). false
// when the text has words but none with a letter or digit.
func searchQuery(q switchyard.SearchQuery) (map[string]any, bool) {
	filter := filters(q.Types, q.Filter, q.Viewer)
	if q.Text == "" {
		return map[string]any{"bool": map[string]any{"filter": filter}}, true
	}
	t := sd.ParseText(q.Text)
	var must []any
	for i, w := range t.Words {
		if hasWord(w) {
			must = append(must, wordQuery(w, i == len(t.Words)-1 && len(t.Phrases) == 0))
		}
	}
	for _, p := range t.Phrases {
		if hasWord(p) {
			must = append(must, phraseQuery(p))
		}
	}
	if len(must) == 0 {
		return nil, false
	}
	return map[string]any{"bool": map[string]any{"must": must, "filter": filter}}, true
}

// hasWord reports whether s has a letter, digit or mark: what the analyzer
// keeps. Punctuation alone matches nothing and constrains nothing.
func hasWord(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
	})
}

// wordQuery matches one typed word, as the embedded backend does: as a whole
// it may equal an email or an order number (ranked first) or start an order
// number; analyzed, all its terms must match one text field, exactly or (in
// names and descriptions, for a word without digits) within AUTO fuzziness,
// exact matches counting more. The last word typed may also start a name.
func wordQuery(word string, last bool) map[string]any {
	var exactFields, nearFields []string
	for _, f := range sd.TextFields {
		exactFields = append(exactFields, boosted(f.Name, f.Boost))
		if f.Fuzzy {
			nearFields = append(nearFields, boosted(f.Name, f.Boost*0.6))
		}
	}
	should := []any{
		map[string]any{"multi_match": map[string]any{
			"query": word, "type": "best_fields", "fields": exactFields, "operator": "and", "tie_breaker": 0.3,
		}},
		map[string]any{"terms": map[string]any{sd.FieldNumberKeys: sd.WordNumberKeys(word), "boost": sd.BoostExactKey}},
	}
	if !strings.ContainsFunc(word, unicode.IsDigit) {
		should = append(should, map[string]any{"multi_match": map[string]any{
			"query": word, "type": "best_fields", "fields": nearFields, "operator": "and", "tie_breaker": 0.3,
			"fuzziness": "AUTO", "prefix_length": 0, "max_expansions": 24, "fuzzy_transpositions": true,
		}})
	}
	if strings.Contains(word, "@") {
		should = append(should, map[string]any{"term": map[string]any{
			fieldEmailExact: map[string]any{"value": strings.ToLower(word), "boost": sd.BoostExactKey},
		}})
	}
	for _, p := range sd.WordNumberPrefixes(word) {
		should = append(should, map[string]any{"prefix": map[string]any{
			sd.FieldNumberKeys: map[string]any{"value": p, "boost": sd.BoostNumberStart},
		}})
	}
	if last && lastTermLen(word) >= sd.PrefixMinLength {
		should = append(should, map[string]any{"match": map[string]any{
			fieldNamePrefix: map[string]any{"query": word, "operator": "and", "boost": sd.BoostNamePrefix},
		}})
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// completionQuery matches the word being typed as the start of a name, an
// email, an order number or an item an order holds.
func completionQuery(word string) map[string]any {
	should := []any{
		map[string]any{"match": map[string]any{
			fieldNamePrefix: map[string]any{"query": word, "operator": "and", "boost": sd.SuggestBoostNamePrefix},
		}},
		map[string]any{"match": map[string]any{
			sd.FieldName: map[string]any{"query": word, "operator": "and", "boost": sd.SuggestBoostName},
		}},
		map[string]any{"term": map[string]any{
			fieldEmailPrefix: map[string]any{"value": strings.ToLower(word), "boost": sd.SuggestBoostEmailStart},
		}},
		map[string]any{"terms": map[string]any{sd.FieldNumberKeys: sd.WordNumberKeys(word), "boost": sd.SuggestBoostNumber}},
		// An order's description is its items; other descriptions are
		// not completed. The last term is a prefix query, which scores
		// every match alike (as the embedded backend's).
		map[string]any{"bool": map[string]any{
			"must": map[string]any{"match_bool_prefix": map[string]any{
				sd.FieldDescription: map[string]any{"query": word, "boost": sd.SuggestBoostItemStart},
			}},
			"filter": map[string]any{"term": map[string]any{sd.FieldType: string(switchyard.SearchOrder)}},
		}},
	}
	for _, p := range sd.WordNumberPrefixes(word) {
		should = append(should, map[string]any{"prefix": map[string]any{
			sd.FieldNumberKeys: map[string]any{"value": p, "boost": sd.SuggestBoostNumberStart},
		}})
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// phraseQuery matches the words of a quoted phrase next to each other.
func phraseQuery(p string) map[string]any {
	return map[string]any{"multi_match": map[string]any{
		"query": p, "type": "phrase", "boost": sd.BoostPhrase,
		"fields": []string{sd.FieldName, sd.FieldDescription, sd.FieldProjectName, sd.FieldCustomerName,
			sd.FieldEmail, sd.FieldCustomerEmail, sd.FieldNumber},
	}}
}

// filters are the term and range filters and the access rule: a member's
// query keeps documents of the projects they may read or naming them; an
// admin's keeps everything.
func filters(types []switchyard.SearchType, f switchyard.SearchFilter, v *switchyard.Viewer) []any {
	out := []any{}
	if len(types) > 0 {
		out = append(out, map[string]any{"terms": map[string]any{sd.FieldType: types}})
	}
	if f.ProjectID != nil {
		out = append(out, map[string]any{"term": map[string]any{sd.FieldProjectID: *f.ProjectID}})
	}
	if len(f.Status) > 0 {
		out = append(out, map[string]any{"terms": map[string]any{sd.FieldStatus: f.Status}})
	}
	if f.CreatedAfter != nil || f.CreatedBefore != nil {
		r := map[string]any{}
		if f.CreatedAfter != nil {
			r["gte"] = f.CreatedAfter.UTC()
		}
		if f.CreatedBefore != nil {
			r["lte"] = f.CreatedBefore.UTC()
		}
		out = append(out, map[string]any{"range": map[string]any{sd.FieldCreatedAt: r}})
	}
	if f.MinTotal != nil || f.MaxTotal != nil {
		r := map[string]any{}
		if f.MinTotal != nil {
			r["gte"] = sd.DecimalFloat(*f.MinTotal)
		}
		if f.MaxTotal != nil {
			r["lte"] = sd.DecimalFloat(*f.MaxTotal)
		}
		out = append(out, map[string]any{"range": map[string]any{sd.FieldTotal: r}})
	}
	if !v.Admin {
		terms := sd.ViewerTerms(v)
		if len(terms) == 0 {
			out = append(out, map[string]any{"match_none": map[string]any{}})
		} else {
			out = append(out, map[string]any{"terms": map[string]any{sd.FieldACL: terms}})
		}
	}
	return out
}

// boosted is multi_match's "field^boost".
func boosted(field string, boost float64) string {
	return field + "^" + strconv.FormatFloat(boost, 'f', -1, 64)
}

// lastTermLen is the length of the word's last run of letters and digits,
// the one a prefix completes.
func lastTermLen(word string) int {
	end := len(word)
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(word[:end])
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) {
			break
		}
		end -= size
	}
	n := 0
	for i := end; i > 0; {
		r, size := utf8.DecodeLastRuneInString(word[:i])
		if !(unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)) {
			break
		}
		n++
		i -= size
	}
	return n
}
