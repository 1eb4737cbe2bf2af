package postgres

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// The analytics tests compare every answer with a ground truth computed
// independently, with plain GROUP BYs over the orders table: buckets from
// PostgreSQL's own date_trunc in the time zone and generate_series, revenue
// from a FILTER on the statuses, top customers from a count per customer.
// The service reads rollups and edge corrections instead, so agreement on
// random data across currencies, statuses, time zones and granularities is
// the test of both the rollup triggers and the bucket arithmetic.

// analyticsWorld extends world with a second project of Owner's, a deleted
// project Member belongs to, and a customer who belongs to no project but
// orders in Project.
type analyticsWorld struct {
	*world
	Orders                 *OrderService
	Analytics              *AnalyticsService
	Project2, Deleted      *switchyard.Project
	Customer               *switchyard.User
	customers              []*switchyard.User
	allProjects, ownerSees []string
}

func newAnalyticsWorld(t *testing.T) *analyticsWorld {
	t.Helper()
	w := &analyticsWorld{world: newWorld(t)}
	w.Orders = NewOrderService(w.DB)
	w.Analytics = NewAnalyticsService(w.DB)
	w.Project2 = mustCreateProject(t, w.Projects, "Apollo Two", w.Owner)
	w.Deleted = mustCreateProject(t, w.Projects, "Gone", w.Other, w.Member)
	if _, err := w.Projects.DeleteProject(adminCtx(context.Background()), w.Deleted.ID); err != nil {
		t.Fatalf("delete project: %v", err)
	}
	w.Customer = mustCreateUser(t, w.Users, "Cass Customer", switchyard.RoleMember)
	w.customers = []*switchyard.User{w.Customer, w.Loner, w.Member, w.OtherMate}
	for i := 0; i < 12; i++ {
		w.customers = append(w.customers, mustCreateUser(t, w.Users, fmt.Sprintf("Buyer %d", i), switchyard.RoleMember))
	}
	w.allProjects = []string{w.Project.ID, w.Project2.ID, w.OtherProject.ID, w.Deleted.ID}
	w.ownerSees = []string{w.Project.ID, w.Project2.ID}
	return w
}

// analyticsCurrencies covers 2, 0 and 3 minor units.
var analyticsCurrencies = []string{"USD", "EUR", "JPY", "BHD"}

// insertRandomOrders writes n orders straight into the table, in several
// multi-row statements (the triggers see statements of many rows), with
// created_at drawn by at, then moves a random part of them along their
// lifecycle, in bulk and one by one.
func (w *analyticsWorld) insertRandomOrders(t *testing.T, rng *rand.Rand, n int, projects []string, at func() time.Time) {
	t.Helper()
	ctx := context.Background()
	statuses := switchyard.OrderStatuses()
	for done := 0; done < n; {
		size := min(n-done, 1+rng.IntN(300))
		var (
			pids, cids, sts, curs, totals []string
			times                         []time.Time
		)
		for i := 0; i < size; i++ {
			cur := analyticsCurrencies[rng.IntN(len(analyticsCurrencies))]
			scale, _ := switchyard.CurrencyMinorUnits(cur)
			minor := rng.Int64N(500_000)
			pids = append(pids, projects[rng.IntN(len(projects))])
			// A few customers order a lot, so the top ten is not a tie.
			cids = append(cids, w.customers[min(rng.IntN(len(w.customers)), rng.IntN(len(w.customers)))].ID)
			sts = append(sts, string(statuses[rng.IntN(len(statuses))]))
			curs = append(curs, cur)
			totals = append(totals, string(switchyard.DecimalFromRat(big.NewRat(minor, int64(math.Pow10(scale))), scale)))
			times = append(times, at())
		}
		if _, err := w.DB.Pool().Exec(ctx, `INSERT INTO orders (project_id, customer_id, status, currency, total, created_at, updated_at)
			SELECT p, c, s, cur, t::numeric, at, at FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS x(p, c, s, cur, t, at)`,
			pids, cids, sts, curs, totals, times); err != nil {
			t.Fatalf("insert orders: %v", err)
		}
		done += size
	}
	// Status changes move orders between rollup rows: some in bulk, some one
	// statement per order, some that change nothing the rollups key on.
	if _, err := w.DB.Pool().Exec(ctx, `UPDATE orders SET status = 'REFUNDED' WHERE status IN ('DELIVERED', 'SHIPPED') AND random() < 0.2`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB.Pool().Exec(ctx, `UPDATE orders SET shipment_carrier = 'DHL' WHERE random() < 0.1`); err != nil {
		t.Fatal(err)
	}
	ids, err := queryAll(ctx, w.DB.Pool(), `SELECT id::text FROM orders WHERE status = 'PENDING' ORDER BY random() LIMIT 30`, nil, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := w.DB.Pool().Exec(ctx, `UPDATE orders SET status = 'PAID' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
}

// truth is the ground truth of one query, computed from the orders of
// projects with plain SQL.
func (w *analyticsWorld) truth(t *testing.T, projects []string, q switchyard.AnalyticsQuery) *switchyard.Analytics {
	t.Helper()
	ctx := context.Background()
	pool := w.DB.Pool()
	if q.Granularity == "" {
		q.Granularity = switchyard.GranularityDay
	}
	if q.TimeZone == "" {
		q.TimeZone = "UTC"
	}
	from, to, tz, g := q.Range.From, q.Range.To, q.TimeZone, strings.ToLower(string(q.Granularity))
	a := &switchyard.Analytics{From: from, To: to, Granularity: q.Granularity, TimeZone: q.TimeZone}
	const rev = `status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')`
	where := `project_id = ANY($1::uuid[]) AND created_at >= $2 AND created_at < $3`

	type cur struct {
		Currency      string
		Orders        int
		RevenueOrders int
		Revenue       string
		Average       *string
	}
	curs, err := queryAll(ctx, pool, `SELECT currency, count(*)::int, (count(*) FILTER (WHERE `+rev+`))::int,
			coalesce(sum(total) FILTER (WHERE `+rev+`), 0)::text,
			(round(sum(total) FILTER (WHERE `+rev+`) / nullif(count(*) FILTER (WHERE `+rev+`), 0),
				CASE currency WHEN 'JPY' THEN 0 WHEN 'BHD' THEN 3 ELSE 2 END))::text
		FROM orders WHERE `+where+` GROUP BY currency ORDER BY currency`,
		[]any{projects, from, to}, pgx.RowToStructByPos[cur])
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	a.Revenue, a.AverageOrderValue = []switchyard.Money{}, []switchyard.Money{}
	var codes []string
	for _, c := range curs {
		codes = append(codes, c.Currency)
		a.OrderCount += c.Orders
		a.RevenueOrderCount += c.RevenueOrders
		a.Revenue = append(a.Revenue, switchyard.Money{Amount: switchyard.Decimal(c.Revenue), Currency: c.Currency})
		if c.Average != nil {
			a.AverageOrderValue = append(a.AverageOrderValue, switchyard.Money{Amount: switchyard.Decimal(*c.Average), Currency: c.Currency})
		}
	}

	byStatus := map[string]int{}
	type st struct {
		Status string
		N      int
	}
	sts, err := queryAll(ctx, pool, `SELECT status, count(*)::int FROM orders WHERE `+where+` GROUP BY status`, []any{projects, from, to}, pgx.RowToStructByPos[st])
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	for _, s := range sts {
		byStatus[s.Status] = s.N
	}
	for _, s := range switchyard.OrderStatuses() {
		a.OrdersByStatus = append(a.OrdersByStatus, switchyard.OrderStatusCount{Status: s, Count: byStatus[string(s)]})
	}

	// Buckets: local calendar units through local timestamps; hours as
	// date_trunc with a time zone, which keeps each instant's own offset.
	// A local midnight the clocks pass twice (Havana goes back from 01:00 to
	// 00:00) starts its day the first time; PostgreSQL reads such a local
	// time as the later instant, so the earliest instant that reads it is
	// taken. A midnight the clocks skip (Santiago jumps to 01:00) never
	// reads; PostgreSQL moves it to the end of the jump, where the day
	// starts.
	first := func(local, zone string) string {
		return fmt.Sprintf(`coalesce((SELECT min(c) FROM unnest(ARRAY[(%[1]s) AT TIME ZONE %[2]s - interval '2 hours', (%[1]s) AT TIME ZONE %[2]s - interval '1 hour',
			(%[1]s) AT TIME ZONE %[2]s - interval '30 minutes', (%[1]s) AT TIME ZONE %[2]s]) c WHERE c AT TIME ZONE %[2]s = (%[1]s)), (%[1]s) AT TIME ZONE %[2]s)`, local, zone)
	}
	var bucketSQL, keySQL string
	if g == "hour" {
		bucketSQL = `SELECT b FROM generate_series(date_trunc('hour', $1::timestamptz, $3), $2::timestamptz, interval '1 hour') b WHERE b < $2`
		keySQL = `date_trunc('hour', created_at, $4)`
	} else {
		bucketSQL = `SELECT s FROM (SELECT ` + first("b", "$3") + ` AS s
			FROM generate_series(date_trunc($4, $1::timestamptz AT TIME ZONE $3), $2::timestamptz AT TIME ZONE $3, ('1 ' || $4)::interval) b) x
			WHERE s < $2`
		keySQL = first("date_trunc($5, created_at AT TIME ZONE $4)", "$4")
	}
	var starts []time.Time
	if from.Before(to) {
		args := []any{from, to, tz}
		if g != "hour" {
			args = append(args, g)
		}
		if starts, err = queryAll(ctx, pool, bucketSQL, args, pgx.RowTo[time.Time]); err != nil {
			t.Fatalf("truth buckets: %v", err)
		}
	}
	type bucketRow struct {
		Start    time.Time
		Currency string
		Orders   int
		Revenue  *string
	}
	args := []any{projects, from, to, tz}
	if g != "hour" {
		args = append(args, g)
	}
	brs, err := queryAll(ctx, pool, `SELECT `+keySQL+` AS b, currency, count(*)::int, (sum(total) FILTER (WHERE `+rev+`))::text
		FROM orders WHERE `+where+` GROUP BY 1, 2`, args, pgx.RowToStructByPos[bucketRow])
	if err != nil {
		t.Fatalf("truth series: %v", err)
	}
	a.Series = make([]switchyard.AnalyticsBucket, len(starts))
	for i, s := range starts {
		a.Series[i] = switchyard.AnalyticsBucket{Start: s, Revenue: make([]switchyard.Money, len(codes))}
		if i+1 < len(starts) {
			a.Series[i].End = starts[i+1]
		}
		for j, c := range codes {
			a.Series[i].Revenue[j] = switchyard.Money{Amount: "0", Currency: c}
		}
	}
	for _, r := range brs {
		i := slices.IndexFunc(starts, func(s time.Time) bool { return s.Equal(r.Start) })
		if i < 0 {
			t.Fatalf("truth: orders in bucket %v, which is not among the buckets", r.Start)
		}
		a.Series[i].OrderCount += r.Orders
		if r.Revenue != nil {
			a.Series[i].Revenue[slices.Index(codes, r.Currency)].Amount = switchyard.Decimal(*r.Revenue)
		}
	}

	type topRow struct {
		Customer string
		Orders   int
		Currency string
		Revenue  *string
	}
	tops, err := queryAll(ctx, pool, `WITH top AS (
			SELECT customer_id, count(*) AS n FROM orders WHERE `+where+` GROUP BY customer_id ORDER BY n DESC, customer_id LIMIT 10)
		SELECT o.customer_id::text, top.n::int, o.currency, (sum(o.total) FILTER (WHERE o.`+rev+`))::text
		FROM top JOIN orders o ON o.customer_id = top.customer_id
		WHERE o.project_id = ANY($1::uuid[]) AND o.created_at >= $2 AND o.created_at < $3
		GROUP BY 1, 2, 3 ORDER BY 2 DESC, 1, 3`, []any{projects, from, to}, pgx.RowToStructByPos[topRow])
	if err != nil {
		t.Fatalf("truth top: %v", err)
	}
	a.TopCustomers = []switchyard.TopCustomer{}
	for _, r := range tops {
		if n := len(a.TopCustomers); n == 0 || a.TopCustomers[n-1].CustomerID != r.Customer {
			a.TopCustomers = append(a.TopCustomers, switchyard.TopCustomer{CustomerID: r.Customer, OrderCount: r.Orders})
		}
		amount := "0"
		if r.Revenue != nil {
			amount = *r.Revenue
		}
		tc := &a.TopCustomers[len(a.TopCustomers)-1]
		tc.Revenue = append(tc.Revenue, switchyard.Money{Amount: switchyard.Decimal(amount), Currency: r.Currency})
	}
	return a
}

// sameMoney compares amounts as numbers and requires the currency's own
// number of decimals in got.
func sameMoney(got, want []switchyard.Money) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	for i := range got {
		scale, _ := switchyard.CurrencyMinorUnits(got[i].Currency)
		if got[i].Currency != want[i].Currency || got[i].Amount.Rat().Cmp(want[i].Amount.Rat()) != 0 || got[i].Amount.Scale() != scale {
			return fmt.Errorf("got %v, want %v", got, want)
		}
	}
	return nil
}

// compareAnalytics fails t where got differs from want.
func compareAnalytics(t *testing.T, label string, got, want *switchyard.Analytics) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s", label, fmt.Sprintf(format, args...))
	}
	if got.OrderCount != want.OrderCount || got.RevenueOrderCount != want.RevenueOrderCount {
		fail("orders %d (revenue %d), want %d (%d)", got.OrderCount, got.RevenueOrderCount, want.OrderCount, want.RevenueOrderCount)
	}
	if err := sameMoney(got.Revenue, want.Revenue); err != nil {
		fail("revenue: %v", err)
	}
	if err := sameMoney(got.AverageOrderValue, want.AverageOrderValue); err != nil {
		fail("average order value: %v", err)
	}
	if !slices.Equal(got.OrdersByStatus, want.OrdersByStatus) {
		fail("by status %v, want %v", got.OrdersByStatus, want.OrdersByStatus)
	}
	if len(got.Series) != len(want.Series) {
		fail("%d buckets, want %d", len(got.Series), len(want.Series))
	}
	for i := range got.Series {
		g, w := got.Series[i], want.Series[i]
		if !g.Start.Equal(w.Start) || (!w.End.IsZero() && !g.End.Equal(w.End)) || !g.End.After(g.Start) {
			fail("bucket %d spans %v–%v, want %v–%v", i, g.Start, g.End, w.Start, w.End)
		}
		if g.OrderCount != w.OrderCount {
			fail("bucket %d (%v): %d orders, want %d", i, g.Start, g.OrderCount, w.OrderCount)
		}
		if err := sameMoney(g.Revenue, w.Revenue); err != nil {
			fail("bucket %d (%v) revenue: %v", i, g.Start, err)
		}
	}
	if len(got.TopCustomers) != len(want.TopCustomers) {
		fail("top customers %v, want %v", got.TopCustomers, want.TopCustomers)
	}
	for i := range got.TopCustomers {
		g, w := got.TopCustomers[i], want.TopCustomers[i]
		if g.CustomerID != w.CustomerID || g.OrderCount != w.OrderCount {
			fail("top customer %d: %s with %d orders, want %s with %d", i, g.CustomerID, g.OrderCount, w.CustomerID, w.OrderCount)
		}
		if err := sameMoney(g.Revenue, w.Revenue); err != nil {
			fail("top customer %d revenue: %v", i, err)
		}
	}
}

func mustParse(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAnalyticsGroundTruth: random orders from late February to mid
// November 2026, which holds both daylight saving changes of Europe and North
// America and the April one of Australia, many of them within two hours of a
// UTC midnight, some exactly on a whole hour and some within minutes of a
// quarter hour, compared for every granularity, in time zones with whole,
// half and three-quarter hour offsets, changes of half an hour, two hours and
// at midnight, over ranges that start and end on and off bucket edges and on
// a change.
func TestAnalyticsGroundTruth(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	start, end := mustParse(t, "2026-02-25T00:00:00Z"), mustParse(t, "2026-11-10T00:00:00Z")
	span := end.Sub(start)
	w.insertRandomOrders(t, rng, 2500, w.allProjects, func() time.Time {
		switch rng.IntN(10) {
		case 0, 1, 2:
			// Near a UTC midnight: Berlin's and London's day edges.
			day := start.AddDate(0, 0, rng.IntN(int(span.Hours()/24)))
			return day.Add(time.Duration(rng.Int64N(int64(4*time.Hour))) - 2*time.Hour)
		case 3:
			// Exactly on an hour, so on some zone's bucket edge.
			return start.Add(time.Duration(rng.IntN(int(span.Hours()))) * time.Hour)
		case 4:
			// Within a few minutes of a quarter hour: either side of the
			// hour columns' edges and of :30 and :45 zones' edges.
			return start.Add(time.Duration(rng.IntN(int(span.Hours()*4)))*15*time.Minute + time.Duration(rng.Int64N(int64(6*time.Minute))) - 3*time.Minute)
		default:
			return start.Add(time.Duration(rng.Int64N(int64(span))))
		}
	})
	// And some through the service, which the triggers see as its own
	// statements.
	ctx := adminCtx(context.Background())
	for i := 0; i < 5; i++ {
		o, err := w.Orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: w.Project.ID, CustomerID: &w.Customer.ID, Currency: "EUR",
			Items: []switchyard.OrderItemInput{{SKU: "A", Name: "A", Quantity: i + 1, UnitPrice: "19.99"}}})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := w.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPaid, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkRollups(t, w.DB)

	ranges := []switchyard.AnalyticsRange{
		{From: start, To: end},
		// Off every edge, across Europe's spring change.
		{From: mustParse(t, "2026-03-26T10:17:03Z"), To: mustParse(t, "2026-04-02T13:00:00Z")},
		// Across the autumn changes, ending on a UTC midnight.
		{From: mustParse(t, "2026-10-20T23:30:00Z"), To: mustParse(t, "2026-11-03T00:00:00Z")},
		// Shorter than a day, around a UTC midnight.
		{From: mustParse(t, "2026-06-10T21:00:00Z"), To: mustParse(t, "2026-06-11T02:30:00Z")},
		// Empty.
		{From: mustParse(t, "2026-06-10T21:00:00Z"), To: mustParse(t, "2026-06-10T21:00:00Z")},
		// Before any order: every bucket is zero.
		{From: mustParse(t, "2025-01-01T00:00:00Z"), To: mustParse(t, "2025-03-01T00:00:00Z")},
		// From North America's spring change (02:00 in Los Angeles) to the
		// morning of a UTC day whose early hours hold the last inner edge
		// there, across Europe's and Troll's changes.
		{From: mustParse(t, "2026-03-08T10:00:00Z"), To: mustParse(t, "2026-03-30T09:00:00Z")},
		// Across the April changes of the southern hemisphere (Sydney,
		// Lord Howe's half hour, Chatham, Santiago's midnight), starting
		// late in a UTC day whose evening holds the first edge east of UTC.
		{From: mustParse(t, "2026-03-30T13:00:00Z"), To: mustParse(t, "2026-04-12T13:00:00Z")},
		// Across Cuba's autumn change at 01:00 and the US one.
		{From: mustParse(t, "2026-10-28T05:00:00Z"), To: mustParse(t, "2026-11-05T05:00:00Z")},
	}
	zones := []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Sydney", "America/St_Johns",
		// Lord Howe moves its clocks by half an hour; Chatham is +12:45 and
		// +13:45; Troll jumps two hours; Santiago and Havana change at
		// midnight, so a day starts at 01:00; Dubai's days start at 20:00
		// UTC; Kiritimati is +14, Pago Pago -11.
		"Australia/Lord_Howe", "Pacific/Chatham", "Antarctica/Troll", "America/Santiago", "America/Havana", "Asia/Dubai", "Pacific/Kiritimati", "Pacific/Pago_Pago"}
	for _, g := range []switchyard.Granularity{"HOUR", "DAY", "WEEK", "MONTH"} {
		for _, tz := range zones {
			for ri, r := range ranges {
				if g == "HOUR" && ri == 0 && tz != "Europe/Berlin" {
					continue // 6,000 hours once is enough
				}
				if g == "HOUR" && tz == "Australia/Lord_Howe" {
					// When the clocks go back half an hour, an hour lasts 90
					// minutes until the clock next reads :00; the truth's
					// date_trunc and hourly generate_series cannot say that.
					// Hourly series read the orders directly, as before 0009.
					continue
				}
				q := switchyard.AnalyticsQuery{Range: r, Granularity: g, TimeZone: tz}
				label := fmt.Sprintf("%s %s %v–%v", g, tz, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
				got, err := w.Analytics.Analytics(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", label, err)
				}
				compareAnalytics(t, label, got, w.truth(t, w.allProjects, q))
			}
		}
	}
}

// checkRollups compares the rollup tables with the orders they summarize.
func checkRollups(t *testing.T, db *DB) {
	t.Helper()
	const fromOrders = `SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, count(*),
			count(*) FILTER (WHERE status = 'PENDING'), count(*) FILTER (WHERE status = 'PAID'),
			count(*) FILTER (WHERE status = 'FULFILLED'), count(*) FILTER (WHERE status = 'SHIPPED'),
			count(*) FILTER (WHERE status = 'DELIVERED'), count(*) FILTER (WHERE status = 'CANCELLED'),
			count(*) FILTER (WHERE status = 'REFUNDED'),
			coalesce(sum(total) FILTER (WHERE status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0)
		FROM orders GROUP BY 1, 2, 3`
	const rollup = `SELECT project_id, day, currency, orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue
		FROM order_daily_stats WHERE orders <> 0`
	var diff int
	err := db.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM ((`+fromOrders+` EXCEPT `+rollup+`) UNION ALL (`+rollup+` EXCEPT `+fromOrders+`)) d)
		+ (SELECT count(*) FROM order_daily_stats WHERE orders = 0 AND (pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue) <> (0, 0, 0, 0, 0, 0, 0, 0))
		+ (SELECT count(*) FROM (
			(SELECT project_id, customer_id, count(*)::bigint FROM orders GROUP BY 1, 2
			 EXCEPT SELECT project_id, customer_id, orders FROM order_customer_stats WHERE orders <> 0)
			UNION ALL
			(SELECT project_id, customer_id, orders FROM order_customer_stats WHERE orders <> 0
			 EXCEPT SELECT project_id, customer_id, count(*)::bigint FROM orders GROUP BY 1, 2)) c)
		+ (SELECT count(*) FROM (
			(SELECT customer_id, count(*)::bigint FROM orders GROUP BY 1
			 EXCEPT SELECT customer_id, orders FROM customer_order_totals WHERE orders <> 0)
			UNION ALL
			(SELECT customer_id, orders FROM customer_order_totals WHERE orders <> 0
			 EXCEPT SELECT customer_id, count(*)::bigint FROM orders GROUP BY 1)) g)`).Scan(&diff)
	if err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Fatalf("the rollups differ from the orders in %d rows", diff)
	}

	// The hour columns of 0009: the orders and revenue of each day's first
	// hours.
	var fromHours, rollupHours []string
	for h := 1; h <= 23; h++ {
		fromHours = append(fromHours, fmt.Sprintf("count(*) FILTER (WHERE created_at < day + interval '%d hours')", h))
		rollupHours = append(rollupHours, fmt.Sprintf("orders_h%02d", h))
	}
	for h := 1; h <= 23; h++ {
		fromHours = append(fromHours, fmt.Sprintf(`coalesce(sum(total) FILTER (WHERE created_at < day + interval '%d hours'
			AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0)`, h))
		rollupHours = append(rollupHours, fmt.Sprintf("revenue_h%02d", h))
	}
	hoursFromOrders := `SELECT project_id, day, currency, ` + strings.Join(fromHours, ", ") + `
		FROM (SELECT o.*, (o.created_at AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' AS day FROM orders o) o
		GROUP BY 1, 2, 3`
	hoursRollup := `SELECT project_id, day::timestamp AT TIME ZONE 'UTC', currency, ` + strings.Join(rollupHours, ", ") + `
		FROM order_daily_stats WHERE orders <> 0`
	err = db.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM ((`+hoursFromOrders+` EXCEPT `+hoursRollup+`) UNION ALL (`+hoursRollup+` EXCEPT `+hoursFromOrders+`)) d)
		+ (SELECT count(*) FROM order_daily_stats WHERE orders = 0 AND (`+strings.Join(rollupHours, ", ")+`) <> (`+strings.TrimSuffix(strings.Repeat("0, ", 46), ", ")+`))`).Scan(&diff)
	if err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Fatalf("the hour columns differ from the orders in %d rows", diff)
	}
}

// TestRevenueStatusesMatchRollup: order_daily_stats.revenue sums the statuses
// migration 0006 names; the Go definition must not drift from it.
func TestRevenueStatusesMatchRollup(t *testing.T) {
	if got := revenueStatuses(); !slices.Equal(got, []string{"PAID", "FULFILLED", "SHIPPED", "DELIVERED"}) {
		t.Fatalf("revenue statuses %v differ from migration 0006's; add a migration that recomputes order_daily_stats.revenue", got)
	}
}

// TestAnalyticsTopCustomersByBounds forces every path of the top customers:
// counted from the upper bounds, with candidates in small batches, and given
// up on when the candidates run out.
func TestAnalyticsTopCustomersByBounds(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	start := mustParse(t, "2026-01-01T00:00:00Z")
	w.insertRandomOrders(t, rng, 1500, w.allProjects, func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
	})
	ranges := []switchyard.AnalyticsRange{
		{From: start, To: start.AddDate(1, 0, 0)},                  // everything: the bounds are exact
		{From: start.AddDate(0, 3, 0), To: start.AddDate(0, 4, 0)}, // a month: the bounds are loose
	}
	tunings := []topTuning{
		{rawOrders: 0, maxCandidates: 200, batch: 20},
		{rawOrders: 0, maxCandidates: 200, batch: 1},
		{rawOrders: 0, maxCandidates: 3, batch: 2}, // never certain: falls back
		{rawOrders: 0, maxCandidates: 12, batch: 5},
	}
	for _, tu := range tunings {
		svc := &AnalyticsService{db: w.DB, top: tu}
		for _, r := range ranges {
			for _, who := range []struct {
				ctx      context.Context
				projects []string
			}{
				{adminCtx(context.Background()), w.allProjects},
				{userCtx(context.Background(), w.Owner), w.ownerSees},
				{userCtx(context.Background(), w.Other), []string{w.OtherProject.ID}},
			} {
				q := switchyard.AnalyticsQuery{Range: r}
				got, err := svc.Analytics(who.ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				compareAnalytics(t, fmt.Sprintf("%+v %v", tu, r), got, w.truth(t, who.projects, q))
			}
		}
	}
}

// TestAnalyticsAccess is the authorization matrix: who sees which projects'
// numbers, and what an unreadable project answers.
func TestAnalyticsAccess(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	rng := rand.New(rand.NewPCG(3, 5))
	start := mustParse(t, "2026-05-01T00:00:00Z")
	w.insertRandomOrders(t, rng, 400, w.allProjects, func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
	})
	r := switchyard.AnalyticsRange{From: start, To: start.AddDate(0, 1, 0)}
	bg := context.Background()
	unknown := "00000000-0000-4000-8000-000000000123"
	cases := []struct {
		name    string
		ctx     context.Context
		project *string
		// sees is what the answer must equal; code the error instead.
		sees []string
		code string
	}{
		{name: "anonymous, all", ctx: anonCtx(bg), code: switchyard.EUNAUTHENTICATED},
		{name: "anonymous, project", ctx: anonCtx(bg), project: &w.Project.ID, code: switchyard.EUNAUTHENTICATED},
		{name: "admin, all (deleted projects too)", ctx: userCtx(bg, w.Admin), sees: w.allProjects},
		{name: "admin, project", ctx: userCtx(bg, w.Admin), project: &w.OtherProject.ID, sees: []string{w.OtherProject.ID}},
		{name: "admin, deleted project", ctx: userCtx(bg, w.Admin), project: &w.Deleted.ID, sees: []string{w.Deleted.ID}},
		{name: "admin, unknown project", ctx: userCtx(bg, w.Admin), project: &unknown, code: switchyard.ENOTFOUND},
		{name: "owner, all: both of theirs", ctx: userCtx(bg, w.Owner), sees: w.ownerSees},
		{name: "owner, own project", ctx: userCtx(bg, w.Owner), project: &w.Project2.ID, sees: []string{w.Project2.ID}},
		{name: "member, all: not the deleted one", ctx: userCtx(bg, w.Member), sees: []string{w.Project.ID}},
		{name: "member, project", ctx: userCtx(bg, w.Member), project: &w.Project.ID, sees: []string{w.Project.ID}},
		{name: "member, deleted project", ctx: userCtx(bg, w.Member), project: &w.Deleted.ID, code: switchyard.ENOTFOUND},
		{name: "member, other tenant's project", ctx: userCtx(bg, w.Member), project: &w.OtherProject.ID, code: switchyard.ENOTFOUND},
		{name: "other member, all", ctx: userCtx(bg, w.OtherMate), sees: []string{w.OtherProject.ID}},
		{name: "other member, first tenant's project", ctx: userCtx(bg, w.OtherMate), project: &w.Project.ID, code: switchyard.ENOTFOUND},
		{name: "customer, all: their orders are not their business", ctx: userCtx(bg, w.Customer), sees: []string{}},
		{name: "customer, the project they order in", ctx: userCtx(bg, w.Customer), project: &w.Project.ID, code: switchyard.ENOTFOUND},
		{name: "malformed project id", ctx: userCtx(bg, w.Admin), project: ptr("not-a-uuid"), code: switchyard.ENOTFOUND},
		{name: "upper-case project id", ctx: userCtx(bg, w.Member), project: ptr(strings.ToUpper(w.Project.ID)), sees: []string{w.Project.ID}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := switchyard.AnalyticsQuery{ProjectID: c.project, Range: r, TimeZone: "Europe/Berlin"}
			got, err := w.Analytics.Analytics(c.ctx, q)
			if c.code != "" {
				wantCode(t, err, c.code)
				if c.code == switchyard.ENOTFOUND && switchyard.ErrorField(err) != "projectId" {
					t.Fatalf("NOT_FOUND names %q, want projectId", switchyard.ErrorField(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := w.truth(t, c.sees, q)
			if len(c.sees) > 0 && want.OrderCount == 0 {
				t.Fatal("the fixture has no orders in the projects the caller sees")
			}
			compareAnalytics(t, c.name, got, want)
		})
	}
}

// TestAnalyticsBadInput: every refusal names its argument, and comes before
// any database work.
func TestAnalyticsBadInput(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	svc := NewAnalyticsService(db)
	from := mustParse(t, "2026-01-01T00:00:00Z")
	ctx := adminCtx(context.Background())
	cases := []struct {
		name  string
		ctx   context.Context
		q     switchyard.AnalyticsQuery
		code  string
		field string
	}{
		{name: "from after to", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(-time.Nanosecond)}}, code: switchyard.EINVALID, field: "range.from"},
		{name: "unknown time zone", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(0, 1, 0)}, TimeZone: "Europe/Atlantis"}, code: switchyard.EINVALID, field: "timeZone"},
		{name: "offset is not a zone name", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(0, 1, 0)}, TimeZone: "+02:00"}, code: switchyard.EINVALID, field: "timeZone"},
		{name: "over 10,000 hours", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(2, 0, 0)}, Granularity: "HOUR"}, code: switchyard.EINVALID, field: "range"},
		{name: "over 10,000 days", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(30, 0, 0)}}, code: switchyard.EINVALID, field: "range"},
		{name: "unknown granularity", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from}, Granularity: "DECADE"}, code: switchyard.EINVALID, field: "granularity"},
		{name: "anonymous before bad input", ctx: anonCtx(context.Background()), q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(-time.Hour)}}, code: switchyard.EUNAUTHENTICATED},
		{name: "10,000 days are fine", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(0, 0, 10_000)}}},
		{name: "10,000 hours are fine", ctx: ctx, q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(10_000 * time.Hour)}, Granularity: "HOUR"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := svc.Analytics(c.ctx, c.q)
			wantCode(t, err, c.code)
			if c.code == "" {
				if len(a.Series) != 10_000 || a.OrderCount != 0 {
					t.Fatalf("%d buckets, %d orders", len(a.Series), a.OrderCount)
				}
				return
			}
			if switchyard.ErrorField(err) != c.field {
				t.Fatalf("field %q, want %q (%v)", switchyard.ErrorField(err), c.field, err)
			}
		})
	}
}

// TestAnalyticsEmptyBucketsAndEdges pins a small case by hand: an order at
// 23:30 UTC is the next day in Berlin, empty days are zero in every currency
// of the range, and a refund leaves the order counted but not its money.
func TestAnalyticsEmptyBucketsAndEdges(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	ctx := context.Background()
	for _, o := range []struct{ at, status, currency, total string }{
		{"2026-03-02T23:30:00Z", "PAID", "EUR", "10.00"},
		{"2026-03-02T12:00:00Z", "DELIVERED", "USD", "5.50"},
		{"2026-03-04T12:00:00Z", "REFUNDED", "USD", "99.99"},
		{"2026-03-04T13:00:00Z", "PENDING", "JPY", "1200"},
	} {
		if _, err := w.DB.Pool().Exec(ctx, `INSERT INTO orders (project_id, customer_id, status, currency, total, created_at)
			VALUES ($1, $2, $3, $4, $5::numeric, $6)`, w.Project.ID, w.Customer.ID, o.status, o.currency, o.total, mustParse(t, o.at)); err != nil {
			t.Fatal(err)
		}
	}
	r := switchyard.AnalyticsRange{From: mustParse(t, "2026-03-01T23:00:00Z"), To: mustParse(t, "2026-03-05T23:00:00Z")}
	type day struct {
		orders int
		usd    string
		eur    string
	}
	for _, c := range []struct {
		tz   string
		want []day
	}{
		{tz: "UTC", want: []day{{0, "0.00", "0.00"}, {2, "5.50", "10.00"}, {0, "0.00", "0.00"}, {2, "0.00", "0.00"}, {0, "0.00", "0.00"}}},
		{tz: "Europe/Berlin", want: []day{{1, "5.50", "0.00"}, {1, "0.00", "10.00"}, {2, "0.00", "0.00"}, {0, "0.00", "0.00"}}},
	} {
		a, err := w.Analytics.Analytics(adminCtx(ctx), switchyard.AnalyticsQuery{Range: r, TimeZone: c.tz})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Series) != len(c.want) {
			t.Fatalf("%s: %d buckets, want %d", c.tz, len(a.Series), len(c.want))
		}
		for i, want := range c.want {
			b := a.Series[i]
			got := day{b.OrderCount, string(b.Revenue[2].Amount), string(b.Revenue[0].Amount)}
			if got != want || len(b.Revenue) != 3 || b.Revenue[1] != (switchyard.Money{Amount: "0", Currency: "JPY"}) {
				t.Fatalf("%s bucket %d (%v): %+v %v, want %+v", c.tz, i, b.Start, got, b.Revenue, want)
			}
		}
		if a.OrderCount != 4 || a.RevenueOrderCount != 2 {
			t.Fatalf("%s: %d orders, %d revenue orders", c.tz, a.OrderCount, a.RevenueOrderCount)
		}
		wantRevenue := []switchyard.Money{{Amount: "10.00", Currency: "EUR"}, {Amount: "0", Currency: "JPY"}, {Amount: "5.50", Currency: "USD"}}
		if !slices.Equal(a.Revenue, wantRevenue) {
			t.Fatalf("%s: revenue %v", c.tz, a.Revenue)
		}
		if len(a.TopCustomers) != 1 || a.TopCustomers[0].CustomerID != w.Customer.ID || a.TopCustomers[0].OrderCount != 4 {
			t.Fatalf("%s: top customers %+v", c.tz, a.TopCustomers)
		}
	}
}

// TestAmount: the fixed-point sums agree with exact rationals, rounding half
// away from zero, for both signs and for text with more decimals than the
// fast path keeps.
func TestAmount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 500; trial++ {
		var a amount
		want := new(big.Rat)
		for i := 0; i < 1+rng.IntN(20); i++ {
			scale := rng.IntN(7)
			if rng.IntN(50) == 0 {
				scale = 10 + rng.IntN(3)
			}
			text := string(switchyard.DecimalFromRat(big.NewRat(rng.Int64N(2_000_000_000)-500_000_000, int64(math.Pow10(rng.IntN(4)))), scale))
			sign := int64(1)
			if rng.IntN(3) == 0 {
				sign = -1
			}
			a.addText(text, sign)
			r, _ := new(big.Rat).SetString(text)
			if sign < 0 {
				r.Neg(r)
			}
			want.Add(want, r)
		}
		if trial%50 == 0 {
			// Past what an int64 of millionths holds, both ways, and
			// more integer digits than the fast path reads.
			sign := int64(1 - 2*(trial/50%2))
			for i := 0; i < 12; i++ {
				a.addText("999999999999.5", sign)
				r, _ := new(big.Rat).SetString("999999999999.5")
				want.Add(want, r.Mul(r, big.NewRat(sign, 1)))
			}
			a.addText("9000000000000.25", 1)
			r, _ := new(big.Rat).SetString("9000000000000.25")
			want.Add(want, r)
		}
		for _, scale := range []int{0, 2, 3, 6} {
			if got, w := a.decimal(scale), switchyard.DecimalFromRat(want, scale); got != w {
				t.Fatalf("trial %d: decimal(%d) = %s, want %s (exact %s)", trial, scale, got, w, want.RatString())
			}
		}
		if a.rat().Cmp(want) != 0 {
			t.Fatalf("rat = %s, want %s", a.rat().RatString(), want.RatString())
		}
	}
	for _, c := range []struct {
		in    string
		scale int
		want  switchyard.Decimal
	}{{"0.005", 2, "0.01"}, {"-0.005", 2, "-0.01"}, {"0.004", 2, "0.00"}, {"-0.004", 2, "0.00"}, {"12.5", 0, "13"}, {"-12.5", 0, "-13"}, {"0", 3, "0.000"}, {"1234567890123.123456", 2, "1234567890123.12"}} {
		var a amount
		a.addText(c.in, 1)
		if got := a.decimal(c.scale); got != c.want {
			t.Errorf("%s at %d = %s, want %s", c.in, c.scale, got, c.want)
		}
	}
}

// TestAnalyticsRollupsUnderConcurrentWrites: orders created, moved along
// their lifecycle and shipped from several connections at once, in the same
// projects, days and currencies, leave the rollups equal to the orders, with
// no deadlock.
func TestAnalyticsRollupsUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	ctx := adminCtx(context.Background())
	const workers, perWorker = 6, 15
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		go func(i int) {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for j := 0; j < perWorker; j++ {
				p := []*switchyard.Project{w.Project, w.Project2}[rng.IntN(2)]
				cur := []string{"USD", "EUR"}[rng.IntN(2)]
				o, err := w.Orders.CreateOrder(ctx, switchyard.OrderCreate{ProjectID: p.ID, CustomerID: &w.customers[rng.IntN(len(w.customers))].ID, Currency: cur,
					Items: []switchyard.OrderItemInput{{SKU: "S", Name: "S", Quantity: 1 + rng.IntN(3), UnitPrice: "10.25"}}})
				if err != nil {
					errs <- err
					return
				}
				if rng.IntN(3) > 0 {
					if _, err := w.Orders.UpdateOrderStatus(ctx, o.ID, switchyard.OrderPaid, nil); err != nil {
						errs <- err
						return
					}
					if rng.IntN(2) == 0 {
						if _, err := w.Orders.SetOrderShipment(ctx, o.ID, switchyard.Shipment{Carrier: "DHL", TrackingNumber: "1"}); err != nil {
							errs <- err
							return
						}
					}
				} else if _, err := w.Orders.CancelOrder(ctx, o.ID, nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(i)
	}
	for i := 0; i < workers; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkRollups(t, w.DB)
	q := switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}, TimeZone: "Asia/Kolkata"}
	got, err := w.Analytics.Analytics(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderCount != workers*perWorker {
		t.Fatalf("%d orders, want %d", got.OrderCount, workers*perWorker)
	}
	compareAnalytics(t, "after concurrent writes", got, w.truth(t, w.allProjects, q))
}

// TestPlanCuts: every cut is its anchor plus its hour columns plus or minus
// the orders read, anchors never go back, inner cuts on whole UTC hours read
// no orders, and only the range's ends read more than half an hour.
func TestPlanCuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 4))
	zones := []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dubai", "Pacific/Kiritimati",
		"Pacific/Pago_Pago", "Australia/Lord_Howe", "America/Santiago", "America/Havana", "Antarctica/Troll"}
	base := mustParse(t, "2026-01-01T00:00:00Z")
	for trial := 0; trial < 3000; trial++ {
		from := base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		if trial%3 == 0 {
			from = from.Truncate(time.Hour)
		}
		q := switchyard.AnalyticsQuery{
			Range:       switchyard.AnalyticsRange{From: from, To: from.Add(72*time.Hour + time.Duration(rng.Int64N(int64(200*24*time.Hour))))},
			Granularity: []switchyard.Granularity{"DAY", "WEEK", "MONTH"}[rng.IntN(3)],
			TimeZone:    zones[rng.IntN(len(zones))],
		}
		buckets, err := q.Buckets()
		if err != nil {
			t.Fatal(err)
		}
		c := planCuts(q.Range, buckets)
		n := len(buckets)
		label := fmt.Sprintf("%s %s %v–%v", q.Granularity, q.TimeZone, q.Range.From, q.Range.To)
		for i := 0; i <= n; i++ {
			cut := q.Range.To
			if i < n {
				cut = buckets[i]
			}
			if i == 0 {
				cut = q.Range.From
			}
			if i > 0 && c.anchors[i].Before(c.anchors[i-1]) {
				t.Fatalf("%s: anchor %d %v before anchor %d %v", label, i, c.anchors[i], i-1, c.anchors[i-1])
			}
			if !c.anchors[i].Equal(utcDay(c.anchors[i])) || c.hours[i] < 0 || c.hours[i] > 23 || ((i == 0 || i == n) && c.hours[i] != 0) {
				t.Fatalf("%s: cut %d anchored at %v + %d hours", label, i, c.anchors[i], c.hours[i])
			}
			at := c.anchors[i].Add(time.Duration(c.hours[i]) * time.Hour)
			j := slices.Index(c.cuts, int32(i))
			var read time.Duration
			if j >= 0 {
				read = c.hi[j].Sub(c.lo[j])
				if c.signs[i] > 0 {
					at = at.Add(read)
				} else {
					at = at.Add(-read)
				}
			}
			if !at.Equal(cut) {
				t.Fatalf("%s: cut %d is %v, the plan says %v", label, i, cut, at)
			}
			// Inner cuts read half an hour at most, none on a whole hour;
			// but the second when the first bucket starts late in the UTC
			// day its first edge ends.
			second := i == 1 && utcDay(q.Range.From.Add(12*time.Hour)).After(utcDay(cut.Add(30*time.Minute)))
			if i > 0 && i < n && !second && (read > 30*time.Minute || (cut.Equal(cut.Truncate(time.Hour)) && read != 0)) {
				t.Fatalf("%s: inner cut %d at %v reads %v of orders", label, i, cut, read)
			}
			if read > 12*time.Hour {
				t.Fatalf("%s: cut %d reads %v of orders", label, i, read)
			}
		}
	}
}
