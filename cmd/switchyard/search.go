package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/search"
	"github.com/switchyard/switchyard/search/embedded"
)

// defaultSearchDir is where the embedded index lives unless
// SWITCHYARD_SEARCH_DIR says otherwise: beside PostgreSQL's and Redis's data.
const defaultSearchDir = ".data/search"

// searchBackend is the configured index and the name of its indexer's
// cursor.
type searchBackend struct {
	// Describe names the backend for logs and errors.
	Describe string
	// Cursor names the indexer's position in consumer_cursors: one per
	// index, so instances with their own embedded index keep their own, and
	// instances sharing an Elasticsearch index share one.
	Cursor string
	open   func() (switchyard.SearchIndex, error)
}

// openElasticIndex opens the Elasticsearch backend; nil until the backend is
// part of the build.
var openElasticIndex func(rawURL string) (switchyard.SearchIndex, error)

// searchBackendFor picks the backend: Elasticsearch when ELASTICSEARCH_URL is
// set, else the embedded index in SWITCHYARD_SEARCH_DIR.
func searchBackendFor(cfg config) (*searchBackend, error) {
	if cfg.ElasticsearchURL != "" {
		u, err := url.Parse(cfg.ElasticsearchURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("ELASTICSEARCH_URL=%q is not a URL like http://localhost:9200", redactURL(cfg.ElasticsearchURL))
		}
		if openElasticIndex == nil {
			return nil, errors.New("ELASTICSEARCH_URL is set, but this build has no Elasticsearch backend; unset it to use the embedded index")
		}
		return &searchBackend{
			Describe: "elasticsearch at " + u.Host,
			Cursor:   "search:elastic:" + u.Host + u.Path,
			open:     func() (switchyard.SearchIndex, error) { return openElasticIndex(cfg.ElasticsearchURL) },
		}, nil
	}
	dir := cfg.SearchDir
	if dir == "" {
		dir = defaultSearchDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("SWITCHYARD_SEARCH_DIR: %w", err)
	}
	host, _ := os.Hostname()
	return &searchBackend{
		Describe: "embedded index in " + abs,
		Cursor:   "search:embedded:" + host + ":" + abs,
		open: func() (switchyard.SearchIndex, error) {
			idx, err := embedded.Open(abs)
			if err != nil {
				return nil, err
			}
			return idx, nil
		},
	}, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// searchService is search as serve runs it: the index (opened lazily, so the
// server starts even while the index cannot be opened) and its indexer.
type searchService struct {
	Index   *search.Lazy
	Indexer *search.Indexer
	Backend *searchBackend
}

func newSearchService(cfg config, db *postgres.DB, log *slog.Logger) (*searchService, error) {
	b, err := searchBackendFor(cfg)
	if err != nil {
		return nil, err
	}
	idx := search.NewLazy(b.open, 5*time.Second)
	indexer := search.NewIndexer(idx, postgres.NewEventLog(db), postgres.NewSearchSource(db), postgres.NewConsumerCursors(db),
		search.IndexerOptions{Cursor: b.Cursor, AutoRebuild: true, Logger: log.With("component", "search")})
	return &searchService{Index: idx, Indexer: indexer, Backend: b}, nil
}

// Ping is the readiness check: the backend answers. The indexer's own state
// (rebuilding, retrying) is logged; a backend that answers is ready.
func (s *searchService) Ping(ctx context.Context) error {
	if err := s.Index.Ping(ctx); err != nil {
		return err
	}
	if st := s.Indexer.Status(); st.Err != nil && time.Since(st.Since) > 30*time.Second {
		return fmt.Errorf("the indexer has been failing for %s: %w", time.Since(st.Since).Round(time.Second), st.Err)
	}
	return nil
}
