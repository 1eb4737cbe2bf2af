package embedded

import (
	"context"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/scorer"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// Two query shapes Bleve has no name for, both exact stand-ins for what they
// replace: the same matches and the same scores, less work.
//
// A scored term searcher reads every posting's frequency and norm, and to
// advance to a document it steps through the postings in between one by one.
// Against a clause matching most of the index (a filter on a common status,
// the type word "order") that is a walk over hundreds of thousands of
// postings per search. Without frequencies and norms Bleve advances through
// the posting bitmap directly, and a disjunction of such terms becomes one
// bitmap union.

// filterQuery must match and adds nothing to the score: the filters and the
// access rule. What it replaces, term queries with boost 0 among the
// conjuncts, scored exactly 0 and weighed 0 in the query norm; so does this.
type filterQuery struct {
	q query.Query
}

func (f filterQuery) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, _ search.SearcherOptions) (search.Searcher, error) {
	s, err := f.q.Searcher(ctx, r, m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	return &zeroScorer{Searcher: s}, nil
}

// zeroScorer passes its searcher's matches on with score 0 and weighs
// nothing.
type zeroScorer struct {
	search.Searcher
}

func (z *zeroScorer) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	d, err := z.Searcher.Next(ctx)
	if d != nil {
		d.Score = 0
	}
	return d, err
}

func (z *zeroScorer) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	d, err := z.Searcher.Advance(ctx, id)
	if d != nil {
		d.Score = 0
	}
	return d, err
}

func (z *zeroScorer) Weight() float64      { return 0 }
func (z *zeroScorer) SetQueryNorm(float64) {}

// singleTokenTermQuery is a term query on a field whose every value is one
// token (kind: "order", "user"…), so every match has term frequency 1 and
// norm 1 and Bleve's tf-idf score is the same for all: it is computed once,
// by Bleve's own scorer, and the postings are read without frequencies and
// norms. Matches carry no term locations, which only highlighted fields need.
type singleTokenTermQuery struct {
	field, term string
	boost       float64
}

func (q singleTokenTermQuery) Searcher(ctx context.Context, r index.IndexReader, _ mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	s, err := searcher.NewTermSearcher(ctx, r, q.term, q.field, q.boost, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	docTotal, err := r.DocCount()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	sc := scorer.NewTermQueryScorer([]byte(q.term), q.field, q.boost, docTotal, s.Count(), 0,
		search.SearcherOptions{Score: options.Score})
	out := &flatScorer{Searcher: s, scorer: sc}
	out.SetQueryNorm(1)
	return out, nil
}

// flatScorer gives every match of its searcher the score the term scorer
// gives a match with frequency 1 and norm 1.
type flatScorer struct {
	search.Searcher
	scorer *scorer.TermQueryScorer
	score  float64
}

func (f *flatScorer) Weight() float64 { return f.scorer.Weight() }

func (f *flatScorer) SetQueryNorm(qnorm float64) {
	f.scorer.SetQueryNorm(qnorm)
	pool := search.NewDocumentMatchPool(1, 0)
	d := f.scorer.Score(&search.SearchContext{DocumentMatchPool: pool}, &index.TermFieldDoc{Freq: 1, Norm: 1})
	f.score = d.Score
}

func (f *flatScorer) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	d, err := f.Searcher.Next(ctx)
	if d != nil {
		d.Score = f.score
	}
	return d, err
}

func (f *flatScorer) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	d, err := f.Searcher.Advance(ctx, id)
	if d != nil {
		d.Score = f.score
	}
	return d, err
}

// constantQuery matches what q matches, every match with the same score: its
// boost, as Bleve's constant scorer gives it (boost × the query norm), and it
// weighs boost² in the norm. q's postings are read without frequencies, so a
// prefix's terms become one bitmap union. Elasticsearch scores a prefix query
// the same way.
type constantQuery struct {
	q     query.Query
	boost float64
}

func (c constantQuery) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	s, err := c.q.Searcher(ctx, r, m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	out := &constantScorer{Searcher: s, boost: c.boost, scored: options.Score != "none"}
	out.SetQueryNorm(1)
	return out, nil
}

type constantScorer struct {
	search.Searcher
	boost, score float64
	scored       bool
}

func (c *constantScorer) Weight() float64 { return c.boost * c.boost }

func (c *constantScorer) SetQueryNorm(qnorm float64) {
	if c.scored {
		c.score = c.boost * qnorm
	}
}

func (c *constantScorer) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	d, err := c.Searcher.Next(ctx)
	if d != nil {
		d.Score = c.score
	}
	return d, err
}

func (c *constantScorer) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	d, err := c.Searcher.Advance(ctx, id)
	if d != nil {
		d.Score = c.score
	}
	return d, err
}
