package main

import (
	"context"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/elastic"
)

// The Elasticsearch backend: opening it installs the index template and, on a
// fresh cluster, the first index with its aliases.
func init() {
	openElasticIndex = func(rawURL string) (switchyard.SearchIndex, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		idx, err := elastic.Open(ctx, rawURL)
		if err != nil {
			return nil, err // not a nil *elastic.Index inside the interface
		}
		return idx, nil
	}
}
