package postgres

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// AnalyticsService implements switchyard.AnalyticsService with aggregates over
// the rollups of migration 0006 and, where a bucket edge does not fall on a
// UTC midnight, over the orders themselves.
//
// How a bucket is summed: order_daily_stats holds whole UTC days. Every bucket
// edge t is tied to its nearest UTC midnight m(t), and F(t), the sum of
// everything before t, is the days before m(t) plus the orders between m(t)
// and t (added when t is after m(t), subtracted when before). A bucket [s, e)
// is F(e) - F(s): the days from m(s) to m(e), plus the edge of e, minus the
// edge of s. In UTC every edge is a midnight and only the range's own ends
// read orders; in Berlin each edge reads the hour between 23:00 and midnight
// UTC. Hourly buckets read the orders directly: a day's rollup cannot split
// them.
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
// the one asked for if c may read it (readable is false when not), else every
// project c reads. A member's are the projects they own or belong to, not those they
// only ordered in: a customer's orders are not their business's numbers.
func analysedProjects(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, projectID *string) (ids []string, readable bool, err error) {
	var ps params
	cond := canReadProject(c, "p", &ps)
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
		projects, readable, err := analysedProjects(ctx, tx, c, q.ProjectID)
		if err != nil {
			return err
		}
		if !readable {
			return notFound
		}
		var rows []bucketRow
		if len(projects) > 0 {
			if rows, err = seriesRows(ctx, tx, &q, buckets, projectScope(projects)); err != nil {
				return err
			}
		}
		summarize(out, &q, buckets, rows)
		out.TopCustomers = []switchyard.TopCustomer{}
		if q.SkipTopCustomers || out.OrderCount == 0 {
			return nil
		}
		// An admin's all is every project there is, so the totals over
		// every project bound it.
		all := c.IsAdmin() && q.ProjectID == nil
		out.TopCustomers, err = s.top.topCustomers(ctx, tx, &q, projects, all, out.OrderCount)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// bucketRow is what one bucket holds in one currency: every order, the
// orders per status (in OrderStatuses order), and the revenue.
type bucketRow struct {
	bucket   int32
	currency string
	orders   int64
	byStatus []int64
	revenue  string
}

func scanBucketRow(r pgx.CollectableRow) (bucketRow, error) {
	statuses := switchyard.OrderStatuses()
	b := bucketRow{byStatus: make([]int64, len(statuses))}
	dest := []any{&b.bucket, &b.currency, &b.orders}
	for i := range b.byStatus {
		dest = append(dest, &b.byStatus[i])
	}
	err := r.Scan(append(dest, &b.revenue)...)
	return b, err
}

// statusColumns lists format once per status, in OrderStatuses order, with
// %[1]s the status's column name in order_daily_stats (the status in lower
// case) and %[2]s the status.
func statusColumns(format string) string {
	var cols []string
	for _, st := range switchyard.OrderStatuses() {
		cols = append(cols, fmt.Sprintf(format, strings.ToLower(string(st)), st))
	}
	return strings.Join(cols, ", ")
}

// seriesRows reads what each bucket holds per currency, in one statement.
func seriesRows(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, buckets []time.Time, scope scopeFunc) ([]bucketRow, error) {
	if len(buckets) == 0 {
		return nil, nil
	}
	var ps params
	var sql string
	if q.Granularity == switchyard.GranularityHour {
		sql = fmt.Sprintf(`SELECT width_bucket(o.created_at, %s::timestamptz[]) - 1, o.currency, count(*), %s,
				coalesce(sum(o.total) FILTER (WHERE o.status = ANY(%s::text[])), 0)::text
			FROM orders o
			WHERE o.created_at >= %s AND o.created_at < %s AND %s
			GROUP BY 1, 2`,
			ps.add(buckets), statusColumns("count(*) FILTER (WHERE o.status = '%[2]s')"), ps.add(revenueStatuses()), ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps))
	} else {
		e := planEdges(q.Range, buckets)
		sql = fmt.Sprintf(`WITH edge AS (
				SELECT x.cut, x.sign, o.currency, count(*) AS orders, %[1]s,
					coalesce(sum(o.total) FILTER (WHERE o.status = ANY(%[2]s::text[])), 0) AS revenue
				FROM unnest(%[3]s::int[], %[4]s::int[], %[5]s::timestamptz[], %[6]s::timestamptz[]) AS x(cut, sign, lo, hi)
				JOIN orders o ON o.created_at >= x.lo AND o.created_at < x.hi
				WHERE %[7]s
				GROUP BY x.cut, x.sign, o.currency
			), pieces AS (
				SELECT width_bucket(s.day, %[8]s::date[]) - 1 AS b, s.currency, s.orders, %[9]s, s.revenue
				FROM order_daily_stats s
				WHERE s.day >= %[10]s::date AND s.day < %[11]s::date AND %[12]s
				UNION ALL
				SELECT f.b, e.currency, f.sign * e.orders, %[13]s, f.sign * e.revenue
				FROM edge e CROSS JOIN LATERAL (VALUES (e.cut - 1, e.sign), (e.cut, -e.sign)) AS f(b, sign)
				WHERE f.b >= 0 AND f.b < %[14]d
			)
			SELECT b, currency, sum(orders)::bigint, %[15]s, sum(revenue)::text FROM pieces GROUP BY b, currency`,
			statusColumns("count(*) FILTER (WHERE o.status = '%[2]s') AS %[1]s"), ps.add(revenueStatuses()),
			ps.add(e.cuts), ps.add(e.signs), ps.add(e.lo), ps.add(e.hi), scope("o", &ps),
			ps.add(e.anchors[:len(buckets)]), statusColumns("s.%[1]s"),
			ps.add(e.anchors[0]), ps.add(e.anchors[len(buckets)]), scope("s", &ps),
			statusColumns("f.sign * e.%[1]s"), len(buckets), statusColumns("sum(%[1]s)::bigint"))
	}
	return queryAll(ctx, tx, sql, ps, scanBucketRow)
}

// edges is how a DAY, WEEK or MONTH series reads its buckets: cut i is the
// start of bucket i (the range's from for the first, its to at the end),
// anchors[i] the UTC midnight nearest to it, and for each cut that is not a
// midnight the orders between the two, signed: +1 when the cut is after its
// anchor.
type edges struct {
	anchors []time.Time // UTC midnights, as dates
	cuts    []int32
	signs   []int32
	lo, hi  []time.Time
}

func planEdges(r switchyard.AnalyticsRange, buckets []time.Time) edges {
	var e edges
	n := len(buckets)
	for i := 0; i <= n; i++ {
		cut := r.To
		switch {
		case i == 0:
			cut = r.From
		case i < n:
			cut = buckets[i]
		}
		cut = cut.UTC()
		day := time.Date(cut.Year(), cut.Month(), cut.Day(), 0, 0, 0, 0, time.UTC)
		if cut.Sub(day) > 12*time.Hour {
			day = day.AddDate(0, 0, 1)
		}
		e.anchors = append(e.anchors, day)
		switch {
		case cut.After(day):
			e.cuts, e.signs, e.lo, e.hi = append(e.cuts, int32(i)), append(e.signs, 1), append(e.lo, day), append(e.hi, cut)
		case cut.Before(day):
			e.cuts, e.signs, e.lo, e.hi = append(e.cuts, int32(i)), append(e.signs, -1), append(e.lo, cut), append(e.hi, day)
		}
	}
	return e
}

// summarize fills a's counts, money and series from the bucket rows.
func summarize(a *switchyard.Analytics, q *switchyard.AnalyticsQuery, buckets []time.Time, rows []bucketRow) {
	statuses := switchyard.OrderStatuses()
	byStatus := make([]int64, len(statuses))
	type currencyTotals struct {
		orders, revenueOrders int64
		revenue               *big.Rat
	}
	currencies := map[string]*currencyTotals{}
	type bucketTotals struct {
		orders  int64
		revenue map[string]string
	}
	series := make([]bucketTotals, len(buckets))
	for _, r := range rows {
		ct := currencies[r.currency]
		if ct == nil {
			ct = &currencyTotals{revenue: new(big.Rat)}
			currencies[r.currency] = ct
		}
		ct.orders += r.orders
		for i, n := range r.byStatus {
			byStatus[i] += n
			if statuses[i].CountsAsRevenue() {
				ct.revenueOrders += n
			}
		}
		ct.revenue.Add(ct.revenue, parseRat(r.revenue))
		b := &series[r.bucket]
		b.orders += r.orders
		if b.revenue == nil {
			b.revenue = map[string]string{}
		}
		b.revenue[r.currency] = r.revenue
	}

	// Rows of a day whose orders all moved elsewhere sum to zero orders; such
	// a currency is not a currency of the range.
	var codes []string
	for code, ct := range currencies {
		if ct.orders > 0 {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)

	a.Revenue, a.AverageOrderValue = []switchyard.Money{}, []switchyard.Money{}
	for _, code := range codes {
		ct := currencies[code]
		scale := moneyScale(code, ct.revenue)
		a.OrderCount += int(ct.orders)
		a.RevenueOrderCount += int(ct.revenueOrders)
		a.Revenue = append(a.Revenue, switchyard.Money{Amount: switchyard.DecimalFromRat(ct.revenue, scale), Currency: code})
		if ct.revenueOrders > 0 {
			avg := new(big.Rat).Quo(ct.revenue, new(big.Rat).SetInt64(ct.revenueOrders))
			a.AverageOrderValue = append(a.AverageOrderValue, switchyard.Money{Amount: switchyard.DecimalFromRat(avg, scale), Currency: code})
		}
	}
	for i, st := range statuses {
		a.OrdersByStatus = append(a.OrdersByStatus, switchyard.OrderStatusCount{Status: st, Count: int(byStatus[i])})
	}
	a.Series = make([]switchyard.AnalyticsBucket, len(buckets))
	for i, start := range buckets {
		b := switchyard.AnalyticsBucket{Start: start, End: q.BucketEnd(start), OrderCount: int(series[i].orders), Revenue: make([]switchyard.Money, len(codes))}
		for j, code := range codes {
			b.Revenue[j] = money(series[i].revenue[code], code)
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

func (t topTuning) topCustomers(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, projects []string, all bool, rangeOrders int) ([]switchyard.TopCustomer, error) {
	if rangeOrders > t.rawOrders {
		top, done, err := t.topByBounds(ctx, tx, q, projects, all)
		if err != nil || done {
			return top, err
		}
	}
	scope := projectScope(projects)
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
func (t topTuning) topByBounds(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, projects []string, all bool) ([]switchyard.TopCustomer, bool, error) {
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
		got, err := queryAll(ctx, tx, `SELECT c.id::text, o.currency, count(*), (sum(o.total) FILTER (WHERE o.status = ANY($1::text[])))::text
			FROM unnest($2::uuid[]) AS c(id)
			JOIN LATERAL (
				SELECT o.currency, o.status, o.total FROM orders o
				WHERE o.customer_id = c.id AND o.created_at >= $3 AND o.created_at < $4 AND o.project_id = ANY($5::uuid[])
			) o ON true
			GROUP BY c.id, o.currency`,
			[]any{revenueStatuses(), ids, q.Range.From, q.Range.To, projects}, pgx.RowToStructByPos[customerRow])
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
