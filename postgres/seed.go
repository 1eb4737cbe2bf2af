package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchyard/switchyard"
)

// SeedOptions configures Seed.
type SeedOptions struct {
	// Scale multiplies the demo data: scale 1 is about 50 users and 2,000
	// orders in 3 projects; scale N has N times the users and orders and a
	// project more every 10. At least 1.
	Scale int
	// Now is the end of the twelve months the orders fall in; zero means the
	// current hour. It matters only on the first run: a top-up reuses the
	// first run's anchor so that the blocks it adds fit the ones already there.
	Now time.Time
	// Progress, when set, is called after each part of a long load (about a
	// tenth of it) and once at the end.
	Progress func(SeedProgress)
}

// SeedProgress reports how far a load has come.
type SeedProgress struct {
	Orders, TotalOrders int
	// Rows counts every row written so far, in all tables.
	Rows    int
	Elapsed time.Duration
}

// SeedCounts counts rows.
type SeedCounts struct {
	Users, Projects, Members, Orders, Items, StatusChanges int
}

// SeedLogin is a demo account worth signing in as.
type SeedLogin struct {
	Email, Name string
	Role        switchyard.Role
	// About says what the account sees, like "owner of Acme Hardware".
	About string
}

// SeedResult says what Seed did.
type SeedResult struct {
	// Scale is the scale asked for; PreviousScale what the database held
	// before, capped at Scale (0 for an unseeded database). They are equal
	// when nothing was written.
	Scale, PreviousScale int
	// Larger is set when the database already holds a larger seed than asked.
	Larger bool
	// Written counts the rows this run wrote; Total the rows now in the
	// tables, seeded or not.
	Written, Total SeedCounts
	// Anchor is the end of the orders' twelve months.
	Anchor  time.Time
	Elapsed time.Duration
	Logins  []SeedLogin
}

// Changed reports whether the run wrote anything.
func (r *SeedResult) Changed() bool { return r.Scale != r.PreviousScale }

// seedLockKey serializes seeders (two `make run`s at once) in the same way the
// migration runner's lock does; the value is arbitrary but fixed forever.
const seedLockKey = 7_320_114_004

// seedMaxOrderNumber is the largest number the orders table's default can
// produce without truncating: it pads to six digits with lpad, which cuts
// longer numbers, so later live orders would collide with seeded ones.
const seedMaxOrderNumber = 999_999

// Seed writes Switchyard's demo data. It is idempotent: rows are generated
// deterministically, in blocks of 2,000 orders, and every block's rows have
// ids derived from what they are, so a second run finds the blocks it would
// write and writes nothing. A larger scale after a smaller one tops up: it
// writes only the missing blocks, which are the same rows a fresh run at the
// larger scale writes (order numbers continue after whatever orders exist).
// Everything goes in one transaction: an interrupted run leaves nothing
// behind.
//
// Seed writes nothing to the event log. The events table is the outbox of
// live changes for subscribers, webhooks and the search indexer; a bulk load
// of history is not news to any of them, 200,000 events would flood the relay,
// and the search index rebuilds from the tables themselves.
func Seed(ctx context.Context, db *DB, opts SeedOptions) (*SeedResult, error) {
	if opts.Scale < 1 {
		return nil, fmt.Errorf("seed: scale must be at least 1, got %d", opts.Scale)
	}
	began := time.Now()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// A bulk load is recomputable; waiting for the WAL flush of its commit
	// buys nothing.
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", seedLockKey); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	have, larger, anchor, err := loadSeedState(ctx, tx, opts.Scale)
	if err != nil {
		return nil, err
	}
	if have == 0 {
		anchor = opts.Now
		if anchor.IsZero() {
			anchor = time.Now()
		}
		// On the hour: the anchor must survive the round trip through a
		// timestamptz exactly, and it reads well in the summary.
		anchor = anchor.UTC().Truncate(time.Hour)
	}
	res := &SeedResult{Scale: opts.Scale, PreviousScale: have, Larger: larger, Anchor: anchor}
	world := buildSeedWorld(anchor, opts.Scale)
	res.Logins = seedLogins(world)

	if have < opts.Scale {
		l := &seedLoader{tx: tx, world: world, began: began, progress: opts.Progress}
		if err := l.load(ctx, have, opts.Scale); err != nil {
			return nil, err
		}
		res.Written = l.written
	}
	if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users WHERE deleted_at IS NULL),
			(SELECT count(*) FROM projects),
			(SELECT count(*) FROM project_members),
			(SELECT count(*) FROM orders),
			(SELECT count(*) FROM order_items),
			(SELECT count(*) FROM order_status_changes)`).Scan(
		&res.Total.Users, &res.Total.Projects, &res.Total.Members,
		&res.Total.Orders, &res.Total.Items, &res.Total.StatusChanges); err != nil {
		return nil, fmt.Errorf("seed: count: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("seed: commit: %w", err)
	}
	if res.Changed() {
		// Fresh statistics, so the first queries and benchmarks after a load
		// are not planned for empty tables while autovacuum catches up. The
		// data is committed by now, so a failure here is no failure of the
		// seed: autovacuum analyzes the tables later anyway.
		_, _ = db.pool.Exec(ctx, "ANALYZE users, projects, project_members, orders, order_items, order_status_changes")
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// loadSeedState finds how many blocks the database holds (a prefix, since each
// run writes its blocks in one transaction), whether it holds more than want,
// and the anchor the first run used. The anchor is kept in the data itself:
// the admin account is created exactly seedAdminAge before it. That spares a
// bookkeeping table in the schema for the sake of demo data.
func loadSeedState(ctx context.Context, tx pgx.Tx, want int) (have int, larger bool, anchor time.Time, err error) {
	var adminCreated time.Time
	err = tx.QueryRow(ctx, "SELECT created_at FROM users WHERE id = $1", pgtype.UUID{Bytes: seedAdminID(), Valid: true}).Scan(&adminCreated)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, time.Time{}, nil
	}
	if err != nil {
		return 0, false, time.Time{}, fmt.Errorf("seed: %w", err)
	}
	markers := make([]pgtype.UUID, want+1)
	for b := range markers {
		markers[b] = pgtype.UUID{Bytes: seedOrderMarker(b), Valid: true}
	}
	rows, err := tx.Query(ctx, "SELECT id FROM orders WHERE id = ANY($1)", markers)
	if err != nil {
		return 0, false, time.Time{}, fmt.Errorf("seed: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.UUID])
	if err != nil {
		return 0, false, time.Time{}, fmt.Errorf("seed: %w", err)
	}
	present := make(map[[16]byte]bool, len(found))
	for _, id := range found {
		present[id.Bytes] = true
	}
	for have < len(markers) && present[markers[have].Bytes] {
		have++
	}
	if have < len(found) || have == 0 {
		return 0, false, time.Time{}, errors.New("seed: the demo data in this database is incomplete (rows were deleted by hand?); seed an empty database instead")
	}
	larger = have > want
	return min(have, want), larger, adminCreated.Add(seedAdminAge).UTC(), nil
}

// seedLogins lists the accounts worth signing in as.
func seedLogins(w *seedWorld) []SeedLogin {
	var logins []SeedLogin
	for _, u := range w.users[:seedUsersPerBlock] {
		if u.note != "" {
			logins = append(logins, SeedLogin{Email: u.email, Name: u.name, Role: u.role, About: u.note})
		}
	}
	return logins
}

type seedLoader struct {
	tx       pgx.Tx
	world    *seedWorld
	began    time.Time
	progress func(SeedProgress)
	written  SeedCounts
	rows     int
}

func (l *seedLoader) load(ctx context.Context, from, to int) error {
	w := l.world
	if err := l.checkEmails(ctx, from, to); err != nil {
		return err
	}
	base, err := l.orderNumberBase(ctx)
	if err != nil {
		return err
	}
	if last := base + int64(to-from)*seedOrdersPerBlock; last > seedMaxOrderNumber {
		return fmt.Errorf("seed: scale %d would number orders up to SO-%06d; order numbers have six digits, so at most %d orders fit", to, last, seedMaxOrderNumber)
	}

	ulo, _ := blockUsers(from)
	_, uhi := blockUsers(to - 1)
	users := w.users[ulo:uhi]
	n, err := l.tx.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "email", "name", "avatar_url", "role", "created_at", "updated_at"},
		pgx.CopyFromSlice(len(users), func(i int) ([]any, error) {
			u := &users[i]
			return []any{seedUUID(u.id), u.email, u.name, u.avatar, string(u.role), u.created, u.created}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: users: %w", err)
	}
	l.written.Users = int(n)

	var projects []int
	for p, b := range w.projectBlock {
		if b >= from && b < to {
			projects = append(projects, p)
		}
	}
	n, err = l.tx.CopyFrom(ctx, pgx.Identifier{"projects"},
		[]string{"id", "name", "description", "status", "owner_id", "created_at", "updated_at"},
		pgx.CopyFromSlice(len(projects), func(i int) ([]any, error) {
			p := &w.projects[projects[i]]
			return []any{seedUUID(p.id), p.name, p.description, string(switchyard.ProjectActive), seedUUID(w.users[p.owner].id), p.created, p.created}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: projects: %w", err)
	}
	l.written.Projects = int(n)

	var members []seedMember
	for _, m := range w.members {
		if m.block >= from && m.block < to {
			members = append(members, m)
		}
	}
	n, err = l.tx.CopyFrom(ctx, pgx.Identifier{"project_members"},
		[]string{"project_id", "user_id", "added_at"},
		pgx.CopyFromSlice(len(members), func(i int) ([]any, error) {
			m := &members[i]
			return []any{seedUUID(w.projects[m.project].id), seedUUID(w.users[m.user].id), m.added}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: project members: %w", err)
	}
	l.written.Members = int(n)
	l.rows = l.written.Users + l.written.Projects + l.written.Members

	// Orders go in about ten parts so a long load can report progress; each
	// part is generated while the previous one is copied, the two cores
	// sharing the work between Go and PostgreSQL.
	blocks := to - from
	per := max(1, (blocks+9)/10)
	type part struct {
		orders []seedOrder
	}
	parts := make(chan part, 1)
	genCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(parts)
		number := base
		for b := from; b < to; b += per {
			var p part
			for k := b; k < min(b+per, to); k++ {
				batch := w.buildOrders(k)
				for i := range batch {
					number++
					batch[i].number = number
				}
				p.orders = append(p.orders, batch...)
			}
			// Numbers follow creation time, but rows go in id order: the
			// primary keys and the child tables' keys then grow page by
			// page instead of at random, and the foreign key checks of the
			// items and history read the orders index in order. It loads
			// about a third faster.
			slices.SortFunc(p.orders, func(a, b seedOrder) int { return bytes.Compare(a.id[:], b.id[:]) })
			select {
			case parts <- p:
			case <-genCtx.Done():
				return
			}
		}
	}()
	total := blocks * seedOrdersPerBlock
	for p := range parts {
		if err := l.copyOrders(ctx, p.orders); err != nil {
			return err
		}
		if l.progress != nil {
			l.progress(SeedProgress{Orders: l.written.Orders, TotalOrders: total, Rows: l.rows, Elapsed: time.Since(l.began)})
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Orders created after the seed continue the sequence instead of
	// colliding with the numbers assigned here.
	if _, err := l.tx.Exec(ctx, "SELECT setval('order_number_seq', $1)", base+int64(total)); err != nil {
		return fmt.Errorf("seed: order numbers: %w", err)
	}
	return nil
}

// checkEmails refuses, with a message that says why, to seed over users that
// someone else created with the demo addresses.
func (l *seedLoader) checkEmails(ctx context.Context, from, to int) error {
	ulo, _ := blockUsers(from)
	_, uhi := blockUsers(to - 1)
	emails := make([]string, 0, uhi-ulo)
	for _, u := range l.world.users[ulo:uhi] {
		emails = append(emails, u.email)
	}
	var taken string
	err := l.tx.QueryRow(ctx, "SELECT email FROM users WHERE email = ANY($1) AND deleted_at IS NULL ORDER BY email LIMIT 1", emails).Scan(&taken)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return fmt.Errorf("seed: the database already has a user %s that the seeder did not create; seed an empty database (or delete that user)", taken)
}

// orderNumberBase returns the highest order number in use, from the sequence
// and from the rows (a number may have been given explicitly).
func (l *seedLoader) orderNumberBase(ctx context.Context) (int64, error) {
	var last int64
	var called bool
	if err := l.tx.QueryRow(ctx, "SELECT last_value, is_called FROM order_number_seq").Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("seed: order numbers: %w", err)
	}
	if !called {
		last = 0
	}
	var rows int64
	if err := l.tx.QueryRow(ctx, `SELECT coalesce(max(substr(number, 4)::bigint), 0) FROM orders WHERE number ~ '^SO-[0-9]{1,18}$'`).Scan(&rows); err != nil {
		return 0, fmt.Errorf("seed: order numbers: %w", err)
	}
	return max(last, rows), nil
}

func (l *seedLoader) copyOrders(ctx context.Context, orders []seedOrder) error {
	w := l.world
	n, err := l.tx.CopyFrom(ctx, pgx.Identifier{"orders"},
		[]string{"id", "number", "project_id", "customer_id", "status", "currency", "total",
			"shipment_carrier", "shipment_tracking_number", "shipment_estimated_delivery", "created_at", "updated_at"},
		pgx.CopyFromSlice(len(orders), func(i int) ([]any, error) {
			o := &orders[i]
			var carrier, tracking *string
			var eta *time.Time
			if s := o.shipment; s != nil {
				carrier, tracking, eta = &s.carrier, &s.tracking, &s.eta
			}
			return []any{seedUUID(o.id), fmt.Sprintf("SO-%06d", o.number), seedUUID(w.projects[o.project].id),
				seedUUID(w.users[o.customer].id), string(o.status), o.currency, seedNumeric(o.total, o.scale),
				carrier, tracking, eta, o.created, o.updated}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: orders: %w", err)
	}
	l.written.Orders += int(n)
	l.rows += int(n)

	// The rows of the two child tables are produced by walking the orders,
	// never materialized as a second copy.
	oi, ii := 0, 0
	n, err = l.tx.CopyFrom(ctx, pgx.Identifier{"order_items"},
		[]string{"order_id", "position", "sku", "name", "quantity", "unit_price", "line_total"},
		seedRows(func() ([]any, bool) {
			for oi < len(orders) && ii >= len(orders[oi].items) {
				oi, ii = oi+1, 0
			}
			if oi == len(orders) {
				return nil, false
			}
			o := &orders[oi]
			it := &o.items[ii]
			ii++
			return []any{seedUUID(o.id), int32(ii), it.sku, it.name, int32(it.qty),
				seedNumeric(it.unit, o.scale), seedNumeric(it.line, o.scale)}, true
		}))
	if err != nil {
		return fmt.Errorf("seed: order items: %w", err)
	}
	l.written.Items += int(n)
	l.rows += int(n)

	// History rows go in order by order and time, so their bigserial ids, by
	// which the history is read back, follow the lifecycle.
	oi, hi := 0, 0
	n, err = l.tx.CopyFrom(ctx, pgx.Identifier{"order_status_changes"},
		[]string{"order_id", "from_status", "to_status", "note", "actor_id", "at"},
		seedRows(func() ([]any, bool) {
			for oi < len(orders) && hi >= len(orders[oi].history) {
				oi, hi = oi+1, 0
			}
			if oi == len(orders) {
				return nil, false
			}
			o := &orders[oi]
			c := &o.history[hi]
			hi++
			var from, note *string
			if c.from != "" {
				s := string(c.from)
				from = &s
			}
			if c.note != "" {
				note = &c.note
			}
			actor := pgtype.UUID{}
			if c.actor >= 0 {
				actor = seedUUID(w.users[c.actor].id)
			}
			return []any{seedUUID(o.id), from, string(c.to), note, actor, c.at}, true
		}))
	if err != nil {
		return fmt.Errorf("seed: order history: %w", err)
	}
	l.written.StatusChanges += int(n)
	l.rows += int(n)
	return nil
}

func seedUUID(id [16]byte) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// seedNumeric is minor units as an exact numeric with the currency's scale.
func seedNumeric(minor int64, scale int) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(minor), Exp: int32(-scale), Valid: true}
}

// seedRows adapts a row generator to pgx.CopyFromSource.
func seedRows(next func() ([]any, bool)) pgx.CopyFromSource { return &seedRowsSource{next: next} }

type seedRowsSource struct {
	next func() ([]any, bool)
	row  []any
}

func (s *seedRowsSource) Next() bool {
	var ok bool
	s.row, ok = s.next()
	return ok
}
func (s *seedRowsSource) Values() ([]any, error) { return s.row, nil }
func (s *seedRowsSource) Err() error             { return nil }
