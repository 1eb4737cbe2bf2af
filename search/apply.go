// Package search keeps the search index current: the Indexer follows the
// event log into the live index, and Rebuild fills a new index from the
// system of record and swaps it in. The backends are in search/embedded and
// search/elastic; this package only talks to the root package's ports.
package search

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/switchyard/switchyard"
)

// writer is what events are applied to: the live index, or a rebuild.
type writer interface {
	Index(ctx context.Context, docs []switchyard.SearchDocument) error
	Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error
}

// scanBatch is how many documents one statement reads and one Index call
// writes.
const scanBatch = 1000

// versionAt is the document version of a change at log position seq. It is
// seq + 1 rather than seq so that a rebuild over a log with no events yet
// (seq 0, right after seeding) still writes a valid version, 1, that every
// later event's version beats.
func versionAt(seq int64) int64 { return seq + 1 }

// applier turns a batch of events into index writes. Every document a batch
// touches is reloaded from the source after the batch was read, and written
// with the version of the batch's highest Seq: the row was read after every
// event of the batch was committed, so it holds all of their changes (and
// maybe later ones, whose events come later with higher Seqs). A version
// therefore never runs ahead of the data it carries, which is what lets
// replays, concurrent indexers and rebuilds overwrite each other safely.
type applier struct {
	source switchyard.SearchSource

	// projectNames remembers the name each project was last indexed with,
	// so project.updated re-indexes the project's orders and integrations
	// (which carry its name) only when the name changed. Unknown projects
	// are re-indexed, so an empty cache only costs work, never correctness.
	mu           sync.Mutex
	projectNames map[string]string
}

func newApplier(source switchyard.SearchSource, cacheNames bool) *applier {
	a := &applier{source: source}
	if cacheNames {
		a.projectNames = map[string]string{}
	}
	return a
}

// forget drops the name cache: after a rebuild swapped in an index that the
// cache does not describe.
func (a *applier) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.projectNames != nil {
		clear(a.projectNames)
	}
}

// affected is what a batch of events changed.
type affected struct {
	ids map[switchyard.SearchType]map[string]bool
	// renamed are projects whose orders and integrations may carry an old
	// project name; customers are users whose orders may carry an old name
	// or email.
	renamed   map[string]bool
	customers map[string]bool
}

// affectedBy maps events to documents:
//   - user.*: the user; an update also the orders naming them as customer.
//     A deleted user no longer loads and is deleted from the index.
//   - project.created: the project and its owner (whose access fields now
//     include it).
//   - project.updated: the project, and its orders and integrations, which
//     carry its name.
//   - project.member_added/removed: the member, whose access fields list the
//     project. Nothing else: an order's access fields are its project and
//     its customer, whoever the members are, and the project's own document
//     names only itself; who may read them is the viewer's side, loaded per
//     query.
//   - order.*: the order; a new one also its customer, who may now have
//     ordered in one more project.
//   - integration.*: the integration (deleted ones no longer load).
//
// Notifications and unknown events change no document.
func affectedBy(events []*switchyard.Event) *affected {
	a := &affected{
		ids:       map[switchyard.SearchType]map[string]bool{},
		renamed:   map[string]bool{},
		customers: map[string]bool{},
	}
	add := func(t switchyard.SearchType, ids ...string) {
		for _, id := range ids {
			if id == "" {
				continue
			}
			if a.ids[t] == nil {
				a.ids[t] = map[string]bool{}
			}
			a.ids[t][id] = true
		}
	}
	for _, e := range events {
		switch e.SubjectType {
		case "user":
			add(switchyard.SearchUser, e.SubjectID)
			if e.Type == switchyard.EventUserUpdated {
				a.customers[e.SubjectID] = true
			}
		case "project":
			add(switchyard.SearchProject, e.SubjectID)
			switch e.Type {
			case switchyard.EventProjectCreated, switchyard.EventProjectMemberAdded, switchyard.EventProjectMemberRemoved:
				add(switchyard.SearchUser, e.UserIDs...)
			case switchyard.EventProjectUpdated:
				a.renamed[e.SubjectID] = true
			}
		case "order":
			add(switchyard.SearchOrder, e.SubjectID)
			if e.Type == switchyard.EventOrderCreated {
				add(switchyard.SearchUser, e.UserIDs...)
			}
		case "integration":
			add(switchyard.SearchIntegration, e.SubjectID)
		}
	}
	return a
}

// apply writes what events changed to w. It is idempotent: applying the
// same events again writes the same versions, which the index skips.
func (ap *applier) apply(ctx context.Context, w writer, events []*switchyard.Event) error {
	if len(events) == 0 {
		return nil
	}
	var seq int64
	for _, e := range events {
		seq = max(seq, e.Seq)
	}
	if seq < 1 {
		return fmt.Errorf("search: events without a sequence")
	}
	version := versionAt(seq)
	a := affectedBy(events)
	var names map[string]string
	// Projects first: their names decide which scans are needed.
	for _, t := range []switchyard.SearchType{switchyard.SearchProject, switchyard.SearchUser, switchyard.SearchOrder, switchyard.SearchIntegration} {
		ids := slices.Sorted(maps.Keys(a.ids[t]))
		if len(ids) == 0 {
			continue
		}
		docs, err := ap.source.SearchDocuments(ctx, t, ids, version)
		if err != nil {
			return err
		}
		if t == switchyard.SearchProject {
			names = ap.skipUnrenamed(a.renamed, docs)
		}
		if len(docs) > 0 {
			if err := w.Index(ctx, docs); err != nil {
				return err
			}
		}
		found := make(map[string]bool, len(docs))
		for _, d := range docs {
			found[d.ID] = true
		}
		for _, id := range ids {
			if !found[id] {
				if err := w.Delete(ctx, t, id, version); err != nil {
					return err
				}
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(a.renamed)) {
		for _, t := range []switchyard.SearchType{switchyard.SearchOrder, switchyard.SearchIntegration} {
			if err := ap.scan(ctx, w, switchyard.SearchScan{Type: t, ProjectID: p}, version); err != nil {
				return err
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(a.customers)) {
		if err := ap.scan(ctx, w, switchyard.SearchScan{Type: switchyard.SearchOrder, CustomerID: c}, version); err != nil {
			return err
		}
	}
	ap.remember(names)
	return nil
}

// skipUnrenamed drops from renamed the projects whose name is the one they
// were last indexed with, and returns the names of docs, to remember once
// everything they imply was written (a failed batch is retried with its
// scans).
func (ap *applier) skipUnrenamed(renamed map[string]bool, docs []switchyard.SearchDocument) map[string]string {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.projectNames == nil {
		return nil
	}
	names := make(map[string]string, len(docs))
	for _, d := range docs {
		if old, ok := ap.projectNames[d.ID]; ok && old == d.Name {
			delete(renamed, d.ID)
		}
		names[d.ID] = d.Name
	}
	return names
}

func (ap *applier) remember(names map[string]string) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.projectNames == nil {
		return
	}
	if len(ap.projectNames)+len(names) > 100_000 {
		clear(ap.projectNames)
	}
	maps.Copy(ap.projectNames, names)
}

// scan re-indexes every document scan selects, batch by batch.
func (ap *applier) scan(ctx context.Context, w writer, scan switchyard.SearchScan, version int64) error {
	scan.Limit = scanBatch
	for {
		docs, err := ap.source.ScanSearchDocuments(ctx, scan, version)
		if err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		if err := w.Index(ctx, docs); err != nil {
			return err
		}
		scan.After = docs[len(docs)-1].ID
	}
}
