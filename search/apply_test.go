package search

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

func ev(seq int64, typ, subjectType, subjectID string, userIDs ...string) *switchyard.Event {
	return &switchyard.Event{Seq: seq, Type: typ, SubjectType: subjectType, SubjectID: subjectID, UserIDs: userIDs}
}

// TestAffectedBy pins which documents each event reaches.
func TestAffectedBy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		event              *switchyard.Event
		ids                map[switchyard.SearchType][]string
		renamed, customers []string
	}{
		{ev(1, switchyard.EventUserCreated, "user", "u1", "u1"), map[switchyard.SearchType][]string{"USER": {"u1"}}, nil, nil},
		{ev(1, switchyard.EventUserUpdated, "user", "u1", "u1"), map[switchyard.SearchType][]string{"USER": {"u1"}}, nil, []string{"u1"}},
		{ev(1, switchyard.EventUserDeleted, "user", "u1", "u1"), map[switchyard.SearchType][]string{"USER": {"u1"}}, nil, nil},
		{ev(1, switchyard.EventProjectCreated, "project", "p1", "owner"), map[switchyard.SearchType][]string{"PROJECT": {"p1"}, "USER": {"owner"}}, nil, nil},
		{ev(1, switchyard.EventProjectUpdated, "project", "p1", "owner"), map[switchyard.SearchType][]string{"PROJECT": {"p1"}}, []string{"p1"}, nil},
		{ev(1, switchyard.EventProjectMemberAdded, "project", "p1", "m"), map[switchyard.SearchType][]string{"PROJECT": {"p1"}, "USER": {"m"}}, nil, nil},
		{ev(1, switchyard.EventProjectMemberRemoved, "project", "p1", "m"), map[switchyard.SearchType][]string{"PROJECT": {"p1"}, "USER": {"m"}}, nil, nil},
		{ev(1, switchyard.EventOrderCreated, "order", "o1", "c"), map[switchyard.SearchType][]string{"ORDER": {"o1"}, "USER": {"c"}}, nil, nil},
		{ev(1, switchyard.EventOrderStatusChanged, "order", "o1", "c"), map[switchyard.SearchType][]string{"ORDER": {"o1"}}, nil, nil},
		{ev(1, switchyard.EventOrderShipmentSet, "order", "o1", "c"), map[switchyard.SearchType][]string{"ORDER": {"o1"}}, nil, nil},
		{ev(1, switchyard.EventIntegrationDeleted, "integration", "i1"), map[switchyard.SearchType][]string{"INTEGRATION": {"i1"}}, nil, nil},
		{ev(1, switchyard.EventNotificationCreated, "notification", "n1", "u1"), map[switchyard.SearchType][]string{}, nil, nil},
	}
	for _, c := range cases {
		a := affectedBy([]*switchyard.Event{c.event})
		got := map[switchyard.SearchType][]string{}
		for typ, ids := range a.ids {
			got[typ] = slices.Sorted(maps.Keys(ids))
		}
		if !maps.EqualFunc(got, c.ids, slices.Equal) ||
			!slices.Equal(slices.Sorted(maps.Keys(a.renamed)), c.renamed) || !slices.Equal(slices.Sorted(maps.Keys(a.customers)), c.customers) {
			t.Errorf("%s: %v renamed %v customers %v", c.event.Type, got, a.renamed, a.customers)
		}
	}
}

// fakeSource serves fixed documents; scans return the orders of a project.
type fakeSource struct {
	docs  map[string]switchyard.SearchDocument // by key
	scans []switchyard.SearchScan
}

func (f *fakeSource) SearchDocuments(_ context.Context, t switchyard.SearchType, ids []string, version int64) ([]switchyard.SearchDocument, error) {
	var out []switchyard.SearchDocument
	for _, id := range ids {
		if d, ok := f.docs[switchyard.SearchKey(t, id)]; ok {
			d.Version = version
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeSource) ScanSearchDocuments(_ context.Context, s switchyard.SearchScan, version int64) ([]switchyard.SearchDocument, error) {
	f.scans = append(f.scans, s)
	var out []switchyard.SearchDocument
	for _, k := range slices.Sorted(maps.Keys(f.docs)) {
		d := f.docs[k]
		if d.Type == s.Type && d.ID > s.After && (s.ProjectID == "" || d.ProjectID == s.ProjectID) {
			d.Version = version
			out = append(out, d)
		}
	}
	return out[:min(len(out), s.Limit)], nil
}

func (f *fakeSource) CountSearchDocuments(context.Context, switchyard.SearchType) (int, error) {
	return 0, nil
}

type recorder struct {
	indexed map[string]int64
	deleted map[string]int64
	fail    error
}

func (r *recorder) Index(_ context.Context, docs []switchyard.SearchDocument) error {
	if r.fail != nil {
		return r.fail
	}
	for _, d := range docs {
		r.indexed[d.Key()] = d.Version
	}
	return nil
}

func (r *recorder) Delete(_ context.Context, t switchyard.SearchType, id string, v int64) error {
	if r.fail != nil {
		return r.fail
	}
	r.deleted[switchyard.SearchKey(t, id)] = v
	return nil
}

// TestApply: documents are written with the version of the batch's last
// event (Seq+1), missing ones deleted, and a project's orders re-indexed
// only when its name changed since it was last indexed — and again after a
// failed attempt.
func TestApply(t *testing.T) {
	t.Parallel()
	src := &fakeSource{docs: map[string]switchyard.SearchDocument{
		"PROJECT/p1": {Type: "PROJECT", ID: "p1", Name: "Apollo", ProjectID: "p1", CreatedAt: time.Now()},
		"ORDER/o1":   {Type: "ORDER", ID: "o1", ProjectID: "p1", CreatedAt: time.Now()},
		"ORDER/o2":   {Type: "ORDER", ID: "o2", ProjectID: "p1", CreatedAt: time.Now()},
	}}
	ap := newApplier(src, true)
	w := &recorder{indexed: map[string]int64{}, deleted: map[string]int64{}}
	ctx := context.Background()
	err := ap.apply(ctx, w, []*switchyard.Event{
		ev(7, switchyard.EventProjectUpdated, "project", "p1"),
		ev(9, switchyard.EventUserDeleted, "user", "gone"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.indexed["PROJECT/p1"] != 10 || w.indexed["ORDER/o1"] != 10 || w.indexed["ORDER/o2"] != 10 || w.deleted["USER/gone"] != 10 {
		t.Fatalf("indexed %v deleted %v", w.indexed, w.deleted)
	}

	// Same name: the orders are left alone.
	src.scans = nil
	if err := ap.apply(ctx, w, []*switchyard.Event{ev(11, switchyard.EventProjectUpdated, "project", "p1")}); err != nil {
		t.Fatal(err)
	}
	if len(src.scans) != 0 || w.indexed["ORDER/o1"] != 10 || w.indexed["PROJECT/p1"] != 12 {
		t.Fatalf("an unchanged name re-indexed orders: %v %v", src.scans, w.indexed)
	}

	// Renamed, but the write fails: the retry must still re-index the
	// orders.
	d := src.docs["PROJECT/p1"]
	d.Name = "Zephyr"
	src.docs["PROJECT/p1"] = d
	w.fail = errors.New("down")
	if err := ap.apply(ctx, w, []*switchyard.Event{ev(12, switchyard.EventProjectUpdated, "project", "p1")}); err == nil {
		t.Fatal("no error")
	}
	w.fail = nil
	if err := ap.apply(ctx, w, []*switchyard.Event{ev(12, switchyard.EventProjectUpdated, "project", "p1")}); err != nil {
		t.Fatal(err)
	}
	if w.indexed["ORDER/o1"] != 13 {
		t.Fatalf("a renamed project's orders were not re-indexed after a failure: %v", w.indexed)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	t.Parallel()
	cp := newCheckpoint(42, rebuildOrder)
	cp.After[switchyard.SearchOrder] = "o-9"
	cp.Count[switchyard.SearchOrder] = 9
	cp.Done[switchyard.SearchUser] = true
	got, ok := parseCheckpoint(cp.String())
	if !ok || got.Start != 42 || got.Replayed != 42 || got.After["ORDER"] != "o-9" || !got.Done["USER"] || got.documents() != 9 {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{"", "{", `{"v":2}`, `{"v":1,"start":1}`} {
		if _, ok := parseCheckpoint(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := rebuildTypes([]switchyard.SearchType{"ORDER", "NOPE"}); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Errorf("unknown type: %v", err)
	}
	if got, _ := rebuildTypes([]switchyard.SearchType{"ORDER", "PROJECT"}); !slices.Equal(got, []switchyard.SearchType{"PROJECT", "ORDER"}) {
		t.Errorf("order: %v", got)
	}
}

// TestLazy: an index that cannot be opened answers SEARCH_UNAVAILABLE, is
// retried at most every retry interval, and is used once it opens; a slow
// open makes callers wait only up to a bound.
func TestLazy(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	opens := 0
	var fail error = errors.New("the directory is locked")
	l := NewLazy(func() (switchyard.SearchIndex, error) {
		mu.Lock()
		defer mu.Unlock()
		opens++
		if fail != nil {
			return nil, fail
		}
		return nopIndex{}, nil
	}, time.Hour)
	ctx := context.Background()
	for range 3 {
		if err := l.Ping(ctx); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
			t.Fatalf("ping: %v", err)
		}
	}
	mu.Lock()
	if opens != 1 {
		t.Fatalf("opened %d times within the retry interval", opens)
	}
	fail = nil
	mu.Unlock()
	l.mu.Lock()
	l.retry = 0
	l.mu.Unlock()
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(ctx); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
		t.Fatalf("after close: %v", err)
	}

	release := make(chan struct{})
	slow := NewLazy(func() (switchyard.SearchIndex, error) { <-release; return nopIndex{}, nil }, time.Hour)
	slow.wait = 50 * time.Millisecond
	began := time.Now()
	if err := slow.Ping(ctx); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE || time.Since(began) > 10*time.Second {
		t.Fatalf("a slow open: %v after %v", err, time.Since(began))
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for slow.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the slow open never completed")
		}
		time.Sleep(time.Millisecond) // polling the open, with a deadline
	}
	_ = slow.Close()
}

type nopIndex struct{ switchyard.SearchIndex }

func (nopIndex) Ping(context.Context) error { return nil }
func (nopIndex) Close() error               { return nil }
