package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres/postgrestest"
)

// BenchmarkAnalytics measures the analytics query on the `seed --scale 100`
// data set: 200,000 orders over twelve months in 12 projects and 4
// currencies. The target is p99 <= 50 ms for a 12-month daily series.
//
// Seeding takes a while, so the data lives in a database that is kept between
// runs: SWITCHYARD_BENCH_ANALYTICS_DB, by default switchyard_bench_analytics,
// on the server of DATABASE_URL. The first run creates, migrates and seeds it;
// later runs only apply new migrations (seeding again finds the data and
// writes nothing). Drop the database to start over.
//
//	make bench-analytics
//	go test -run '^$' -bench BenchmarkAnalytics -benchtime 200x ./postgres/
//
// Each sub-benchmark reports the p50 and p99 latency of one call to
// AnalyticsService.Analytics (a whole dashboard: summary, series and top
// customers), measured per call.
func BenchmarkAnalytics(b *testing.B) {
	db, anchor := benchAnalyticsDB(b)
	svc := NewAnalyticsService(db)
	ctx := context.Background()

	userID := func(email string) string {
		var id string
		if err := db.Pool().QueryRow(ctx, `SELECT id::text FROM users WHERE email = $1`, email).Scan(&id); err != nil {
			b.Fatalf("seed user %s: %v", email, err)
		}
		return id
	}
	var northwind string
	if err := db.Pool().QueryRow(ctx, `SELECT id::text FROM projects WHERE name = 'Northwind Outfitters'`).Scan(&northwind); err != nil {
		b.Fatal(err)
	}
	admin := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: userID("admin@example.com"), Role: switchyard.RoleAdmin})
	// alice owns Northwind Outfitters, the largest project (about 52,000
	// orders); dave is a member of it and of Acme Hardware (about 93,000
	// together).
	alice := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: userID("alice@example.com"), Role: switchyard.RoleMember})
	dave := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: userID("dave@example.com"), Role: switchyard.RoleMember})

	year := switchyard.AnalyticsRange{From: anchor.AddDate(-1, 0, 0), To: anchor}
	cases := []struct {
		name string
		ctx  context.Context
		q    switchyard.AnalyticsQuery
	}{
		{"project/owner/day", alice, switchyard.AnalyticsQuery{ProjectID: &northwind, Range: year}},
		{"all/admin/day", admin, switchyard.AnalyticsQuery{Range: year}},
		{"all/member/day", dave, switchyard.AnalyticsQuery{Range: year}},
		{"all/admin/day/series-only", admin, switchyard.AnalyticsQuery{Range: year, SkipTopCustomers: true}},
		{"all/admin/day/Europe-Berlin", admin, switchyard.AnalyticsQuery{Range: year, TimeZone: "Europe/Berlin"}},
		{"all/admin/day/America-Los_Angeles", admin, switchyard.AnalyticsQuery{Range: year, TimeZone: "America/Los_Angeles"}},
		{"project/owner/day/America-Los_Angeles", alice, switchyard.AnalyticsQuery{ProjectID: &northwind, Range: year, TimeZone: "America/Los_Angeles"}},
		// Edges at :30 UTC read half an hour of orders each.
		{"all/admin/day/Asia-Kolkata", admin, switchyard.AnalyticsQuery{Range: year, TimeZone: "Asia/Kolkata"}},
		{"all/admin/week/America-Los_Angeles", admin, switchyard.AnalyticsQuery{Range: year, Granularity: switchyard.GranularityWeek, TimeZone: "America/Los_Angeles"}},
		{"all/admin/week", admin, switchyard.AnalyticsQuery{Range: year, Granularity: switchyard.GranularityWeek}},
		{"all/admin/month", admin, switchyard.AnalyticsQuery{Range: year, Granularity: switchyard.GranularityMonth}},
		{"project/owner/hour-last-30-days", alice, switchyard.AnalyticsQuery{ProjectID: &northwind, Range: switchyard.AnalyticsRange{From: anchor.AddDate(0, 0, -30), To: anchor}, Granularity: switchyard.GranularityHour}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// One call outside the timing warms the pool and the caches.
			a, err := svc.Analytics(c.ctx, c.q)
			if err != nil {
				b.Fatal(err)
			}
			if a.OrderCount == 0 {
				b.Fatal("no orders in the range: is the bench database seeded?")
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				began := time.Now()
				if _, err := svc.Analytics(c.ctx, c.q); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(began))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(a.OrderCount), "orders")
			b.ReportMetric(float64(len(a.Series)), "buckets")
		})
	}
}

// benchAnalyticsDB opens the kept benchmark database, creating, migrating and
// seeding it as needed, and returns it with the end of its orders' twelve
// months.
func benchAnalyticsDB(b *testing.B) (*DB, time.Time) {
	b.Helper()
	ctx := context.Background()
	name := os.Getenv("SWITCHYARD_BENCH_ANALYTICS_DB")
	if name == "" {
		name = "switchyard_bench_analytics"
	}
	admin := postgrestest.AdminURL(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Fatalf("create %s: %v", name, err)
		}
	}
	conn.Close(ctx)

	u, err := url.Parse(admin)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	db, err := Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := migrations.Up(ctx, db.Pool()); err != nil {
		b.Fatalf("migrate %s: %v", name, err)
	}
	began := time.Now()
	res, err := Seed(ctx, db, SeedOptions{Scale: 100})
	if err != nil {
		b.Fatalf("seed %s: %v", name, err)
	}
	if res.Changed() {
		b.Logf("seeded %s at scale 100 in %v", name, time.Since(began).Round(time.Second))
	}
	// Index-only scans need the visibility map that VACUUM sets; after a
	// fresh load autovacuum may not have come round yet.
	if _, err := db.Pool().Exec(ctx, "VACUUM ANALYZE orders, order_daily_stats, order_customer_stats"); err != nil {
		b.Fatal(err)
	}
	if res.Total.Orders < 200_000 {
		b.Fatalf("%s holds %d orders, want 200,000", name, res.Total.Orders)
	}
	fmt.Fprintf(os.Stderr, "bench database %s: %d orders up to %s\n", name, res.Total.Orders, res.Anchor.Format(time.RFC3339))
	return db, res.Anchor
}
