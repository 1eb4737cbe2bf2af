package embedded_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/embedded"
	"github.com/switchyard/switchyard/search/searchtest"
)

func TestConformance(t *testing.T) {
	base := t.TempDir()
	searchtest.Run(t, func(t *testing.T, name string) switchyard.SearchIndex {
		idx, err := embedded.Open(filepath.Join(base, name))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return idx
	})
}

func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	idx, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	// The same process or another: the directory is taken, and the answer
	// comes quickly rather than never.
	start := time.Now()
	_, err = embedded.Open(dir)
	if switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE || time.Since(start) > 10*time.Second {
		t.Fatalf("second Open = %v after %v, want SEARCH_UNAVAILABLE", err, time.Since(start))
	}
}

// TestCrashLeftovers opens directories as a crash at each step of Commit or
// Abort would leave them.
func TestCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	doc := func(name string, v int64) []switchyard.SearchDocument {
		return []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u", Version: v, Name: name}}
	}
	admin := &switchyard.Viewer{UserID: "a", Admin: true}
	names := func(idx *embedded.Index, text string) int {
		res, err := idx.Search(ctx, switchyard.SearchQuery{Text: text, Viewer: admin})
		if err != nil {
			t.Fatal(err)
		}
		return res.TotalCount
	}
	dir := t.TempDir()
	idx, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Index(ctx, doc("Oldname", 1)); err != nil {
		t.Fatal(err)
	}
	r, err := idx.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Index(ctx, doc("Newname", 2)); err != nil {
		t.Fatal(err)
	}
	_ = idx.Close()

	// Crash after CURRENT was renamed but before REBUILD was removed.
	rebuildGen, _ := os.ReadFile(filepath.Join(dir, "REBUILD"))
	if err := os.WriteFile(filepath.Join(dir, "CURRENT"), rebuildGen, 0o600); err != nil {
		t.Fatal(err)
	}
	// And a generation nobody names, as an interrupted Abort leaves.
	if err := os.MkdirAll(filepath.Join(dir, "gen-00000099"), 0o700); err != nil {
		t.Fatal(err)
	}
	idx, err = embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if names(idx, "newname") != 1 || names(idx, "oldname") != 0 {
		t.Error("the renamed CURRENT is not the live index")
	}
	entries, _ := os.ReadDir(dir)
	var gens []string
	for _, e := range entries {
		gens = append(gens, e.Name())
	}
	if slices.Contains(gens, "REBUILD") || slices.Contains(gens, "gen-00000099") || len(gens) != 2 {
		t.Errorf("leftovers not cleaned: %v", gens)
	}
	r, err = idx.Rebuild(ctx)
	if err != nil || r.Checkpoint() != "" {
		t.Fatalf("rebuild after recovery: %v %q", err, r.Checkpoint())
	}
	_ = r.Abort(ctx)
}

// TestConcurrentUse searches, writes and swaps generations at once; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	idx, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	admin := &switchyard.Viewer{UserID: "a", Admin: true}
	doc := func(i int, v int64) switchyard.SearchDocument {
		return switchyard.SearchDocument{Type: switchyard.SearchOrder, ID: fmt.Sprintf("o%d", i), Version: v,
			Number: fmt.Sprintf("SO-%06d", i), Description: "widget", Status: "PAID", ProjectID: "p", ProjectIDs: []string{"p"}}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := idx.Search(ctx, switchyard.SearchQuery{Text: "widget", Facets: switchyard.SearchFacets, Viewer: admin})
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Facets) != 3 {
					t.Errorf("facets %+v", res.Facets)
					return
				}
			}
		}()
	}
	for round := range 3 {
		for i := 0; i < 20; i += 5 {
			batch := []switchyard.SearchDocument{}
			for j := i; j < i+5; j++ {
				batch = append(batch, doc(j, int64(10*round+1)))
			}
			if err := idx.Index(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		r, err := idx.Rebuild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		batch := make([]switchyard.SearchDocument, 20)
		for i := range batch {
			batch[i] = doc(i, int64(10*round+2))
		}
		if err := r.Index(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	res, err := idx.Search(ctx, switchyard.SearchQuery{Text: "widget", Facets: []string{"status"}, Viewer: admin})
	if err != nil || res.TotalCount != 20 || res.Facets[0].Buckets[0].Count != 20 {
		t.Fatalf("after the rounds: %+v %v", res, err)
	}
}

// TestColumnsFollowSegments checks totals, facets and range filters against
// the documents as last written, through many small batches (new segments
// and Bleve's merges of them), updates that move documents between buckets,
// deletions, a reopen and a rebuild.
func TestColumnsFollowSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idx.Close() }()
	admin := &switchyard.Viewer{UserID: "a", Admin: true}
	statuses := []string{"PAID", "SHIPPED", "CANCELLED"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	live := map[string]switchyard.SearchDocument{}
	doc := func(i int, v int64) switchyard.SearchDocument {
		p := fmt.Sprintf("p%d", i%4)
		return switchyard.SearchDocument{Type: switchyard.SearchOrder, ID: fmt.Sprintf("o%03d", i), Version: v,
			Number: fmt.Sprintf("SO-%06d", i), Description: "widget", Status: statuses[(i+int(v))%3], ProjectID: p,
			CreatedAt: base.AddDate(0, 0, i), Total: switchyard.Decimal(fmt.Sprintf("%d.50", i)), ProjectIDs: []string{p}}
	}
	write := func(docs ...switchyard.SearchDocument) {
		t.Helper()
		if err := idx.Index(ctx, docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			live[d.ID] = d
		}
	}
	check := func(when string) {
		t.Helper()
		low := switchyard.Decimal("100")
		for _, f := range []switchyard.SearchFilter{{}, {MinTotal: &low}} {
			res, err := idx.Search(ctx, switchyard.SearchQuery{Text: "widget", Filter: f, Facets: []string{"status", "project"}, Viewer: admin, First: ptr(100)})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			total := 0
			for _, d := range live {
				if f.MinTotal != nil && d.Total.Rat().Cmp(low.Rat()) < 0 {
					continue
				}
				total++
				want["status:"+d.Status]++
				want["project:"+d.ProjectID]++
			}
			got := map[string]int{}
			for _, fc := range res.Facets {
				for _, b := range fc.Buckets {
					got[fc.Field+":"+b.Value] = b.Count
				}
			}
			if res.TotalCount != total || fmt.Sprint(got) != fmt.Sprint(want) || len(res.Hits) != min(total, 100) {
				t.Fatalf("%s, filter %+v: total %d (%d hits) facets %v, want %d %v", when, f, res.TotalCount, len(res.Hits), got, total, want)
			}
		}
	}
	for i := range 150 {
		write(doc(i, 1)) // one segment each, for the merger to work on
	}
	check("after single writes")
	for i := 0; i < 150; i += 3 {
		write(doc(i, 2))
	}
	check("after updates")
	for i := 1; i < 150; i += 7 {
		if err := idx.Delete(ctx, switchyard.SearchOrder, fmt.Sprintf("o%03d", i), 5); err != nil {
			t.Fatal(err)
		}
		delete(live, fmt.Sprintf("o%03d", i))
	}
	check("after deletions")
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if idx, err = embedded.Open(dir); err != nil {
		t.Fatal(err)
	}
	check("after reopening")
	r, err := idx.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var docs []switchyard.SearchDocument
	for _, d := range live {
		d.Version = 10
		docs = append(docs, d)
	}
	if err := r.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a rebuild")
}

func ptr[T any](v T) *T { return &v }
