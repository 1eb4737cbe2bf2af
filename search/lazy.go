package search

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
)

// Lazy is a SearchIndex opened in the background and reopened after it
// failed to open: a server starts while its index cannot be opened (an
// embedded index held by a running `switchyard reindex`, a cluster that is
// not up yet) and answers SEARCH_UNAVAILABLE until it can, instead of refusing
// to start. Callers never wait on a slow open for longer than a short bound:
// a search against a backend that is down fails fast.
type Lazy struct {
	open  func() (switchyard.SearchIndex, error)
	retry time.Duration
	// wait bounds how long a call waits for an open in progress.
	wait time.Duration

	mu      sync.Mutex
	index   switchyard.SearchIndex
	lastErr error
	lastTry time.Time
	opening chan struct{} // closed when the open in progress ends; nil when none
	closed  bool
}

var _ switchyard.SearchIndex = (*Lazy)(nil)

// NewLazy starts opening the index with open, and tries again at most every
// retry while open fails.
func NewLazy(open func() (switchyard.SearchIndex, error), retry time.Duration) *Lazy {
	l := &Lazy{open: open, retry: retry, wait: 2 * time.Second}
	l.mu.Lock()
	l.startOpen()
	l.mu.Unlock()
	return l
}

// startOpen opens the index in the background. Call with l.mu held.
func (l *Lazy) startOpen() {
	done := make(chan struct{})
	l.opening, l.lastTry = done, time.Now()
	go func() {
		idx, err := l.open()
		l.mu.Lock()
		defer l.mu.Unlock()
		defer close(done)
		l.opening = nil
		switch {
		case err != nil:
			if switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
				err = &switchyard.Error{Code: switchyard.ESEARCHUNAVAILABLE, Message: "search is unavailable: " + err.Error()}
			}
			l.lastErr = err
		case l.closed:
			_ = idx.Close()
		default:
			l.index, l.lastErr = idx, nil
		}
	}()
}

func (l *Lazy) get() (switchyard.SearchIndex, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is closed")
	}
	if l.index != nil {
		idx := l.index
		l.mu.Unlock()
		return idx, nil
	}
	if l.opening == nil && time.Since(l.lastTry) >= l.retry {
		l.startOpen()
	}
	opening := l.opening
	l.mu.Unlock()
	if opening != nil {
		select {
		case <-opening:
		case <-time.After(l.wait):
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.index != nil:
		return l.index, nil
	case l.lastErr != nil:
		return nil, l.lastErr
	}
	return nil, switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is still opening")
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

// Close closes the index if it was opened (one still opening is closed when
// it opens); later calls answer SEARCH_UNAVAILABLE.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.index == nil {
		return nil
	}
	idx := l.index
	l.index = nil
	return idx.Close()
}
