package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// ConsumerCursors implements switchyard.ConsumerCursors over the
// consumer_cursors table (migration 0007).
type ConsumerCursors struct {
	db *DB
}

var _ switchyard.ConsumerCursors = (*ConsumerCursors)(nil)

// NewConsumerCursors returns the cursor store over db.
func NewConsumerCursors(db *DB) *ConsumerCursors { return &ConsumerCursors{db: db} }

const consumerCursorColumns = `name, seq, epoch, state, updated_at`

func scanConsumerCursor(row pgx.Row, extra ...any) (*switchyard.ConsumerCursor, error) {
	var c switchyard.ConsumerCursor
	dest := append([]any{&c.Name, &c.Seq, &c.Epoch, &c.State, &c.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &c, nil
}

// ClaimConsumerCursor creates the cursor if needed and takes the lease when
// it is free, expired or owner's, in one statement, so two instances claiming
// at once never both lead.
func (s *ConsumerCursors) ClaimConsumerCursor(ctx context.Context, name, owner string, ttl time.Duration) (*switchyard.ConsumerCursor, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return nil, switchyard.InvalidField("name", "a consumer cursor needs a name, an owner and a lease time")
	}
	var leader bool
	c, err := scanConsumerCursor(s.db.pool.QueryRow(ctx, `
		INSERT INTO consumer_cursors AS c (name, leased_by, lease_until)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (name) DO UPDATE SET
			leased_by = CASE WHEN c.leased_by IS NULL OR c.leased_by = $2 OR c.lease_until < now() THEN $2 ELSE c.leased_by END,
			lease_until = CASE WHEN c.leased_by IS NULL OR c.leased_by = $2 OR c.lease_until < now()
				THEN now() + make_interval(secs => $3) ELSE c.lease_until END
		RETURNING `+consumerCursorColumns+`, c.leased_by = $2`, name, owner, ttl.Seconds()), &leader)
	if err != nil {
		return nil, translate(err)
	}
	c.Leader = leader
	return c, nil
}

// AdvanceConsumerCursor is a compare-and-set on the epoch and the lease. A
// cursor already at seq counts as moved, so a repeated advance is harmless.
func (s *ConsumerCursors) AdvanceConsumerCursor(ctx context.Context, name, owner string, epoch, seq int64) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `UPDATE consumer_cursors SET seq = $4, updated_at = now()
		WHERE name = $1 AND leased_by = $2 AND epoch = $3 AND seq <= $4`, name, owner, epoch, seq)
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 1, nil
}

// ResetConsumerCursor moves the cursor anywhere and starts a new epoch, so
// every consumer holding the old one notices at its next advance.
func (s *ConsumerCursors) ResetConsumerCursor(ctx context.Context, name string, seq int64) (*switchyard.ConsumerCursor, error) {
	if seq < 0 {
		return nil, switchyard.InvalidField("seq", "a consumer cursor cannot be negative")
	}
	c, err := scanConsumerCursor(s.db.pool.QueryRow(ctx, `
		INSERT INTO consumer_cursors AS c (name, seq, epoch) VALUES ($1, $2, 1)
		ON CONFLICT (name) DO UPDATE SET seq = $2, epoch = c.epoch + 1, updated_at = now()
		RETURNING `+consumerCursorColumns, name, seq))
	return c, translate(err)
}

// ReadConsumerCursor returns nil, nil for a cursor that does not exist.
func (s *ConsumerCursors) ReadConsumerCursor(ctx context.Context, name string) (*switchyard.ConsumerCursor, error) {
	c, err := scanConsumerCursor(s.db.pool.QueryRow(ctx, `SELECT `+consumerCursorColumns+` FROM consumer_cursors WHERE name = $1`, name))
	if isNoRows(err) {
		return nil, nil
	}
	return c, translate(err)
}

// SaveConsumerState stores state beside the cursor without moving it.
func (s *ConsumerCursors) SaveConsumerState(ctx context.Context, name, state string) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO consumer_cursors AS c (name, state) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET state = $2, updated_at = now()`, name, state)
	return translate(err)
}
