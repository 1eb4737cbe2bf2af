package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// EventLog implements switchyard.EventLog over the events table.
//
// It serves every sequenced event, not only those the relay has recorded as
// published: sequenced events are committed and their seqs final (1..last_seq
// without a gap), while published_seq is recorded after the broker took them
// and may lag behind. A subscriber that saw an event live may resume after it
// at once, and one catching up after a broker outage must find every event
// the relay may already have published; getting one early from the log and
// again live is harmless, since subscribers drop duplicates by seq.
type EventLog struct {
	db *DB
}

var _ switchyard.EventLog = (*EventLog)(nil)

// NewEventLog returns the event log over db.
func NewEventLog(db *DB) *EventLog { return &EventLog{db: db} }

// maxReadEvents bounds one ReadEvents call.
const maxReadEvents = 10_000

// eventColumns are the columns scanEvent reads, over the alias e.
const eventColumns = `e.id, coalesce(e.seq, 0), e.type, e.subject_type, e.subject_id::text, e.project_id::text,
	e.user_ids::text[], e.actor_id::text, e.data, e.occurred_at`

func scanEvent(row pgx.Row, extra ...any) (*switchyard.Event, error) {
	var e switchyard.Event
	var data []byte
	dest := append([]any{&e.ID, &e.Seq, &e.Type, &e.SubjectType, &e.SubjectID, &e.ProjectID, &e.UserIDs, &e.ActorID, &data, &e.OccurredAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e.Data = data
	return &e, nil
}

func collectEvents(rows pgx.Rows) ([]*switchyard.Event, error) {
	return pgx.CollectRows(rows, rowOf(scanEvent))
}

// ReadEvents returns up to limit sequenced events with Seq > after, in Seq
// order. The prune mark and the events are read in one statement, so one
// snapshot: a prune committing meanwhile cannot slip a gap between them.
func (l *EventLog) ReadEvents(ctx context.Context, after int64, limit int) ([]*switchyard.Event, error) {
	if after < 0 {
		return nil, switchyard.InvalidField("after", "an event cursor cannot be negative")
	}
	if limit <= 0 || limit > maxReadEvents {
		return nil, switchyard.InvalidField("limit", "limit must be between 1 and %d", maxReadEvents)
	}
	rows, err := l.db.pool.Query(ctx, `SELECT s.pruned_through, `+eventColumns+`
		FROM relay_state s
		LEFT JOIN LATERAL (SELECT * FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2) e ON TRUE`, after, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*switchyard.Event{}
	var pruned int64
	for rows.Next() {
		// The LEFT JOIN yields one all-NULL event row when there is none.
		var (
			id                          *int64
			seq                         int64
			typ, subjectType, subjectID *string
			projectID, actorID          *string
			userIDs                     []string
			data                        []byte
			occurred                    *time.Time
		)
		if err := rows.Scan(&pruned, &id, &seq, &typ, &subjectType, &subjectID, &projectID, &userIDs, &actorID, &data, &occurred); err != nil {
			return nil, translate(err)
		}
		if id == nil {
			continue
		}
		out = append(out, &switchyard.Event{
			ID: *id, Seq: seq, Type: *typ, SubjectType: *subjectType, SubjectID: *subjectID,
			ProjectID: projectID, UserIDs: userIDs, ActorID: actorID, Data: data, OccurredAt: *occurred,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	if after < pruned {
		return nil, switchyard.InvalidField("after",
			"the cursor is older than the event log keeps: events up to %d were pruned; subscribe again without a cursor and reload", pruned)
	}
	return out, nil
}

// LatestSeq returns the highest readable seq: every event the relay may have
// published is at or below it, so a cursor a subscriber received is never
// ahead of it.
func (l *EventLog) LatestSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := l.db.pool.QueryRow(ctx, `SELECT last_seq FROM relay_state WHERE id = 1`).Scan(&seq)
	return seq, translate(err)
}
