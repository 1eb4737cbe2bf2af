package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres/postgrestest"
)

// seedTestNow pins the anchor so runs compare row for row.
var seedTestNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func openSeedDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), postgrestest.NewDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func seedOrFail(t testing.TB, db *DB, scale int, now time.Time) *SeedResult {
	t.Helper()
	res, err := Seed(context.Background(), db, SeedOptions{Scale: scale, Now: now})
	if err != nil {
		t.Fatalf("Seed(scale %d): %v", scale, err)
	}
	return res
}

func seedCount(t *testing.T, db *DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// seedChecksums fingerprints every table the seeder writes. History ids are
// replaced by each row's position within its order, which is what readers
// see.
func seedChecksums(t *testing.T, db *DB) map[string]string {
	t.Helper()
	queries := map[string]string{
		"users":           `SELECT id, email, name, avatar_url, role, created_at, updated_at, deleted_at FROM users`,
		"projects":        `SELECT id, name, description, status, owner_id, created_at, updated_at FROM projects`,
		"project_members": `SELECT project_id, user_id, added_at FROM project_members`,
		"orders": `SELECT id, number, project_id, customer_id, status, currency, total, shipment_carrier,
			shipment_tracking_number, shipment_estimated_delivery, created_at, updated_at FROM orders`,
		"order_items": `SELECT order_id, position, sku, name, quantity, unit_price, line_total FROM order_items`,
		"order_status_changes": `SELECT order_id, row_number() OVER (PARTITION BY order_id ORDER BY id), from_status,
			to_status, note, actor_id, at FROM order_status_changes`,
		"events":    `SELECT id FROM events`,
		"order_seq": `SELECT last_value FROM order_number_seq`,
	}
	sums := map[string]string{}
	for name, q := range queries {
		var sum string
		err := db.Pool().QueryRow(context.Background(),
			`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM (`+q+`) t`).Scan(&sum)
		if err != nil {
			t.Fatalf("checksum %s: %v", name, err)
		}
		sums[name] = sum
	}
	return sums
}

func TestSeedScaleOne(t *testing.T) {
	t.Parallel()
	db := openSeedDB(t)
	res := seedOrFail(t, db, 1, seedTestNow)

	if res.PreviousScale != 0 || res.Scale != 1 || !res.Changed() {
		t.Errorf("result scale %d (before %d), want 1 (before 0)", res.Scale, res.PreviousScale)
	}
	if !res.Anchor.Equal(seedTestNow) {
		t.Errorf("anchor %v, want %v", res.Anchor, seedTestNow)
	}
	want := SeedCounts{Users: 50, Projects: 3, Orders: 2000}
	got := res.Written
	if got.Users != want.Users || got.Projects != want.Projects || got.Orders != want.Orders {
		t.Errorf("written %+v, want users %d, projects %d, orders %d", got, want.Users, want.Projects, want.Orders)
	}
	if got != res.Total {
		t.Errorf("written %+v but the tables hold %+v", got, res.Total)
	}
	if got.Items < 2000 || got.Items > 5*2000 || got.StatusChanges < 2000 || got.Members < 9 {
		t.Errorf("implausible counts %+v", got)
	}
	for _, email := range []string{"admin@example.com", "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"} {
		found := false
		for _, l := range res.Logins {
			found = found || l.Email == email
		}
		if !found {
			t.Errorf("demo logins %v lack %s", res.Logins, email)
		}
	}

	// Each query counts the rows that break one invariant.
	anchor := res.Anchor
	violations := []struct {
		name string
		sql  string
	}{
		{"total is the exact sum of the line totals", `SELECT count(*) FROM orders o
			WHERE o.total IS DISTINCT FROM (SELECT sum(line_total) FROM order_items i WHERE i.order_id = o.id)`},
		{"line total is quantity times unit price", `SELECT count(*) FROM order_items WHERE line_total <> quantity * unit_price`},
		{"amounts carry the currency's minor units", `SELECT count(*) FROM orders o
			WHERE scale(o.total) <> CASE o.currency WHEN 'JPY' THEN 0 ELSE 2 END
			OR EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id
				AND (scale(i.unit_price) <> scale(o.total) OR scale(i.line_total) <> scale(o.total)))`},
		{"1 to 5 distinct items, positions from 1", `SELECT count(*) FROM (SELECT order_id FROM order_items GROUP BY order_id
			HAVING count(*) NOT BETWEEN 1 AND 5 OR count(DISTINCT sku) <> count(*) OR max(position) <> count(*)) x`},
		{"history starts with the customer creating a PENDING order", `SELECT count(*) FROM orders o
			JOIN LATERAL (SELECT * FROM order_status_changes h WHERE h.order_id = o.id ORDER BY id LIMIT 1) f ON TRUE
			WHERE f.from_status IS NOT NULL OR f.to_status <> 'PENDING' OR f.at <> o.created_at OR f.actor_id <> o.customer_id`},
		{"history ends in the current status at updated_at", `SELECT count(*) FROM orders o
			LEFT JOIN LATERAL (SELECT * FROM order_status_changes h WHERE h.order_id = o.id ORDER BY id DESC LIMIT 1) l ON TRUE
			WHERE l.to_status IS DISTINCT FROM o.status OR l.at IS DISTINCT FROM o.updated_at`},
		{"each step starts where the last ended, later", `SELECT count(*) FROM (SELECT from_status, at,
				lag(to_status) OVER w AS prev_to, lag(at) OVER w AS prev_at
			FROM order_status_changes WINDOW w AS (PARTITION BY order_id ORDER BY id)) x
			WHERE prev_at IS NOT NULL AND (from_status IS DISTINCT FROM prev_to OR at <= prev_at)`},
		{"a shipment exactly when the order was shipped", `SELECT count(*) FROM orders o
			WHERE (o.shipment_carrier IS NOT NULL AND o.shipment_tracking_number IS NOT NULL AND o.shipment_estimated_delivery IS NOT NULL)
			<> EXISTS (SELECT 1 FROM order_status_changes h WHERE h.order_id = o.id AND h.to_status = 'SHIPPED')`},
		{"orders and their history within the 12 months before the anchor", `SELECT count(*) FROM orders o
			WHERE o.created_at < $1::timestamptz - interval '365 days' OR o.updated_at >= $1`},
		{"customers signed up before ordering", `SELECT count(*) FROM orders o JOIN users u ON u.id = o.customer_id
			WHERE u.created_at >= o.created_at`},
		{"staff act only on their own projects' orders", `SELECT count(*) FROM order_status_changes h JOIN orders o ON o.id = h.order_id
			WHERE h.actor_id IS NOT NULL AND h.actor_id <> o.customer_id
			AND h.actor_id NOT IN (SELECT owner_id FROM projects WHERE id = o.project_id
				UNION ALL SELECT user_id FROM project_members WHERE project_id = o.project_id)`},
		{"order numbers are SO-000001 to SO-002000", `SELECT count(*) FROM (SELECT number, row_number() OVER (ORDER BY number) AS n FROM orders) x
			WHERE number <> 'SO-' || lpad(n::text, 6, '0')`},
		{"numbers follow creation time", `SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER (ORDER BY number) AS prev FROM orders) x
			WHERE created_at < prev`},
		{"no events for seeded data", `SELECT count(*) FROM events`},
	}
	for _, v := range violations {
		args := []any{}
		if strings.Contains(v.sql, "$1") {
			args = append(args, anchor)
		}
		if n := seedCount(t, db, v.sql, args...); n != 0 {
			t.Errorf("%s: %d rows break it", v.name, n)
		}
	}

	rows, err := db.Pool().Query(context.Background(), `SELECT DISTINCT coalesce(from_status, ''), to_status FROM order_status_changes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			t.Fatal(err)
		}
		if from != "" && !switchyard.OrderStatus(from).CanTransitionTo(switchyard.OrderStatus(to)) {
			t.Errorf("history has the step %s → %s, which the lifecycle forbids", from, to)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Spreads: every status, every currency and every month is represented,
	// DELIVERED dominates as it does in a shop that has run for a year.
	spreads := []struct {
		name string
		sql  string
		want int
	}{
		{"one admin, admin@example.com", `SELECT count(*) FROM users WHERE role = 'ADMIN' AND email = 'admin@example.com'`, 1},
		{"admins", `SELECT count(*) FROM users WHERE role = 'ADMIN'`, 1},
		{"named owners", `SELECT count(*) FROM projects p JOIN users u ON u.id = p.owner_id WHERE (p.name, u.email) IN
			(('Northwind Outfitters', 'alice@example.com'), ('Acme Hardware', 'bob@example.com'), ('Blue Harbor Coffee', 'carol@example.com'))`, 3},
		{"projects with a description and 3+ members", `SELECT count(*) FROM projects p WHERE description <> ''
			AND (SELECT count(*) FROM project_members m WHERE m.project_id = p.id) >= 3`, 3},
		{"statuses with at least 15 orders", `SELECT count(*) FROM (SELECT status FROM orders GROUP BY status HAVING count(*) >= 15) x`, 7},
		{"DELIVERED is the most common status", `SELECT count(*) FROM (SELECT status FROM orders GROUP BY status ORDER BY count(*) DESC LIMIT 1) x WHERE status = 'DELIVERED'`, 1},
		{"currencies with at least 5% of orders", `SELECT count(*) FROM (SELECT currency FROM orders GROUP BY currency HAVING count(*) >= 100) x
			WHERE currency IN ('USD', 'EUR', 'GBP', 'JPY')`, 4},
		{"customers with orders, frank among them", `SELECT count(DISTINCT customer_id) >= 30 AND bool_or(u.email = 'frank@example.com')
			FROM orders o JOIN users u ON u.id = o.customer_id`, 1},
		{"users with an avatar", `SELECT count(*) FROM users WHERE avatar_url LIKE 'https://www.gravatar.com/avatar/%'`, 50},
	}
	for _, s := range spreads {
		args := []any{}
		if strings.Contains(s.sql, "$1") {
			args = append(args, anchor)
		}
		if n := seedCount(t, db, "SELECT ("+s.sql+")::int", args...); n != s.want {
			t.Errorf("%s: %d, want %d", s.name, n, s.want)
		}
	}
	if n := seedCount(t, db, `SELECT count(*) FROM (SELECT floor(extract(epoch FROM $1::timestamptz - created_at) / (30 * 86400)) AS p
		FROM orders WHERE created_at >= $1::timestamptz - interval '360 days' GROUP BY p HAVING count(*) >= 40) x`, anchor); n != 12 {
		t.Errorf("only %d of the 12 30-day periods before the anchor have 40+ orders", n)
	}

	// Orders created later continue the sequence.
	var number string
	if err := db.Pool().QueryRow(context.Background(), `INSERT INTO orders (project_id, customer_id, currency, total)
		SELECT p.id, p.owner_id, 'USD', 0 FROM projects p LIMIT 1 RETURNING number`).Scan(&number); err != nil {
		t.Fatal(err)
	}
	if number != "SO-002001" {
		t.Errorf("the next live order is %s, want SO-002001", number)
	}
}

func TestSeedSecondRunChangesNothing(t *testing.T) {
	t.Parallel()
	db := openSeedDB(t)
	seedOrFail(t, db, 1, seedTestNow)
	before := seedChecksums(t, db)

	// A later run on another day finds the same data and leaves it.
	res := seedOrFail(t, db, 1, seedTestNow.Add(72*time.Hour))
	if res.Changed() || res.Larger || res.Written != (SeedCounts{}) {
		t.Errorf("second run: %+v, want nothing written", res)
	}
	if !res.Anchor.Equal(seedTestNow) {
		t.Errorf("second run read the anchor %v, want %v", res.Anchor, seedTestNow)
	}
	if after := seedChecksums(t, db); !reflect.DeepEqual(before, after) {
		t.Errorf("second run changed rows:\nbefore %v\nafter  %v", before, after)
	}
}

func TestSeedTopUpWritesWhatAFreshSeedWrites(t *testing.T) {
	t.Parallel()
	// Scale 11 crosses the block that adds a project.
	scale := 11
	if testing.Short() {
		scale = 3
	}
	toppedUp, fresh := openSeedDB(t), openSeedDB(t)

	seedOrFail(t, toppedUp, 1, seedTestNow)
	res := seedOrFail(t, toppedUp, scale, seedTestNow.Add(30*24*time.Hour))
	if res.PreviousScale != 1 || res.Scale != scale || res.Written.Orders != (scale-1)*seedOrdersPerBlock {
		t.Errorf("top-up: %+v", res)
	}
	seedOrFail(t, fresh, scale, seedTestNow)

	a, b := seedChecksums(t, toppedUp), seedChecksums(t, fresh)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("top-up and fresh seed differ:\ntop-up %v\nfresh  %v", a, b)
	}
	if scale > seedProjectEvery {
		if n := seedCount(t, fresh, `SELECT count(*) FROM projects`); n != 4 {
			t.Errorf("scale %d has %d projects, want 4", scale, n)
		}
	}

	// A smaller scale afterwards is a no-op that says so.
	res = seedOrFail(t, toppedUp, 2, time.Time{})
	if res.Changed() || !res.Larger {
		t.Errorf("scale 2 after %d: %+v, want no change and Larger", scale, res)
	}
	if after := seedChecksums(t, toppedUp); !reflect.DeepEqual(a, after) {
		t.Errorf("a smaller scale changed rows")
	}
}

func TestSeedNumbersContinueAfterLiveOrders(t *testing.T) {
	t.Parallel()
	db := openSeedDB(t)
	seedOrFail(t, db, 1, seedTestNow)
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `INSERT INTO orders (project_id, customer_id, currency, total)
		SELECT p.id, p.owner_id, 'EUR', 0 FROM projects p LIMIT 3`); err != nil {
		t.Fatal(err)
	}
	seedOrFail(t, db, 2, time.Time{})
	if n := seedCount(t, db, `SELECT count(DISTINCT number) FROM orders`); n != 4003 {
		t.Errorf("%d distinct numbers, want 4003", n)
	}
	if n := seedCount(t, db, `SELECT count(*) FROM orders WHERE number > 'SO-004003'`); n != 0 {
		t.Errorf("%d orders numbered after SO-004003", n)
	}
	var next string
	if err := db.Pool().QueryRow(ctx, `SELECT 'SO-' || lpad(nextval('order_number_seq')::text, 6, '0')`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next != "SO-004004" {
		t.Errorf("next number %s, want SO-004004", next)
	}
}

func TestSeedRefusesBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare string
		scale   int
		wantErr string
	}{
		{"scale zero", ``, 0, "scale must be at least 1"},
		{"demo email taken by someone else", `INSERT INTO users (email, name) VALUES ('bob@example.com', 'Another Bob')`, 1, "bob@example.com"},
		{"demo data deleted by hand", `DELETE FROM orders`, 1, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := openSeedDB(t)
			ctx := context.Background()
			if tt.wantErr == "incomplete" {
				seedOrFail(t, db, 1, seedTestNow)
			}
			if tt.prepare != "" {
				if _, err := db.Pool().Exec(ctx, tt.prepare); err != nil {
					t.Fatal(err)
				}
			}
			before := seedChecksums(t, db)
			_, err := Seed(ctx, db, SeedOptions{Scale: tt.scale, Now: seedTestNow})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Seed: %v, want an error mentioning %q", err, tt.wantErr)
			}
			if after := seedChecksums(t, db); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused seed changed rows")
			}
		})
	}
}

// TestSeedOrdersAgreeWithTheDomain checks the generator against the root
// package: totals as OrderCreate computes them, steps the lifecycle allows,
// and the same rows on every call.
func TestSeedOrdersAgreeWithTheDomain(t *testing.T) {
	t.Parallel()
	w := buildSeedWorld(seedTestNow, 2)
	for b := range 2 {
		orders := w.buildOrders(b)
		if again := w.buildOrders(b); !reflect.DeepEqual(orders, again) {
			t.Fatalf("block %d: two generations differ", b)
		}
		for _, o := range orders {
			in := switchyard.OrderCreate{ProjectID: "p", Currency: o.currency}
			for _, it := range o.items {
				in.Items = append(in.Items, switchyard.OrderItemInput{SKU: it.sku, Name: it.name, Quantity: int(it.qty),
					UnitPrice: switchyard.Decimal(seedAmount(it.unit, o.scale))})
			}
			if err := in.Validate(); err != nil {
				t.Fatalf("order %x: the API would refuse it: %v", o.id, err)
			}
			lines, total := in.LineTotals()
			if string(total) != seedAmount(o.total, o.scale) {
				t.Errorf("order %x: total %s, the domain computes %s", o.id, seedAmount(o.total, o.scale), total)
			}
			for i, l := range lines {
				if string(l) != seedAmount(o.items[i].line, o.scale) {
					t.Errorf("order %x line %d: %s, the domain computes %s", o.id, i, seedAmount(o.items[i].line, o.scale), l)
				}
			}
			for i, c := range o.history[1:] {
				if !c.from.CanTransitionTo(c.to) || c.from != o.history[i].to {
					t.Errorf("order %x: step %s → %s after %s", o.id, c.from, c.to, o.history[i].to)
				}
			}
		}
	}
}

// TestSeedBlocksDoNotDependOnScale is the property top-ups rest on, checked
// without a database: a smaller world is a prefix of a larger one, and a
// block's orders are the same in both.
func TestSeedBlocksDoNotDependOnScale(t *testing.T) {
	t.Parallel()
	small, large := buildSeedWorld(seedTestNow, 3), buildSeedWorld(seedTestNow, 21)
	if !reflect.DeepEqual(small.users, large.users[:len(small.users)]) {
		t.Error("users of the first blocks differ between scales")
	}
	if !reflect.DeepEqual(small.projects, large.projects[:len(small.projects)]) {
		t.Error("projects of the first blocks differ between scales")
	}
	if !reflect.DeepEqual(small.members, large.members[:len(small.members)]) {
		t.Error("memberships of the first blocks differ between scales")
	}
	if !reflect.DeepEqual(small.buildOrders(2), large.buildOrders(2)) {
		t.Error("block 2's orders differ between scales")
	}
	if len(large.projects) != 5 {
		t.Errorf("scale 21 has %d projects, want 5", len(large.projects))
	}
	emails := map[string]bool{}
	for _, u := range large.users {
		in := switchyard.UserCreate{Email: u.email, Name: u.name, AvatarURL: &u.avatar, Role: u.role}
		if err := in.Validate(); err != nil || in.Email != u.email {
			t.Errorf("user %q: the API would refuse or change it: %v", u.email, err)
		}
		if emails[u.email] {
			t.Errorf("email %s is used twice", u.email)
		}
		emails[u.email] = true
	}
	for _, p := range large.projects {
		in := switchyard.ProjectCreate{Name: p.name, Description: &p.description}
		if err := in.Validate(); err != nil {
			t.Errorf("project %q: the API would refuse it: %v", p.name, err)
		}
	}
}

func TestSeedAmount(t *testing.T) {
	tests := []struct {
		minor int64
		scale int
		want  string
	}{
		{0, 2, "0.00"}, {5, 2, "0.05"}, {1250, 2, "12.50"}, {129900, 2, "1299.00"},
		{4500, 0, "4500"}, {1, 3, "0.001"},
	}
	for _, tt := range tests {
		if got := seedAmount(tt.minor, tt.scale); got != tt.want {
			t.Errorf("seedAmount(%d, %d) = %s, want %s", tt.minor, tt.scale, got, tt.want)
		}
	}
}

// BenchmarkSeedScale loads scale 10 (20,000 orders) into a fresh database per
// iteration; the scale-100 target (200,000 orders in under a minute) is this
// times ten. go test ./postgres -run '^$' -bench SeedScale -benchtime 1x
func BenchmarkSeedScale(b *testing.B) {
	const scale = 10
	for b.Loop() {
		b.StopTimer()
		db := openSeedDB(b)
		b.StartTimer()
		res, err := Seed(context.Background(), db, SeedOptions{Scale: scale})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(res.Written.Orders)/res.Elapsed.Seconds(), "orders/s")
		db.Close()
		b.StartTimer()
	}
}
