package postgres

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// AnalyticsService implements switchyard.AnalyticsService with aggregates over
// the rollups of migrations 0006 and 0009 and, where a bucket edge is not on a
// whole UTC hour, over the orders themselves.
//
// How a bucket is summed: order_daily_stats holds whole UTC days, each split
// by its hour columns into the orders of its first hours. F(t), the sum of
// everything before t, is the days before a UTC midnight near t, the hour
// columns of t's day up to the whole hour nearest t, and the orders between
// that hour and t; a bucket [s, e) is F(e) - F(s) (see cutPlan). In UTC every
// edge is a midnight; in Berlin or Los Angeles each edge is one hour column of
// one row per project and currency; in India (+05:30) each also reads the
// orders of half an hour. Only the range's own ends read up to twelve hours
// of orders, since the totals per status need theirs. Hourly buckets read the
// orders directly, since a day's rollup cannot split them, and so do ranges
// of a few days, which hold fewer orders than their edges would read.
//
// All statements of one call run in one read-only REPEATABLE READ
// transaction, so the rollups and the orders are read at the same instant and
// the numbers add up.
type AnalyticsService struct {
	db  *DB
	top topTuning
}

// NewAnalyticsService returns the analytics service over db.
func NewAnalyticsService(db *DB) *AnalyticsService {
	return &AnalyticsService{db: db, top: defaultTopTuning}
}

var _ switchyard.AnalyticsService = (*AnalyticsService)(nil)

// revenueStatuses are the statuses that count as revenue, for SQL.
func revenueStatuses() []string {
	var out []string
	for _, s := range switchyard.OrderStatuses() {
		if s.CountsAsRevenue() {
			out = append(out, string(s))
		}
	}
	return out
}

// scopeFunc returns the condition that a row of alias (which has a
// project_id) belongs to the analysed projects, adding its values to ps.
type scopeFunc func(alias string, ps *params) string

// projectScope is the scope of the projects ids. Every read names them: the
// planner then walks each project's part of an index instead of filtering
// every row.
func projectScope(ids []string) scopeFunc {
	return func(alias string, ps *params) string {
		return alias + ".project_id = ANY(" + ps.add(ids) + "::uuid[])"
	}
}

// analysedProjects returns the ids of the projects an analytics query covers:
// the one asked for if c may read its numbers (readable is false when not),
// else every project whose numbers c reads (canReadAnalytics).
func analysedProjects(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, projectID *string) (ids []string, readable bool, err error) {
	var ps params
	cond := canReadAnalytics(c, "p", &ps)
	if projectID != nil {
		cond += " AND p.id = " + ps.add(strings.ToLower(*projectID)) + "::uuid"
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(p.id::text ORDER BY p.id), '{}') FROM projects p WHERE `+cond, ps...).Scan(&ids); err != nil {
		return nil, false, err
	}
	return ids, projectID == nil || len(ids) == 1, nil
}

// Analytics computes the analytics of q.
func (s *AnalyticsService) Analytics(ctx context.Context, q switchyard.AnalyticsQuery) (*switchyard.Analytics, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	buckets, err := q.Buckets()
	if err != nil {
		return nil, err
	}
	notFound := &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "projectId", Message: "project not found"}
	if q.ProjectID != nil && !validID(*q.ProjectID) {
		return nil, notFound
	}

	out := &switchyard.Analytics{From: q.Range.From, To: q.Range.To, Granularity: q.Granularity, TimeZone: q.TimeZone}
	err = pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The planner cannot know how many orders the edge ranges hold and
		// may guess millions; compiling a plan for them would cost more than
		// running it.
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		projects, readable, err := analysedProjects(ctx, tx, c, q.ProjectID)
		if err != nil {
			return err
		}
		if !readable {
			return notFound
		}
		// An admin's all is every project there is: the reads then need no
		// condition rather than one every row passes.
		all := c.IsAdmin() && q.ProjectID == nil
		scope := projectScope(projects)
		if all {
			scope = func(string, *params) string { return "TRUE" }
		}
		totals := newBucketTotals(len(buckets))
		if len(projects) > 0 && len(buckets) > 0 {
			if err := readSeries(ctx, tx, &q, buckets, scope, totals); err != nil {
				return err
			}
		}
		summarize(out, &q, buckets, totals)
		out.IntegrationHealth = []switchyard.IntegrationDeliveryHealth{}
		if !q.SkipIntegrationHealth && len(projects) > 0 {
			if out.IntegrationHealth, err = integrationHealth(ctx, tx, c, q.Range, scope); err != nil {
				return err
			}
		}
		out.TopCustomers = []switchyard.TopCustomer{}
		if q.SkipTopCustomers || out.OrderCount == 0 {
			return nil
		}
		out.TopCustomers, err = s.top.topCustomers(ctx, tx, &q, projects, scope, all, out.OrderCount)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// bucketTotals accumulates what each bucket holds, per currency: its orders
// per status (in OrderStatuses order) and its revenue.
type bucketTotals []map[string]*currencyTotal

type currencyTotal struct {
	byStatus []int64
	// moved counts orders moved into (or, negative, out of) the bucket
	// without their status: the hour-column parts of cuts inside the range,
	// which leave the totals per status unchanged.
	moved   int64
	revenue amount
}

func newBucketTotals(n int) bucketTotals { return make(bucketTotals, n) }

func (t bucketTotals) at(bucket int, currency string) *currencyTotal {
	if t[bucket] == nil {
		t[bucket] = map[string]*currencyTotal{}
	}
	ct := t[bucket][currency]
	if ct == nil {
		ct = &currencyTotal{byStatus: make([]int64, len(switchyard.OrderStatuses()))}
		t[bucket][currency] = ct
	}
	return ct
}

// statusIndex is each status's place in OrderStatuses.
var statusIndex = func() map[switchyard.OrderStatus]int {
	m := map[switchyard.OrderStatus]int{}
	for i, s := range switchyard.OrderStatuses() {
		m[s] = i
	}
	return m
}()

// addOrders adds sign times n orders in status whose totals sum to sum
// (numeric text).
func (t bucketTotals) addOrders(bucket int, currency string, status switchyard.OrderStatus, n int64, sum string, sign int64) {
	i, ok := statusIndex[status]
	if !ok || bucket < 0 || bucket >= len(t) {
		return
	}
	ct := t.at(bucket, currency)
	ct.byStatus[i] += sign * n
	if status.CountsAsRevenue() {
		ct.revenue.addText(sum, sign)
	}
}

// move moves n orders with revenue sum (numeric text) across cut: into the
// bucket before it, out of the bucket after it.
func (t bucketTotals) move(cut int, currency string, n int64, sum string) {
	if n == 0 && (sum == "0" || sum == "") {
		return
	}
	for _, m := range []struct {
		bucket int
		sign   int64
	}{{cut - 1, 1}, {cut, -1}} {
		if m.bucket < 0 || m.bucket >= len(t) {
			continue
		}
		ct := t.at(m.bucket, currency)
		ct.moved += m.sign * n
		ct.revenue.addText(sum, m.sign)
	}
}

// amount is an exact sum of numeric text, kept as a whole number of
// millionths (totals have at most six decimals, see switchyard.Decimal) in an
// int64 while it fits and a big.Int beyond: integer additions need none of
// the normalizing a big.Rat does at every step. Text with more decimals (only
// rows written by hand) is added exactly through a big.Rat instead.
type amount struct {
	micros int64
	big    *big.Int
	odd    *big.Rat
}

const microDigits = 6

var (
	microScale = big.NewInt(1_000_000)
	pow10      = [...]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000}
)

func (a *amount) addText(s string, sign int64) {
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	if v, ok := parseMicros(whole, frac); ok {
		if neg != (sign < 0) {
			v = -v
		}
		a.addMicros(v)
		return
	}
	r := parseRat(s)
	if sign < 0 {
		r.Neg(r)
	}
	if a.odd == nil {
		a.odd = new(big.Rat)
	}
	a.odd.Add(a.odd, r)
}

// parseMicros reads the digits of a number's whole and fraction parts as
// millionths, when they fit an int64 without rounding.
func parseMicros(whole, frac string) (int64, bool) {
	if len(frac) > microDigits || len(whole) > 12 {
		return 0, false
	}
	var v, f int64
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		f = f*10 + int64(c-'0')
	}
	return v*pow10[microDigits] + f*pow10[microDigits-len(frac)], true
}

// addMicros adds v, moving to the big.Int when the int64 would overflow.
func (a *amount) addMicros(v int64) {
	if a.big == nil {
		if s := a.micros + v; (v >= 0) == (s >= a.micros) {
			a.micros = s
			return
		}
		a.big = big.NewInt(a.micros)
		a.micros = 0
	}
	a.big.Add(a.big, big.NewInt(v))
}

func (a *amount) add(b *amount) {
	if b.big != nil {
		if a.big == nil {
			a.big = big.NewInt(a.micros)
			a.micros = 0
		}
		a.big.Add(a.big, b.big)
	}
	a.addMicros(b.micros)
	if b.odd != nil {
		if a.odd == nil {
			a.odd = new(big.Rat)
		}
		a.odd.Add(a.odd, b.odd)
	}
}

// whole returns the micros as a big.Int.
func (a *amount) whole() *big.Int {
	if a.big != nil {
		return new(big.Int).Add(a.big, big.NewInt(a.micros))
	}
	return big.NewInt(a.micros)
}

func (a *amount) rat() *big.Rat {
	r := new(big.Rat).SetFrac(a.whole(), microScale)
	if a.odd != nil {
		r.Add(r, a.odd)
	}
	return r
}

// decimal formats a with scale decimals, rounding half away from zero.
func (a *amount) decimal(scale int) switchyard.Decimal {
	if a.odd != nil || a.big != nil || scale > microDigits {
		return switchyard.DecimalFromRat(a.rat(), scale)
	}
	div := pow10[microDigits-scale]
	q, r := a.micros/div, a.micros%div
	if 2*abs(r) >= div {
		if a.micros < 0 {
			q--
		} else {
			q++
		}
	}
	digits := strconv.FormatInt(abs(q), 10)
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if q < 0 {
		digits = "-" + digits
	}
	return switchyard.Decimal(digits)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// statusColumns lists format once per status, in OrderStatuses order, with
// %[1]s the status's column name in order_daily_stats (the status in lower
// case).
func statusColumns(format string) string {
	var cols []string
	for _, st := range switchyard.OrderStatuses() {
		cols = append(cols, fmt.Sprintf(format, strings.ToLower(string(st))))
	}
	return strings.Join(cols, ", ")
}

// orderGroups reads groups of orders: a key (the bucket of an hourly series,
// the cut of an edge), currency, status, count and sum of totals, and hands
// each to add.
func orderGroups(ctx context.Context, tx pgx.Tx, sql string, ps params, add func(key int, currency string, status switchyard.OrderStatus, n int64, sum string)) error {
	rows, err := tx.Query(ctx, sql, ps...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		key              int32
		currency, status string
		n                int64
		sum              string
	)
	for rows.Next() {
		if err := rows.Scan(&key, &currency, &status, &n, &sum); err != nil {
			return err
		}
		add(int(key), currency, switchyard.OrderStatus(status), n, sum)
	}
	return rows.Err()
}

// rawSeriesSpan is the range below which a series is grouped from the orders
// whatever its granularity.
const rawSeriesSpan = 72 * time.Hour

// readSeries adds what each bucket of q holds to totals. Hourly buckets are
// grouped from the orders; the others from the daily rollups with their hour
// columns and, for the range's ends and the edges off a whole UTC hour, the
// orders between. Orders are grouped by status in SQL
// and sorted into buckets here: a grouping by status is far cheaper for
// PostgreSQL than a filtered count per status.
func readSeries(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, buckets []time.Time, scope scopeFunc, totals bucketTotals) error {
	// A range of a few days holds fewer orders than its edges would read.
	if q.Granularity == switchyard.GranularityHour || q.Range.To.Sub(q.Range.From) < rawSeriesSpan {
		var ps params
		sql := fmt.Sprintf(`SELECT width_bucket(o.created_at, %s::timestamptz[]) - 1, o.currency, o.status, count(*), sum(o.total)::text
			FROM orders o
			WHERE o.created_at >= %s AND o.created_at < %s AND %s
			GROUP BY 1, 2, 3`,
			ps.add(buckets), ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps))
		return orderGroups(ctx, tx, sql, ps, func(bucket int, currency string, status switchyard.OrderStatus, n int64, sum string) {
			totals.addOrders(bucket, currency, status, n, sum, 1)
		})
	}

	c := planCuts(q.Range, buckets)
	if err := readDays(ctx, tx, c, scope, totals); err != nil {
		return err
	}
	if len(c.cuts) == 0 {
		return nil
	}
	// Each cut's orders count with its sign in the bucket before the cut
	// and against the bucket after it.
	var ps params
	sql := fmt.Sprintf(`SELECT x.cut, o.currency, o.status, count(*), sum(o.total)::text
		FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[]) AS x(cut, lo, hi)
		JOIN orders o ON o.created_at >= x.lo AND o.created_at < x.hi
		WHERE %s
		GROUP BY 1, 2, 3`,
		ps.add(c.cuts), ps.add(c.lo), ps.add(c.hi), scope("o", &ps))
	return orderGroups(ctx, tx, sql, ps, func(cut int, currency string, status switchyard.OrderStatus, n int64, sum string) {
		totals.addOrders(cut-1, currency, status, n, sum, c.signs[cut])
		totals.addOrders(cut, currency, status, n, sum, -c.signs[cut])
	})
}

// readDays adds the daily rollups of the days from the first cut's anchor to
// the last's to their buckets, and moves each hour-column part of a cut
// (cutPlan.hours) from the bucket after the cut to the bucket before it.
//
// The rows are grouped by bucket in SQL, the cheapest grouping PostgreSQL
// has. A cut's hour columns are those of its anchor's day. Where that day is
// its bucket's only day (every DAY series) the bucket's sum of the column is
// the day's, read in the same pass: one sum for orders and one for revenue,
// each row picking its day's column (the hour changes with daylight saving
// time). Otherwise (weeks, months) a second statement reads the hour columns
// of those days only.
func readDays(ctx context.Context, tx pgx.Tx, c cutPlan, scope scopeFunc, totals bucketTotals) error {
	n := len(c.anchors) - 1
	last := c.anchors[n]
	// group is the bucket of a day as width_bucket finds it over every
	// anchor: the last cut anchored at or before it; n for the last anchor's
	// day, which is past the range and read only for its hour columns.
	group := func(day time.Time) int {
		return sort.Search(n+1, func(i int) bool { return c.anchors[i].After(day) }) - 1
	}
	var (
		inPass  = map[int]int{}     // group -> the cut whose hour column it sums
		apart   = map[int64][]int{} // day (Unix) -> cuts whose hour columns need a read of their own
		own     []int
		days    []time.Time
		readEnd bool
		// The hour column each day of the pass reads, from each run's first
		// day on; anchors only grow.
		runs []struct {
			from time.Time
			hour int
		}
	)
	for i, h := range c.hours {
		if h == 0 {
			continue
		}
		day := c.anchors[i]
		g := group(day)
		_, taken := inPass[g]
		if !taken && (g == n || c.anchors[g+1].Equal(day.AddDate(0, 0, 1))) {
			inPass[g] = i
			readEnd = readEnd || g == n
			if len(runs) == 0 || runs[len(runs)-1].hour != h {
				runs = append(runs, struct {
					from time.Time
					hour int
				}{day, h})
			}
			continue
		}
		if len(apart[day.Unix()]) == 0 {
			days = append(days, day)
		}
		apart[day.Unix()] = append(apart[day.Unix()], i)
		own = append(own, i)
	}

	var ps params
	cols, pairs := "", 0
	if len(runs) > 0 {
		bounds := make([]string, len(runs))
		for k := 1; k < len(runs); k++ {
			bounds[k] = ps.add(runs[k].from) + "::date"
		}
		column := func(name string) string {
			if len(runs) == 1 {
				return fmt.Sprintf("s.%s_h%02d", name, runs[0].hour)
			}
			var b strings.Builder
			b.WriteString("CASE")
			for k := 1; k < len(runs); k++ {
				fmt.Fprintf(&b, " WHEN s.day < %s THEN s.%s_h%02d", bounds[k], name, runs[k-1].hour)
			}
			fmt.Fprintf(&b, " ELSE s.%s_h%02d END", name, runs[len(runs)-1].hour)
			return b.String()
		}
		cols, pairs = fmt.Sprintf(", sum(%s)::bigint, sum(%s)::text", column("orders"), column("revenue")), 1
	}
	upTo := "<"
	if readEnd {
		upTo = "<="
	}
	sql := fmt.Sprintf(`SELECT width_bucket(s.day, %s::date[]) - 1, s.currency, %s, sum(s.revenue)::text%s
		FROM order_daily_stats s
		WHERE s.day >= %s::date AND s.day %s %s::date AND %s
		GROUP BY 1, 2`,
		ps.add(c.anchors), statusColumns("sum(s.%s)::bigint"), cols, ps.add(c.anchors[0]), upTo, ps.add(last), scope("s", &ps))
	var (
		g                 int32
		currency, revenue string
		counts            = make([]int64, len(switchyard.OrderStatuses()))
	)
	head := []any{&g, &currency}
	for i := range counts {
		head = append(head, &counts[i])
	}
	head = append(head, &revenue)
	err := scanHourRows(ctx, tx, sql, ps, head, pairs, func(orders []int64, sums []string) {
		if int(g) < n {
			ct := totals.at(int(g), currency)
			for i, v := range counts {
				ct.byStatus[i] += v
			}
			ct.revenue.addText(revenue, 1)
		}
		if cut, ok := inPass[int(g)]; ok {
			totals.move(cut, currency, orders[0], sums[0])
		}
	})
	if err != nil || len(apart) == 0 {
		return err
	}

	// The hour columns the other cuts read, and where each is among them.
	place := map[int]int{}
	cols = ""
	for _, i := range own {
		if _, ok := place[c.hours[i]]; !ok {
			place[c.hours[i]] = len(place)
			cols += fmt.Sprintf(", sum(s.orders_h%02[1]d)::bigint, sum(s.revenue_h%02[1]d)::text", c.hours[i])
		}
	}
	ps = nil
	sql = fmt.Sprintf(`SELECT s.day, s.currency%s
		FROM order_daily_stats s
		WHERE s.day = ANY(%s::date[]) AND %s
		GROUP BY 1, 2`, cols, ps.add(days), scope("s", &ps))
	var day time.Time
	return scanHourRows(ctx, tx, sql, ps, []any{&day, &currency}, len(place), func(orders []int64, sums []string) {
		for _, cut := range apart[day.Unix()] {
			j := place[c.hours[cut]]
			totals.move(cut, currency, orders[j], sums[j])
		}
	})
}

// scanHourRows runs sql and scans each row into head, then pairs of an hour
// column's orders and revenue, which it hands to each.
func scanHourRows(ctx context.Context, tx pgx.Tx, sql string, ps params, head []any, pairs int, each func(orders []int64, sums []string)) error {
	rows, err := tx.Query(ctx, sql, ps...)
	if err != nil {
		return err
	}
	defer rows.Close()
	orders, sums := make([]int64, pairs), make([]string, pairs)
	dest := head
	for i := range orders {
		dest = append(dest, &orders[i], &sums[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		each(orders, sums)
	}
	return rows.Err()
}

// cutPlan is how a DAY, WEEK or MONTH series reads its buckets. Cut i is the
// start of bucket i (the range's from for the first, its to at the end), and
// F(t), everything created before t, is the rollup days before its anchor, a
// UTC midnight, plus hours[i] hour columns of the anchor's day, plus or minus
// the orders between that hour and the cut. Bucket i is F(cut i+1) - F(cut
// i): the days from anchor i to anchor i+1, and each cut's part counted in
// the bucket before it and against the bucket after it.
//
// A cut inside the range is anchored at the start of its UTC day and takes
// the whole hours up to the nearest hour from the hour columns, so only the
// orders of its last half hour at most (zones at :30 and :45) are read, and
// in zones of whole hours none. The range's own ends count per status in the
// totals, which the hour columns do not split, so they read their orders,
// up to twelve hours' worth, from the nearest midnight.
type cutPlan struct {
	anchors []time.Time // UTC midnights, by cut
	hours   []int       // by cut: the hour columns read, 0 to 23
	// The cuts whose orders are read: the orders in [lo, hi), counted with
	// signs[cut]: +1 when they lie before the cut, -1 after it.
	cuts   []int32
	lo, hi []time.Time
	signs  []int64 // by cut
}

func planCuts(r switchyard.AnalyticsRange, buckets []time.Time) cutPlan {
	n := len(buckets)
	c := cutPlan{anchors: make([]time.Time, n+1), hours: make([]int, n+1), signs: make([]int64, n+1)}
	at := func(i int) time.Time {
		switch {
		case i == 0:
			return r.From.UTC()
		case i < n:
			return buckets[i].UTC()
		}
		return r.To.UTC()
	}
	for i := 0; i <= n; i++ {
		t := at(i)
		day := utcDay(t)
		if i == 0 || i == n {
			if t.Sub(day) > 12*time.Hour {
				day = day.AddDate(0, 0, 1)
			}
			c.anchors[i] = day
			continue
		}
		h := int((t.Sub(day) + 30*time.Minute) / time.Hour)
		if h == 24 {
			day, h = day.AddDate(0, 0, 1), 0
		}
		c.anchors[i], c.hours[i] = day, h
	}
	// Anchors must not go back, or a bucket would hold negative days. Inner
	// anchors follow their cuts, and the last is the nearest midnight of a
	// later instant; only a range starting late in a UTC day, with the next
	// cut in the evening of the same day (Dubai's midnight is 20:00 UTC),
	// puts the first after the second. Then the second cut, too, reads its
	// orders up to the nearest midnight, the same as the first's.
	if n > 1 && c.anchors[0].After(c.anchors[1]) {
		c.anchors[1], c.hours[1] = utcDay(at(1).Add(12*time.Hour)), 0
	}
	if !slices.IsSortedFunc(c.anchors, func(a, b time.Time) int { return a.Compare(b) }) {
		// Not reached; the nearest midnights of increasing instants never go
		// back, at the cost of reading more orders.
		for i := range c.anchors {
			c.hours[i] = 0
			c.anchors[i] = utcDay(at(i).Add(12 * time.Hour))
		}
	}
	for i := 0; i <= n; i++ {
		from, t := c.anchors[i].Add(time.Duration(c.hours[i])*time.Hour), at(i)
		switch {
		case t.After(from):
			c.cuts, c.lo, c.hi = append(c.cuts, int32(i)), append(c.lo, from), append(c.hi, t)
			c.signs[i] = 1
		case t.Before(from):
			c.cuts, c.lo, c.hi = append(c.cuts, int32(i)), append(c.lo, t), append(c.hi, from)
			c.signs[i] = -1
		}
	}
	return c
}

// utcDay is the UTC midnight that starts t's UTC day.
func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// summarize fills a's counts, money and series from the bucket totals.
func summarize(a *switchyard.Analytics, q *switchyard.AnalyticsQuery, buckets []time.Time, totals bucketTotals) {
	statuses := switchyard.OrderStatuses()
	byStatus := make([]int64, len(statuses))
	type currencySum struct {
		orders, revenueOrders int64
		revenue               amount
	}
	currencies := map[string]*currencySum{}
	bucketOrders := make([]int64, len(buckets))
	for b, m := range totals {
		for code, ct := range m {
			cs := currencies[code]
			if cs == nil {
				cs = &currencySum{}
				currencies[code] = cs
			}
			for i, n := range ct.byStatus {
				byStatus[i] += n
				cs.orders += n
				bucketOrders[b] += n
				if statuses[i].CountsAsRevenue() {
					cs.revenueOrders += n
				}
			}
			bucketOrders[b] += ct.moved
			cs.revenue.add(&ct.revenue)
		}
	}

	// Rows of a day whose orders all moved elsewhere hold zero orders; such
	// a currency is not a currency of the range.
	var codes []string
	for code, cs := range currencies {
		if cs.orders > 0 {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)

	a.Revenue, a.AverageOrderValue = []switchyard.Money{}, []switchyard.Money{}
	scales := make([]int, len(codes))
	for j, code := range codes {
		cs := currencies[code]
		total := cs.revenue.rat()
		scales[j] = moneyScale(code, total)
		a.OrderCount += int(cs.orders)
		a.RevenueOrderCount += int(cs.revenueOrders)
		a.Revenue = append(a.Revenue, switchyard.Money{Amount: cs.revenue.decimal(scales[j]), Currency: code})
		if cs.revenueOrders > 0 {
			avg := new(big.Rat).Quo(total, new(big.Rat).SetInt64(cs.revenueOrders))
			a.AverageOrderValue = append(a.AverageOrderValue, switchyard.Money{Amount: switchyard.DecimalFromRat(avg, scales[j]), Currency: code})
		}
	}
	for i, st := range statuses {
		a.OrdersByStatus = append(a.OrdersByStatus, switchyard.OrderStatusCount{Status: st, Count: int(byStatus[i])})
	}
	a.Series = make([]switchyard.AnalyticsBucket, len(buckets))
	var zero amount
	for i, start := range buckets {
		end := q.BucketEnd(start)
		if i+1 < len(buckets) {
			end = buckets[i+1]
		}
		b := switchyard.AnalyticsBucket{Start: start, End: end, OrderCount: int(bucketOrders[i]), Revenue: make([]switchyard.Money, len(codes))}
		for j, code := range codes {
			rev := &zero
			if ct := totals[i][code]; ct != nil {
				rev = &ct.revenue
			}
			b.Revenue[j] = switchyard.Money{Amount: rev.decimal(scales[j]), Currency: code}
		}
		a.Series[i] = b
	}
}

// money formats a sum read as text with its currency's minor units; "" is
// zero.
func money(sum, currency string) switchyard.Money {
	if sum == "" {
		sum = "0"
	}
	d := switchyard.Decimal(sum)
	if n, ok := switchyard.CurrencyMinorUnits(currency); ok && d.Scale() != n {
		d = switchyard.DecimalFromRat(parseRat(sum), n)
	}
	return switchyard.Money{Amount: d, Currency: currency}
}

// moneyScale is the currency's minor units, or for a currency Switchyard does
// not list (rows written by hand) enough digits to show sum exactly, up to
// the six a Decimal holds.
func moneyScale(currency string, sum *big.Rat) int {
	if n, ok := switchyard.CurrencyMinorUnits(currency); ok {
		return n
	}
	for scale := 0; scale < 6; scale++ {
		if switchyard.DecimalFromRat(sum, scale).Rat().Cmp(sum) == 0 {
			return scale
		}
	}
	return 6
}

// parseRat reads numeric text from PostgreSQL; numeric output is always plain
// decimal text.
func parseRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// Top customers.
//
// The customers with the most orders in the range. A short range is counted
// from its orders. A long one would read most of the table, so it starts from
// order_customer_stats, each customer's orders in the projects at any time: an
// upper bound of their count in any range. Candidates are taken in order of
// that bound and counted exactly in the range; once the tenth best counted so
// far beats the bound of every candidate not counted yet, no one else can
// enter the list. When the range is a small part of the history that may not
// happen within maxCandidates; then the range's orders are counted after
// all.
type topTuning struct {
	// rawOrders is the range size, in orders, up to which the orders are
	// simply grouped.
	rawOrders int
	// maxCandidates bounds the candidates read from the upper bounds, and
	// batch how many are counted per statement.
	maxCandidates int
	batch         int
}

var defaultTopTuning = topTuning{rawOrders: 20_000, maxCandidates: 200, batch: 20}

type customerCount struct {
	id     string
	orders int64
}

// rankedBefore reports whether a ranks before b: more orders, then the lower
// id. Ids are lower-case uuid text, which sorts as PostgreSQL sorts uuids.
func rankedBefore(a, b customerCount) bool {
	if a.orders != b.orders {
		return a.orders > b.orders
	}
	return a.id < b.id
}

type customerRow struct {
	Customer string
	Currency string
	Orders   int64
	Revenue  *string
}

func (t topTuning) topCustomers(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, projects []string, scope scopeFunc, all bool, rangeOrders int) ([]switchyard.TopCustomer, error) {
	if rangeOrders > t.rawOrders {
		top, done, err := t.topByBounds(ctx, tx, q, projects, scope, all)
		if err != nil || done {
			return top, err
		}
	}
	var ps params
	rev := ps.add(revenueStatuses())
	sql := fmt.Sprintf(`WITH ranked AS (
			SELECT o.customer_id, count(*) AS n FROM orders o
			WHERE o.created_at >= %[1]s AND o.created_at < %[2]s AND %[3]s
			GROUP BY o.customer_id ORDER BY n DESC, o.customer_id LIMIT %[4]d
		)
		SELECT o.customer_id::text, o.currency, count(*), (sum(o.total) FILTER (WHERE o.status = ANY(%[5]s::text[])))::text
		FROM ranked r JOIN orders o ON o.customer_id = r.customer_id
		WHERE o.created_at >= %[1]s AND o.created_at < %[2]s AND %[3]s
		GROUP BY o.customer_id, o.currency`,
		ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps), switchyard.AnalyticsTopCustomers, rev)
	rows, err := queryAll(ctx, tx, sql, ps, pgx.RowToStructByPos[customerRow])
	if err != nil {
		return nil, err
	}
	return rankCustomers(rows), nil
}

// topByBounds finds the top customers from their upper bounds; done is false
// when the candidates ran out before the list was certain. all says that
// projects are every project there is.
func (t topTuning) topByBounds(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, projects []string, scope scopeFunc, all bool) ([]switchyard.TopCustomer, bool, error) {
	var sql string
	args := []any{projects}
	switch {
	case all:
		args = nil
		sql = fmt.Sprintf(`SELECT t.customer_id::text, t.orders FROM customer_order_totals t
			WHERE t.orders > 0 ORDER BY t.orders DESC, t.customer_id LIMIT %d`, t.maxCandidates)
	case len(projects) == 1:
		// Straight off the index, in rank order.
		args = []any{projects[0]}
		sql = fmt.Sprintf(`SELECT cs.customer_id::text, cs.orders FROM order_customer_stats cs
			WHERE cs.project_id = $1::uuid AND cs.orders > 0
			ORDER BY cs.orders DESC, cs.customer_id LIMIT %d`, t.maxCandidates)
	default:
		sql = fmt.Sprintf(`SELECT cs.customer_id::text, sum(cs.orders)::bigint AS n FROM order_customer_stats cs
			WHERE cs.project_id = ANY($1::uuid[]) GROUP BY cs.customer_id HAVING sum(cs.orders) > 0
			ORDER BY n DESC, cs.customer_id LIMIT %d`, t.maxCandidates)
	}
	candidates, err := queryAll(ctx, tx, sql, args, func(r pgx.CollectableRow) (customerCount, error) {
		var c customerCount
		err := r.Scan(&c.id, &c.orders)
		return c, err
	})
	if err != nil {
		return nil, false, err
	}
	var rows []customerRow
	for start := 0; start < len(candidates); start += t.batch {
		batch := candidates[start:min(start+t.batch, len(candidates))]
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.id
		}
		// One customer at a time, through the customer's index: their
		// orders are few, wherever they fall in the range.
		var ps params
		sql := fmt.Sprintf(`SELECT c.id::text, o.currency, count(*), (sum(o.total) FILTER (WHERE o.status = ANY(%s::text[])))::text
			FROM unnest(%s::uuid[]) AS c(id)
			JOIN LATERAL (
				SELECT o.currency, o.status, o.total FROM orders o
				WHERE o.customer_id = c.id AND o.created_at >= %s AND o.created_at < %s AND %s
			) o ON true
			GROUP BY c.id, o.currency`, ps.add(revenueStatuses()), ps.add(ids), ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps))
		got, err := queryAll(ctx, tx, sql, ps, pgx.RowToStructByPos[customerRow])
		if err != nil {
			return nil, false, err
		}
		rows = append(rows, got...)
		top := rankCustomers(rows)
		last := batch[len(batch)-1]
		if len(candidates) < t.maxCandidates && start+len(batch) == len(candidates) {
			// Every customer of these projects was counted.
			return top, true, nil
		}
		if len(top) == switchyard.AnalyticsTopCustomers {
			tenth := customerCount{id: top[len(top)-1].CustomerID, orders: int64(top[len(top)-1].OrderCount)}
			// No later candidate can rank before the tenth: even with all its
			// orders in the range it ranks after it.
			if !rankedBefore(last, tenth) {
				return top, true, nil
			}
		}
	}
	return nil, false, nil
}

// rankCustomers orders the counted customers and keeps the top ones, each
// with their revenue per currency.
func rankCustomers(rows []customerRow) []switchyard.TopCustomer {
	type acc struct {
		count  customerCount
		byCode map[string]*string
		codes  []string
	}
	by := map[string]*acc{}
	for _, r := range rows {
		a := by[r.Customer]
		if a == nil {
			a = &acc{count: customerCount{id: r.Customer}, byCode: map[string]*string{}}
			by[r.Customer] = a
		}
		a.count.orders += r.Orders
		a.byCode[r.Currency] = r.Revenue
		a.codes = append(a.codes, r.Currency)
	}
	list := make([]*acc, 0, len(by))
	for _, a := range by {
		if a.count.orders > 0 {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(x, y *acc) int {
		if rankedBefore(x.count, y.count) {
			return -1
		}
		if rankedBefore(y.count, x.count) {
			return 1
		}
		return 0
	})
	if len(list) > switchyard.AnalyticsTopCustomers {
		list = list[:switchyard.AnalyticsTopCustomers]
	}
	out := make([]switchyard.TopCustomer, len(list))
	for i, a := range list {
		slices.Sort(a.codes)
		tc := switchyard.TopCustomer{CustomerID: a.count.id, OrderCount: int(a.count.orders), Revenue: make([]switchyard.Money, len(a.codes))}
		for j, code := range a.codes {
			sum := ""
			if v := a.byCode[code]; v != nil {
				sum = *v
			}
			tc.Revenue[j] = money(sum, code)
		}
		out[i] = tc
	}
	return out
}

// latencyBounds are the upper bounds, in milliseconds, of the latency
// histogram of migration 0010's delivery rollups (latency_00 counts 0 ms,
// latency_50 everything past two minutes); the two lists must not drift
// apart. Past 6 ms a bound is at most a quarter above the latencies it holds.
var latencyBounds = []int32{0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250,
	300, 400, 500, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10_000, 12_000, 15_000,
	20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000, 120_000, math.MaxInt32}

// deliverySpans are the parts of a range that integrationHealth reads from
// each source: its whole UTC days from webhook_delivery_daily_stats, the whole
// UTC hours before and after them from webhook_delivery_hourly_stats, and the
// partial hours at either end from the deliveries. Empty spans have from ==
// to.
type deliverySpans struct {
	days  [2]time.Time
	hours [2][2]time.Time
	raw   [2][2]time.Time
}

func splitDeliveryRange(r switchyard.AnalyticsRange) deliverySpans {
	from, to := r.From.UTC(), r.To.UTC()
	h1, h2 := from.Truncate(time.Hour), to.Truncate(time.Hour)
	if h1.Before(from) {
		h1 = h1.Add(time.Hour)
	}
	if !h1.Before(h2) {
		// No whole hour: the deliveries themselves.
		return deliverySpans{days: [2]time.Time{from, from}, hours: [2][2]time.Time{{from, from}, {from, from}}, raw: [2][2]time.Time{{from, to}, {to, to}}}
	}
	d1, d2 := utcDay(from), utcDay(to)
	if d1.Before(from) {
		d1 = d1.AddDate(0, 0, 1)
	}
	if !d1.Before(d2) {
		// No whole day: hours, and the partial hours at either end.
		return deliverySpans{days: [2]time.Time{d1, d1}, hours: [2][2]time.Time{{h1, h2}, {h2, h2}}, raw: [2][2]time.Time{{from, h1}, {h2, to}}}
	}
	return deliverySpans{days: [2]time.Time{d1, d2}, hours: [2][2]time.Time{{h1, d1}, {d2, h2}}, raw: [2][2]time.Time{{from, h1}, {h2, to}}}
}

// integrationHealth sums up the deliveries in r of every integration in scope
// that c may read, in one statement whatever their number, from the rollups
// of migration 0010 and the deliveries of the range's partial hours (see
// deliverySpans): a year of a busy integration is a few hundred rows, not a
// million deliveries. Statuses count as in IntegrationService.IntegrationHealth:
// SUCCEEDED and IGNORED succeeded, FAILED and REJECTED failed, PENDING has
// not happened. The latest finished attempt is the first one going back from
// the range's end on the deliveries' (integration_id, created_at) index.
func integrationHealth(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, r switchyard.AnalyticsRange, scope scopeFunc) ([]switchyard.IntegrationDeliveryHealth, error) {
	sp := splitDeliveryRange(r)
	var ps params
	// The columns of both rollups, and the same counts of one delivery. The
	// union's columns take the rollup's names.
	cols := []string{"succeeded", "failed", "pending"}
	raw := []string{"(d.status IN ('SUCCEEDED', 'IGNORED'))::int", "(d.status IN ('FAILED', 'REJECTED'))::int", "(d.status = 'PENDING')::int"}
	for k := range latencyBounds {
		cols = append(cols, fmt.Sprintf("latency_%02d", k))
		raw = append(raw, fmt.Sprintf("(b.bucket = %d)::int", k))
	}
	sums := make([]string, len(cols))
	for k, col := range cols {
		sums[k] = fmt.Sprintf("coalesce(sum(u.%[1]s), 0)::bigint AS %[1]s", col)
	}
	rollup := "x." + strings.Join(cols, ", x.")
	span := func(column string, s [2]time.Time) string {
		return fmt.Sprintf("(%[1]s >= %[2]s AND %[1]s < %[3]s)", column, ps.add(s[0]), ps.add(s[1]))
	}
	sql := fmt.Sprintf(`SELECT i.id::text, i.status, i.consecutive_failures, %s, l.last
		FROM integrations i
		CROSS JOIN LATERAL (
			SELECT %s FROM (
				SELECT %s FROM webhook_delivery_daily_stats x
				WHERE x.integration_id = i.id AND x.day >= %s::date AND x.day < %s::date
				UNION ALL
				SELECT %s FROM webhook_delivery_hourly_stats x
				WHERE x.integration_id = i.id AND (%s OR %s)
				UNION ALL
				SELECT %s FROM webhook_deliveries d
				CROSS JOIN LATERAL (SELECT CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, %s::int[]) END AS bucket) b
				WHERE d.integration_id = i.id AND (%s OR %s)
			) u
		) h
		LEFT JOIN LATERAL (
			SELECT d.created_at AS last FROM webhook_deliveries d
			WHERE d.integration_id = i.id AND d.created_at >= %s AND d.created_at < %s AND d.status <> 'PENDING'
			ORDER BY d.created_at DESC LIMIT 1
		) l ON TRUE
		WHERE %s AND %s
		ORDER BY CASE i.criticality WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 WHEN 'MEDIUM' THEN 2 ELSE 3 END, i.name, i.id`,
		"h."+strings.Join(cols, ", h."), strings.Join(sums, ", "),
		rollup, ps.add(sp.days[0]), ps.add(sp.days[1]),
		rollup, span("x.hour", sp.hours[0]), span("x.hour", sp.hours[1]),
		strings.Join(raw, ", "), ps.add(latencyBounds), span("d.created_at", sp.raw[0]), span("d.created_at", sp.raw[1]),
		ps.add(r.From), ps.add(r.To), scope("i", &ps), canReadIntegration(c, "i", &ps))
	return queryAll(ctx, tx, sql, ps, func(row pgx.CollectableRow) (switchyard.IntegrationDeliveryHealth, error) {
		var h switchyard.IntegrationDeliveryHealth
		counts := make([]int64, len(cols))
		dest := []any{&h.IntegrationID, &h.Status, &h.ConsecutiveFailures}
		for k := range counts {
			dest = append(dest, &counts[k])
		}
		if err := row.Scan(append(dest, &h.LastDeliveryAt)...); err != nil {
			return h, err
		}
		h.Succeeded, h.Failed, h.Pending = int(counts[0]), int(counts[1]), int(counts[2])
		h.Attempted = h.Succeeded + h.Failed
		if h.Attempted > 0 {
			rate := float64(h.Succeeded) / float64(h.Attempted)
			h.SuccessRate = &rate
		}
		h.LatencyP50Ms = latencyPercentile(counts[3:], 50)
		h.LatencyP95Ms = latencyPercentile(counts[3:], 95)
		return h, nil
	})
}

// latencyPercentile is the nearest-rank pct-th percentile of the histogram
// (counts per latencyBounds bucket) as the upper bound of its bucket: the
// bound of the bucket holding the smallest latency with at least pct% of
// them at or below it. Nil for an empty histogram.
func latencyPercentile(counts []int64, pct int64) *int {
	var n int64
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		return nil
	}
	rank := (pct*n + 99) / 100 // ceil(pct% of n), at least 1
	var seen int64
	for k, c := range counts {
		if seen += c; seen >= rank {
			v := int(latencyBounds[k])
			return &v
		}
	}
	return nil
}
