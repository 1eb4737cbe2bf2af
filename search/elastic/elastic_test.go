package elastic_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/elastic"
	"github.com/switchyard/switchyard/search/searchtest"
)

// TestConformance runs the suite against the cluster at ELASTICSEARCH_URL.
// Each run uses its own name prefix and deletes what it created.
func TestConformance(t *testing.T) {
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL is not set: the Elasticsearch run of the search conformance suite needs a cluster (e.g. ELASTICSEARCH_URL=http://localhost:9200)")
	}
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	prefix := "sytest-" + hex.EncodeToString(run)
	var names []string
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range names {
			if err := elastic.Drop(ctx, url, elastic.WithName(n)); err != nil {
				t.Logf("cleanup %s: %v", n, err)
			}
		}
	})
	searchtest.Run(t, func(t *testing.T, name string) switchyard.SearchIndex {
		n := prefix + "-" + name
		names = append(names, n)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		idx, err := elastic.Open(ctx, url, elastic.WithName(n))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return idx
	})
}

// TestUnreachable needs no cluster: a refused connection is
// SEARCH_UNAVAILABLE, never an internal error.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = elastic.Open(ctx, "http://"+addr)
	if switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
		t.Fatalf("Open(unreachable) = %v, want %s", err, switchyard.ESEARCHUNAVAILABLE)
	}
	for _, bad := range []string{"", "localhost:9200", "ftp://x", "http://"} {
		if _, err := elastic.Open(ctx, bad); err == nil || switchyard.ErrorCode(err) == switchyard.ESEARCHUNAVAILABLE {
			t.Errorf("Open(%q) = %v, want a configuration error", bad, err)
		}
	}
	if _, err := elastic.Open(ctx, "http://localhost:9200", elastic.WithName("Has Spaces")); err == nil {
		t.Error("a bad name prefix was accepted")
	}
}
