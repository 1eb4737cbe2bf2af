package search

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
)

// Lazy is a SearchIndex opened on first use and reopened after it failed to
// open: a server starts while its index cannot be opened (an embedded index
// held by a running `switchyard reindex`, a directory not yet mounted) and
// answers SEARCH_UNAVAILABLE until it can, instead of refusing to start.
type Lazy struct {
	open  func() (switchyard.SearchIndex, error)
	retry time.Duration

	mu      sync.Mutex
	index   switchyard.SearchIndex
	lastErr error
	lastTry time.Time
	closed  bool
}

var _ switchyard.SearchIndex = (*Lazy)(nil)

// NewLazy returns an index that calls open when first needed, and again at
// most every retry while open fails.
func NewLazy(open func() (switchyard.SearchIndex, error), retry time.Duration) *Lazy {
	return &Lazy{open: open, retry: retry}
}

func (l *Lazy) get() (switchyard.SearchIndex, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is closed")
	}
	if l.index != nil {
		return l.index, nil
	}
	if l.lastErr != nil && time.Since(l.lastTry) < l.retry {
		return nil, l.lastErr
	}
	l.lastTry = time.Now()
	idx, err := l.open()
	if err != nil {
		if switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
			err = &switchyard.Error{Code: switchyard.ESEARCHUNAVAILABLE, Message: "search is unavailable: " + err.Error()}
		}
		l.lastErr = err
		return nil, err
	}
	l.index, l.lastErr = idx, nil
	return idx, nil
}

func (l *Lazy) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	idx, err := l.get()
	if err != nil {
		return err
	}
	return idx.Index(ctx, docs)
}

func (l *Lazy) Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error {
	idx, err := l.get()
	if err != nil {
		return err
	}
	return idx.Delete(ctx, typ, id, version)
}

func (l *Lazy) Search(ctx context.Context, q switchyard.SearchQuery) (*switchyard.SearchResults, error) {
	idx, err := l.get()
	if err != nil {
		return nil, err
	}
	return idx.Search(ctx, q)
}

func (l *Lazy) Suggest(ctx context.Context, q switchyard.SuggestQuery) ([]switchyard.SearchSuggestion, error) {
	idx, err := l.get()
	if err != nil {
		return nil, err
	}
	return idx.Suggest(ctx, q)
}

func (l *Lazy) Rebuild(ctx context.Context) (switchyard.SearchRebuild, error) {
	idx, err := l.get()
	if err != nil {
		return nil, err
	}
	return idx.Rebuild(ctx)
}

func (l *Lazy) Ping(ctx context.Context) error {
	idx, err := l.get()
	if err != nil {
		return err
	}
	return idx.Ping(ctx)
}

// Close closes the index if it was opened; later calls answer
// SEARCH_UNAVAILABLE.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.index == nil {
		return nil
	}
	return l.index.Close()
}
