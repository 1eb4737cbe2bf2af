package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// insertEvent writes e to the event log inside tx, the transaction that makes
// the change it describes, so an event exists exactly when its change does.
// data is the subject's new state; it is marshalled here once.
func insertEvent(ctx context.Context, tx pgx.Tx, e switchyard.Event, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.Type, err)
	}
	userIDs := e.UserIDs
	if userIDs == nil {
		userIDs = []string{}
	}
	_, err = tx.Exec(ctx, `INSERT INTO events (type, subject_type, subject_id, project_id, user_ids, actor_id, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.Type, e.SubjectType, e.SubjectID, e.ProjectID, userIDs, e.ActorID, raw)
	return err
}

// actorID is the caller's user id for the event log, nil for the system.
func actorID(c *switchyard.Caller) *string {
	if c == nil || c.UserID == "" {
		return nil
	}
	return &c.UserID
}
