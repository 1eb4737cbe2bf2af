package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// relayAll sequences and publishes every committed event with a relay that
// runs until they are out, and returns what was published.
func relayAll(t testing.TB, db *DB) []published {
	t.Helper()
	var want int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	log := newPublishLog()
	r := startRelay(t, db, newRecBroker("a", log), WithEventRetention(0))
	entries := log.waitSeq(t, 10*time.Second, want)
	eventually(t, 5*time.Second, "published_seq", func() bool { return readRelayState(t, db).Published == want })
	r.stop(t)
	return entries
}

func seqsOf(events []*switchyard.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func TestEventLogReadEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t) // its users, projects and members are events
	ctx := context.Background()
	published := relayAll(t, w.DB)
	n := int64(len(published))
	log := NewEventLog(w.DB)
	if latest, err := log.LatestSeq(ctx); err != nil || latest != n {
		t.Fatalf("LatestSeq = %d, %v; want %d", latest, err, n)
	}
	// Unsequenced events are not served: nothing is readable before the
	// relay has given it its place.
	insertTestEvent(t, w.DB.Pool(), "unsequenced")

	all := func(from int64) []int64 {
		var out []int64
		for s := from + 1; s <= n; s++ {
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		name  string
		after int64
		limit int
		want  []int64
	}{
		{"from the start", 0, 1000, all(0)},
		{"limited", 0, 3, []int64{1, 2, 3}},
		{"after a cursor", 3, 2, []int64{4, 5}},
		{"to the end", n - 2, 100, []int64{n - 1, n}},
		{"at the end", n, 100, nil},
		{"ahead of the log", n + 10, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := log.ReadEvents(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(seqsOf(got), tt.want) {
				t.Fatalf("seqs %v, want %v", seqsOf(got), tt.want)
			}
		})
	}

	got, err := log.ReadEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Each event is what the relay published under its seq, fully read.
	for i, e := range got {
		if p := published[i]; e.Seq != p.Seq || e.ID != p.ID || e.Type != p.Type {
			t.Fatalf("event %d = seq %d id %d %s, published as %+v", i, e.Seq, e.ID, e.Type, p)
		}
		if e.SubjectID == "" || e.OccurredAt.IsZero() || !json.Valid(e.Data) || e.UserIDs == nil {
			t.Fatalf("event %d incompletely read: %+v", i, e)
		}
	}
	added := got[slices.IndexFunc(got, func(e *switchyard.Event) bool { return e.Type == switchyard.EventProjectMemberAdded })]
	if added.SubjectType != "project" || added.ProjectID == nil || *added.ProjectID != w.Project.ID ||
		!slices.Equal(added.UserIDs, []string{w.Member.ID}) || added.ActorID == nil || *added.ActorID != systemAdminID {
		t.Fatalf("member_added event %+v", added)
	}

	bad := []struct {
		name  string
		after int64
		limit int
		field string
	}{
		{"negative cursor", -1, 10, "after"},
		{"zero limit", 0, 0, "limit"},
		{"huge limit", 0, maxReadEvents + 1, "limit"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := log.ReadEvents(ctx, tt.after, tt.limit)
			wantError(t, err, switchyard.EINVALID, tt.field)
		})
	}
}

// TestEventLogPrunedCursor: a cursor older than the log keeps is refused with
// a message that says so; the first cursor still served is pruned_through.
func TestEventLogPrunedCursor(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `INSERT INTO events (type, subject_type, subject_id, occurred_at)
		SELECT 'aged', 'order', gen_random_uuid(), now() - (11 - g) * interval '1 day' FROM generate_series(1, 10) g`); err != nil {
		t.Fatal(err)
	}
	relayAll(t, db)
	// Events 1-3 are 10, 9 and 8 days old.
	if n, err := PruneEvents(ctx, db, 7*24*time.Hour+time.Hour); err != nil || n != 3 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	log := NewEventLog(db)
	for _, after := range []int64{0, 1, 2} {
		_, err := log.ReadEvents(ctx, after, 10)
		wantError(t, err, switchyard.EINVALID, "after")
		if msg := switchyard.ErrorMessage(err); !strings.Contains(msg, "older than the event log keeps") {
			t.Errorf("after %d: message %q does not say the cursor is too old", after, msg)
		}
	}
	got, err := log.ReadEvents(ctx, 3, 100)
	if err != nil || !slices.Equal(seqsOf(got), []int64{4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("after the prune mark: %v, %v", seqsOf(got), err)
	}
	if latest, err := log.LatestSeq(ctx); err != nil || latest != 10 {
		t.Fatalf("LatestSeq = %d, %v; want 10", latest, err)
	}
}
