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

	var scope scopeFunc
	if q.ProjectID != nil {
		id := strings.ToLower(*q.ProjectID)
		scope = func(alias string, ps *params) string {
			return alias + ".project_id = " + ps.add(id) + "::uuid"
		}
	} else {
		// The projects a member reads, not the orders: a customer's own
		// orders in someone else's project are not their business's numbers.
		scope = func(alias string, ps *params) string {
			return forCaller(c, ps, func(me string) string {
				return alias + ".project_id IN " + memberProjectIDs(me)
			})
		}
	}

	out := &switchyard.Analytics{Range: q.Range, Granularity: q.Granularity, TimeZone: q.TimeZone}
	err = pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if q.ProjectID != nil {
			var ps params
			var ok bool
			if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM projects p WHERE p.id = %s::uuid AND %s)`,
				ps.add(strings.ToLower(*q.ProjectID)), canReadProject(c, "p", &ps)), ps...).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return notFound
			}
		}
		rows, err := seriesRows(ctx, tx, &q, buckets, scope)
		if err != nil {
			return err
		}
		summarize(out, &q, buckets, rows)
		if q.SkipTopCustomers || out.OrderCount == 0 {
			out.TopCustomers = []switchyard.TopCustomer{}
			return nil
		}
		out.TopCustomers, err = s.top.topCustomers(ctx, tx, &q, scope, out.OrderCount)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// aggRow is one group of the series statement. Kind says which grouping set
// it belongs to: per bucket, currency and revenue flag; per status; or per
// currency and revenue flag over the whole range.
type aggRow struct {
	Kind     int
	Bucket   *int32
	Currency *string
	Status   *string
	Revenue  *bool
	Orders   int64
	Total    string
}

const (
	kindBucket   = 1
	kindStatus   = 2
	kindCurrency = 3
)

// aggregateSQL groups pieces (b, currency, status, n, t) into the three sets
// summarize reads.
const aggregateSQL = `SELECT GROUPING(b, status) AS kind, b, currency, status, rev, sum(n)::bigint, coalesce(sum(t), 0)::text
	FROM (SELECT b, currency, status, status = ANY(%s::text[]) AS rev, n, t FROM pieces) p
	GROUP BY GROUPING SETS ((b, currency, rev), (status), (currency, rev))`

// seriesRows reads the aggregates of q's range per bucket, status and
// currency in one statement.
func seriesRows(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, buckets []time.Time, scope scopeFunc) ([]aggRow, error) {
	if len(buckets) == 0 {
		return nil, nil
	}
	var ps params
	var sql string
	if q.Granularity == switchyard.GranularityHour {
		sql = fmt.Sprintf(`WITH pieces AS (
				SELECT width_bucket(o.created_at, %s::timestamptz[]) - 1 AS b, o.currency, o.status, 1::bigint AS n, o.total AS t
				FROM orders o
				WHERE o.created_at >= %s AND o.created_at < %s AND %s
			) `+aggregateSQL,
			ps.add(buckets), ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps), ps.add(revenueStatuses()))
	} else {
		e := planEdges(q.Range, buckets)
		sql = fmt.Sprintf(`WITH edge AS (
				SELECT x.cut, x.sign, o.currency, o.status, o.total
				FROM unnest(%s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[]) AS x(cut, sign, lo, hi)
				JOIN orders o ON o.created_at >= x.lo AND o.created_at < x.hi
				WHERE %s
			), pieces AS (
				SELECT width_bucket(s.day, %s::date[]) - 1 AS b, s.currency, s.status, s.orders AS n, s.total AS t
				FROM order_daily_stats s
				WHERE s.day >= %s::date AND s.day < %s::date AND %s
				UNION ALL
				SELECT f.b, e.currency, e.status, f.sign, f.sign * e.total
				FROM edge e CROSS JOIN LATERAL (VALUES (e.cut - 1, e.sign), (e.cut, -e.sign)) AS f(b, sign)
				WHERE f.b >= 0 AND f.b < %d
			) `+aggregateSQL,
			ps.add(e.cuts), ps.add(e.signs), ps.add(e.lo), ps.add(e.hi), scope("o", &ps),
			ps.add(e.anchors[:len(buckets)]), ps.add(e.anchors[0]), ps.add(e.anchors[len(buckets)]), scope("s", &ps),
			len(buckets), ps.add(revenueStatuses()))
	}
	return queryAll(ctx, tx, sql, ps, pgx.RowToStructByPos[aggRow])
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

// summarize fills a's counts, money and series from the grouped rows.
func summarize(a *switchyard.Analytics, q *switchyard.AnalyticsQuery, buckets []time.Time, rows []aggRow) {
	byStatus := map[switchyard.OrderStatus]int{}
	type currencyTotals struct {
		orders, revenueOrders int64
		revenue               string
	}
	currencies := map[string]*currencyTotals{}
	type bucketTotals struct {
		orders  int64
		revenue map[string]string
	}
	series := make([]bucketTotals, len(buckets))
	for _, r := range rows {
		switch r.Kind {
		case kindStatus:
			byStatus[switchyard.OrderStatus(*r.Status)] += int(r.Orders)
		case kindCurrency:
			ct := currencies[*r.Currency]
			if ct == nil {
				ct = &currencyTotals{}
				currencies[*r.Currency] = ct
			}
			ct.orders += r.Orders
			if *r.Revenue {
				ct.revenueOrders += r.Orders
				ct.revenue = r.Total
			}
		case kindBucket:
			b := &series[*r.Bucket]
			b.orders += r.Orders
			if *r.Revenue {
				if b.revenue == nil {
					b.revenue = map[string]string{}
				}
				b.revenue[*r.Currency] = r.Total
			}
		}
	}

	// A currency whose orders all moved to other rows leaves rows that sum to
	// zero orders; it is not a currency of the range.
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
		a.OrderCount += int(ct.orders)
		a.RevenueOrderCount += int(ct.revenueOrders)
		a.Revenue = append(a.Revenue, money(ct.revenue, code))
		if ct.revenueOrders > 0 {
			avg := new(big.Rat).Quo(parseRat(ct.revenue), new(big.Rat).SetInt64(ct.revenueOrders))
			a.AverageOrderValue = append(a.AverageOrderValue, switchyard.Money{Amount: switchyard.DecimalFromRat(avg, moneyScale(code, ct.revenue)), Currency: code})
		}
	}
	for _, st := range switchyard.OrderStatuses() {
		a.OrdersByStatus = append(a.OrdersByStatus, switchyard.OrderStatusCount{Status: st, Count: byStatus[st]})
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
	if scale := moneyScale(currency, sum); d.Scale() != scale {
		d = switchyard.DecimalFromRat(parseRat(sum), scale)
	}
	return switchyard.Money{Amount: d, Currency: currency}
}

// moneyScale is the currency's minor units, or for a currency Switchyard does
// not list (rows written by hand) the scale the sum was stored with.
func moneyScale(currency, sum string) int {
	if n, ok := switchyard.CurrencyMinorUnits(currency); ok {
		return n
	}
	return switchyard.Decimal(sum).Scale()
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

func (t topTuning) topCustomers(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, scope scopeFunc, rangeOrders int) ([]switchyard.TopCustomer, error) {
	if rangeOrders > t.rawOrders {
		top, done, err := t.topByBounds(ctx, tx, q, scope)
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
		WHERE o.created_at >= %[1]s AND o.created_at < %[2]s AND %[6]s
		GROUP BY o.customer_id, o.currency`,
		ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps), switchyard.AnalyticsTopCustomers, rev, scope("o", &ps))
	rows, err := queryAll(ctx, tx, sql, ps, pgx.RowToStructByPos[customerRow])
	if err != nil {
		return nil, err
	}
	return rankCustomers(rows), nil
}

// topByBounds finds the top customers from their upper bounds; done is false
// when the candidates ran out before the list was certain.
func (t topTuning) topByBounds(ctx context.Context, tx pgx.Tx, q *switchyard.AnalyticsQuery, scope scopeFunc) ([]switchyard.TopCustomer, bool, error) {
	var ps params
	sql := fmt.Sprintf(`SELECT cs.customer_id::text, sum(cs.orders)::bigint AS n FROM order_customer_stats cs
		WHERE %s GROUP BY cs.customer_id HAVING sum(cs.orders) > 0
		ORDER BY n DESC, cs.customer_id LIMIT %d`, scope("cs", &ps), t.maxCandidates)
	candidates, err := queryAll(ctx, tx, sql, ps, func(r pgx.CollectableRow) (customerCount, error) {
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
		var ps params
		sql := fmt.Sprintf(`SELECT o.customer_id::text, o.currency, count(*), (sum(o.total) FILTER (WHERE o.status = ANY(%s::text[])))::text
			FROM orders o
			WHERE o.customer_id = ANY(%s::uuid[]) AND o.created_at >= %s AND o.created_at < %s AND %s
			GROUP BY o.customer_id, o.currency`,
			ps.add(revenueStatuses()), ps.add(ids), ps.add(q.Range.From), ps.add(q.Range.To), scope("o", &ps))
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
